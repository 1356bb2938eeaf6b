/**
 * The per-op rule registry. Each op family lives in one file under src/ops/ and registers an
 * `OpRule` per op type: its forward, its vector–Jacobian product (gradient w.r.t. its activation
 * inputs), and (from the cascade issue on) its inverse. The engine and the cascade only ever look
 * rules up here, so adding an op never touches them.
 */
import type { ArrayOperator } from '../solve/lsmr.js';
import type { OnnxAttrs } from '../runtime/onnx-build.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { AnyNode, Graph, Node, Shape } from '../ir/graph.js';

/**
 * What a rule sees when it runs: the node, and access to the graph's constants. `O` is the op type:
 * `OpContext<'Conv'>`'s `node.attrs` is the `ConvAttrs` of the IR's `OpAttrMap`.
 */
export interface OpContext<O extends string = string> {
  node: Node<O>;
  graph: Graph;
  /** per-node prepared tensors (see OpRule.prepare), owned by the model */
  prepared: Record<string, tf.Tensor> | undefined;
}

export interface VjpArgs {
  /** the node's inputs at the recorded forward point (constants included, in input order) */
  inputs: tf.Tensor[];
  /** the node's outputs at the recorded forward point */
  outputs: tf.Tensor[];
  /** upstream gradient per output (null where that output receives none) */
  dys: Array<tf.Tensor | null>;
}

export interface JvpArgs {
  /** the node's inputs at the recorded forward point (constants included) */
  inputs: tf.Tensor[];
  outputs: tf.Tensor[];
  /** a tangent per input (null: zero tangent, e.g. for weights) */
  tangents: Array<tf.Tensor | null>;
}

/** Settings of the NAFlow inverse step (docs/spec.md §5). */
export interface InverseSettings {
  /** damping factor ρ: λ = ρ·σ_max(J) */
  rho: number;
  atol: number;
  btol: number;
  maxIter: number;
  /** power iterations for σ_max */
  powerIterations: number;
}

/** What a least-squares inverse step reports. */
export interface SolverStats {
  method: 'lsmr' | 'closed-form' | 'diagonal';
  iterations: number;
  /** ‖J d − r‖ / ‖r‖ reached (0 when r = 0) */
  relResidual: number;
  /** λ used */
  damping: number;
  sigmaMax: number;
  stop: string;
}

export interface InverseArgs {
  /** forward inputs and outputs at the recorded point */
  inputs: tf.Tensor[];
  outputs: tf.Tensor[];
  /** the back-propagated feature map (BPFM) of each output (null: none reached it) */
  bOut: Array<tf.Tensor | null>;
  settings: InverseSettings;
  /**
   * Per output, a 0/1 tensor: least-squares inverses fit the output only where it is 1 (the cascade's
   * variant abandon=free: abandoned outputs are left unconstrained). Absent or null: fit everywhere.
   */
  fitMask?: Array<tf.Tensor | null>;
}

export interface InverseResult {
  /** BPFM estimate per input (null: constants, or operands that give no estimate, e.g. a gate) */
  b: Array<tf.Tensor | null>;
  solver?: SolverStats;
}

/**
 * What an op's ONNX emitter sees when naflow compiles a whole forward + backward pass into one
 * onnxruntime graph (naflow/native-reference.ts). Values are ONNX value names. Rank-4 activations are
 * stored NCHW there (the layout onnxruntime's kernels take): the NHWC IR tensor transposed by
 * [0, 3, 1, 2]; every other value is stored as in the IR. Constants are not passed as values: an
 * emitter reads them with `constant` and adds initializers in the layout it needs.
 */
export interface OnnxEmitter {
  /** add a single-output node, return its output name */
  op(op: string, inputs: string[], attrs?: OnnxAttrs): string;
  /** add a node with several outputs */
  node(op: string, inputs: string[], attrs: OnnxAttrs, outputs: number): string[];
  float(data: Float32Array | number[], dims: number[]): string;
  int64(data: number[], dims?: number[]): string;
  /** memoise a value (e.g. a converted weight used by the forward and the VJP) under `key` */
  shared<T>(key: string, make: () => T): T;
  /** an IR constant by name (undefined for activations) */
  constant(name: string): tf.Tensor | undefined;
  /** a stored rank-4 value in IR (NHWC) order, and back (identity for other ranks) */
  toIR(value: string, rank: number): string;
  fromIR(value: string, rank: number): string;
}

export interface OnnxEmitArgs {
  /** per node input: its ONNX value name, or undefined for constants and absent inputs */
  ins: Array<string | undefined>;
  /** IR shapes (NHWC) of the node's inputs (constants included) and outputs */
  inShapes: Shape[];
  outShapes: Shape[];
}

export interface OnnxVjpArgs extends OnnxEmitArgs {
  outs: string[];
  /** upstream gradient per output, stored like the output (undefined: none) */
  dys: Array<string | undefined>;
}

/**
 * An op's forward and VJP as ONNX nodes. Either may throw `Unemittable` for a configuration it does not
 * cover (the caller then runs the per-op path). The VJP returns a gradient per input (undefined for
 * constants and inputs that get none), stored like that input.
 */
export interface OnnxRule<O extends string = string> {
  forward(e: OnnxEmitter, node: Node<O>, args: OnnxEmitArgs): string[];
  vjp(e: OnnxEmitter, node: Node<O>, args: OnnxVjpArgs): Array<string | undefined>;
}

/** Thrown by an ONNX emitter for a configuration it does not cover. */
export class Unemittable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unemittable';
  }
}

/**
 * Where an op sits in a CNN, as the model-structure helpers need to know it:
 * * 'trunk': the spatial feature extractor the cascade walks through and inverts (the default);
 * * 'head': may sit between the trunk's last spatial tensor and the class scores (global pooling,
 *   mean reductions, dense layers): the search for the trunk end walks back through it;
 * * 'layout': moves values without changing them (transpose, reshape, flatten, identity, dropout): the
 *   trunk-end search and the gate pass both look through it.
 */
export type OpPlace = 'trunk' | 'head' | 'layout';

/** A rectifier as the pixel-space methods see it: f'(x) = 1 for 0 < x (< max), `negativeSlope` for x ≤ 0. */
export interface Rectifier {
  negativeSlope: number;
  /** an upper bound above which the unit is cut off (Clip as Relu6) */
  max?: number;
}

/**
 * The op's roles, read by the code outside src/ops/ (model structure, the gate pass, the sanity check,
 * guided backprop) instead of lists of op names; an op that declares none is a plain trunk op.
 */
export interface OpRoles<O extends string = string> {
  place?: OpPlace;
  /** a weight layer: the input index of its weight (redrawn by the randomisation check when a constant) */
  weightInput?: number;
  /** a rectifier at this node (e.g. ReLU: slope 0; LeakyRelu: α), or undefined where this node is none */
  rectifier?: (node: Node<O>) => Rectifier | undefined;
  /** values in [0, 1] that scale another tensor (sigmoid-like): a Mul operand produced by one is a gate */
  gate?: boolean;
  /** turns scores into probabilities at a model's output: the explained score is its input */
  probabilities?: boolean;
}

export interface OpRule<O extends string = string> {
  op: O;
  /** One line for the generated op table (docs/ops.md): what its NAFlow inverse does, or why it has none. */
  inverseRule: string;
  roles?: OpRoles<O>;
  /**
   * Which inputs are differentiable activations. Default: every input that is not a graph constant.
   */
  activationInputs?: (node: Node<O>, graph: Graph) => number[];
  /**
   * Optional one-time preparation at load (pre-transposed weights, flipped kernels for the VJP,
   * batch-norm scale/shift). Tensors returned are owned and disposed by the model.
   */
  prepare?: (ctx: Omit<OpContext<O>, 'prepared'>) => Record<string, tf.Tensor>;
  /** Forward: inputs in node order (constants resolved), returns one tensor per node output. */
  forward: (inputs: tf.Tensor[], ctx: OpContext<O>) => tf.Tensor[];
  /**
   * Vector–Jacobian product at the recorded forward point: the gradient w.r.t. each input
   * (null for constants/non-differentiable inputs, or where it is identically zero).
   * Must not use tfjs' built-in gradient machinery (wasm lacks several backward kernels).
   */
  vjp?: (args: VjpArgs, ctx: OpContext<O>) => Array<tf.Tensor | null>;
  /**
   * Jacobian–vector product at the recorded forward point (the op linearised there, without bias).
   * Linear and piecewise-linear ops use it as `J v` in the matrix-free least-squares inverse.
   */
  jvp?: (args: JvpArgs, ctx: OpContext<O>) => tf.Tensor[];
  /**
   * Optional fast form of the linearisation for the least-squares inverse: `J v` and `Jᵀ u` on flat
   * float32 arrays (same element order as the tensors), e.g. through native kernels. Undefined when
   * not available for this node; the JVP/VJP pair is used then.
   */
  arrayOperator?: (args: Pick<InverseArgs, 'inputs' | 'outputs'>, ctx: OpContext<O>, inputIndex: number) => ArrayOperator | undefined;
  /** NAFlow inverse step (docs/spec.md §5): BPFM of the inputs from the BPFM of the outputs. */
  inverse?: (args: InverseArgs, ctx: OpContext<O>) => InverseResult;
  /** Optional: the forward and VJP as ONNX nodes, for whole-graph native execution. */
  onnx?: OnnxRule<O>;
  /**
   * Its place in the cascade's block units (variant unit=block): 'start' — an op linear in its first
   * input whose inverse is a least-squares solve (convolutions); 'pointwise' — a one-input elementwise
   * op (batch norm, activations) that a block linearises at the recorded point and solves through.
   */
  blockRole?: 'start' | 'pointwise';
  /** Optional static shape inference; the engine falls back to a dry run on zeros. */
  inferShape?: (inputShapes: Shape[], ctx: OpContext<O>) => Shape[];
  /** ops that only exist at load time (e.g. Shape) are folded and have no runtime rule */
}

const rules = new Map<string, OpRule>();

/**
 * Register a rule. `O` is inferred from `op`, so the rule's callbacks see the op's typed attributes; the
 * registry hands rules out as `OpRule<string>`, which is sound because a rule only ever runs on nodes
 * of its own op.
 */
export function registerOp<O extends string>(rule: { op: O } & Omit<OpRule<NoInfer<O>>, 'op'>): void {
  if (rules.has(rule.op)) throw new Error(`op rule '${rule.op}' registered twice`);
  rules.set(rule.op, rule as unknown as OpRule);
}

export function getOpRule(op: string): OpRule | undefined {
  return rules.get(op);
}

export function supportedOps(): string[] {
  return [...rules.keys()].sort();
}

/** The roles the rule for `op` declares (none for an op without a rule). */
export function rolesOf(op: string): OpRoles {
  return rules.get(op)?.roles ?? {};
}

/** Where op `op` sits ('trunk' unless its rule says otherwise). */
export function placeOf(op: string): OpPlace {
  return rolesOf(op).place ?? 'trunk';
}

/** The rectifier at this node (its negative-side slope and upper bound), or undefined where it is none. */
export function rectifierAt(node: AnyNode): Rectifier | undefined {
  return rolesOf(node.op).rectifier?.(node);
}

export function defaultActivationInputs(node: AnyNode, graph: Graph): number[] {
  return node.inputs.map((_, i) => i).filter((i) => node.inputs[i] !== '' && !graph.constants.has(node.inputs[i]));
}
