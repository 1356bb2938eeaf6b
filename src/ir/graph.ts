/**
 * naflow's graph IR: a small, typed, importer-independent description of a CNN.
 *
 * Layout: every rank-4 activation is stored **NHWC** (batch, height, width, channels), the layout the
 * tfjs kernels are fast in. Importers convert (ONNX is NCHW; they insert explicit Transpose nodes where
 * an op depends on the memory order, e.g. Flatten/Reshape of a 4-D tensor, and remap the axes of
 * axis-dependent ops). Op rules therefore see plain tensors and plain axes: they never think about layout.
 *
 * Weights are graph constants (`Graph.constants`), referenced by name from `Node.inputs` exactly like
 * activations. Constant layouts are fixed per op (documented on each attribute type below).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../util/errors.js';

export type DType = 'float32' | 'int32';
/** A static shape; -1 marks an unknown dimension (only the batch dimension may be unknown). */
export type Shape = number[];

export interface ValueInfo {
  name: string;
  shape: Shape;
  dtype: DType;
}

/** Attribute shapes of the canonical ops. Importers must produce exactly these. */
export interface ConvAttrs {
  /** [strideH, strideW] */
  strides: [number, number];
  /** explicit padding [top, left, bottom, right] (importers resolve SAME/VALID/auto_pad) */
  pads: [number, number, number, number];
  /** [dilationH, dilationW] */
  dilations: [number, number];
  /**
   * Number of groups. Weight constant (input 1) is HWIO: [kH, kW, Cin/group, Cout].
   * group === Cin with Cin/group === 1 is a depthwise conv (channel multiplier Cout/Cin).
   */
  group: number;
}
export interface ConvTransposeAttrs {
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
  /** extra size added to the bottom/right of the output, [h, w] */
  outputPadding: [number, number];
  /** weight constant is [kH, kW, Cout/group, Cin] (tfjs conv2dTranspose filter order) */
}
export interface PoolAttrs {
  kernel: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right]; ceil_mode is resolved by the importer into extra bottom/right padding */
  pads: [number, number, number, number];
  dilations: [number, number];
  /** AveragePool only: whether padded cells count in the divisor */
  countIncludePad: boolean;
}
export interface BatchNormAttrs {
  epsilon: number;
  /** inputs: [x, scale, bias, mean, var]; the per-channel constants apply to the LAST axis */
}
export interface LeakyReluAttrs {
  alpha: number;
}
export interface ClipAttrs {
  min: number;
  max: number;
}
export interface HardSigmoidAttrs {
  alpha: number;
  beta: number;
}
export interface AxisAttrs {
  axis: number;
}
export interface ReduceAttrs {
  axes: number[];
  keepDims: boolean;
}
export interface GemmAttrs {
  /**
   * Dense layer y = alpha·x·W + beta·b with x [N, in]; the weight constant (input 1) is stored
   * [in, out] (pre-transposed by the importer: tfjs' transposeB matmul is 5-8x slower in wasm).
   */
  alpha: number;
  beta: number;
}
export interface ReshapeAttrs {
  shape: Shape;
}
export interface TransposeAttrs {
  perm: number[];
}
export interface SliceAttrs {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
}
export interface PadAttrs {
  /** per axis [before, after] */
  pads: Array<[number, number]>;
  mode: 'constant' | 'reflect' | 'edge';
  value: number;
}
export interface ResizeAttrs {
  /** output spatial size [H, W] of the NHWC tensor */
  size: [number, number];
  mode: 'nearest' | 'bilinear';
  /** ONNX coordinate_transformation_mode 'align_corners' */
  alignCorners: boolean;
  /** ONNX 'half_pixel' / 'pytorch_half_pixel' (true) vs 'asymmetric' (false) */
  halfPixelCenters: boolean;
}

export interface OpAttrMap {
  Conv: ConvAttrs;
  ConvTranspose: ConvTransposeAttrs;
  BatchNormalization: BatchNormAttrs;
  Relu: Record<string, never>;
  LeakyRelu: LeakyReluAttrs;
  PRelu: Record<string, never>;
  Clip: ClipAttrs;
  Sigmoid: Record<string, never>;
  HardSigmoid: HardSigmoidAttrs;
  HardSwish: Record<string, never>;
  Tanh: Record<string, never>;
  Add: Record<string, never>;
  Sub: Record<string, never>;
  Mul: Record<string, never>;
  Div: Record<string, never>;
  Concat: AxisAttrs;
  MaxPool: PoolAttrs;
  AveragePool: PoolAttrs;
  /** NHWC in, [N,1,1,C] out */
  GlobalAveragePool: Record<string, never>;
  GlobalMaxPool: Record<string, never>;
  ReduceMean: ReduceAttrs;
  Gemm: GemmAttrs;
  /** general matmul of two tensors (a constant B is stored as is) */
  MatMul: Record<string, never>;
  /** 2-D result [prod(dims < axis), prod(dims >= axis)] in the tensor's own memory order */
  Flatten: AxisAttrs;
  Reshape: ReshapeAttrs;
  Transpose: TransposeAttrs;
  Slice: SliceAttrs;
  Pad: PadAttrs;
  Resize: ResizeAttrs;
  Dropout: Record<string, never>;
  Identity: Record<string, never>;
  Softmax: AxisAttrs;
}
export type OpType = keyof OpAttrMap;

export interface Node<O extends string = string> {
  /** unique, human-readable (the importer's layer or node name) */
  name: string;
  op: O;
  /** names of activations or constants */
  inputs: string[];
  outputs: string[];
  attrs: O extends OpType ? OpAttrMap[O] : Record<string, unknown>;
  /** the op name in the source format (e.g. 'Conv2D', 'LeakyReLU', 'Conv'), for messages */
  sourceOp?: string;
  /** Mul only: the operand that is a gate (set by the gate pass, ops/gate-pass.ts) */
  gate?: 0 | 1;
}
export type AnyNode = Node<string>;

export interface Graph {
  /** model-format name, e.g. 'onnx', 'tfjs-layers', 'tfjs-graph' */
  format: string;
  /** where it was loaded from, for error messages */
  source: string;
  inputs: ValueInfo[];
  outputs: string[];
  /** topologically sorted */
  nodes: AnyNode[];
  /** weights and folded constants, by name */
  constants: Map<string, tf.Tensor>;
  /** shape/dtype of every activation (filled by shape inference) */
  values: Map<string, ValueInfo>;
}

export class GraphError extends InputError {}

/** Index helpers used by the engine and the importers. */
export function producerMap(g: Graph): Map<string, AnyNode> {
  const m = new Map<string, AnyNode>();
  for (const n of g.nodes) for (const o of n.outputs) m.set(o, n);
  return m;
}

export function consumerMap(g: Graph): Map<string, AnyNode[]> {
  const m = new Map<string, AnyNode[]>();
  for (const n of g.nodes)
    for (const i of n.inputs) {
      if (g.constants.has(i)) continue;
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  return m;
}

/**
 * Sort nodes topologically (stable w.r.t. the given order; '' inputs are absent optional inputs).
 * Throws on cycles or dangling inputs, describing the first stuck node with `stuck`.
 */
export function topoSort<N extends { inputs: string[]; outputs: string[] }>(
  nodes: N[],
  available: Set<string>,
  stuck: (node: N, missing: string[]) => string,
): N[] {
  const ready = new Set(available);
  const pending = [...nodes];
  const out: N[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const n = pending[i];
      if (n.inputs.every((x) => x === '' || ready.has(x))) {
        out.push(n);
        for (const o of n.outputs) ready.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const n = pending[0];
      throw new GraphError(
        stuck(
          n,
          n.inputs.filter((x) => x !== '' && !ready.has(x)),
        ),
      );
    }
  }
  return out;
}

export function paramCount(g: Graph, n: AnyNode): number {
  let c = 0;
  for (const i of n.inputs) {
    const t = g.constants.get(i);
    if (t) c += t.size;
  }
  return c;
}
