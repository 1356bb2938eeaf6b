/**
 * The Conv rule's native fast path (see engine/native.ts): the convolution without bias and its input
 * gradient (the transposed convolution) as one-operator onnxruntime models over NHWC data, built once
 * per weight and input size. Geometry as in conv-core.ts (HWIO weights, pads [top, left, bottom, right]).
 *
 * The input gradient is a plain convolution with the flipped, in/out-swapped kernel where the stride
 * is 1 (onnxruntime's Conv is ~1.3× faster than its ConvTranspose) and ConvTranspose otherwise, with
 * output_padding chosen so that the result has exactly the forward input's size.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { NativeSession, nativeAvailable } from '../engine/native.js';
import type { ConvGeom } from './conv-core.js';
import type { ArrayOperator } from '../solve/lsmr.js';

const require = createRequire(import.meta.url);
// onnx-proto is CommonJS (protobufjs static module)
const { onnx } = require('onnx-proto') as typeof import('onnx-proto');

type Ints = number[];

function attrInts(name: string, ints: Ints): import('onnx-proto').onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}
function attrInt(name: string, i: number): import('onnx-proto').onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

function valueInfo(name: string, dims: Array<number | string>): import('onnx-proto').onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

/** NHWC in → Transpose → `op` → Transpose → NHWC out, with the weight as an initializer. */
function oneOpModel(
  op: 'Conv' | 'ConvTranspose', weight: Float32Array, wDims: Ints, attributes: import('onnx-proto').onnx.IAttributeProto[],
  inDims: [number, number, number], outDims: [number, number, number],
): Uint8Array {
  const graph: import('onnx-proto').onnx.IGraphProto = {
    name: 'naflow_conv',
    node: [
      { opType: 'Transpose', input: ['x'], output: ['x_nchw'], attribute: [attrInts('perm', [0, 3, 1, 2])] },
      { opType: op, input: ['x_nchw', 'w'], output: ['y_nchw'], attribute: attributes },
      { opType: 'Transpose', input: ['y_nchw'], output: ['y'], attribute: [attrInts('perm', [0, 2, 3, 1])] },
    ],
    initializer: [{ name: 'w', dims: wDims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(weight.buffer, weight.byteOffset, weight.byteLength) }],
    input: [valueInfo('x', ['N', ...inDims])],
    output: [valueInfo('y', ['N', ...outDims])],
  };
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}

/** HWIO [kH, kW, I/g, O] → OIHW [O, I/g, kH, kW]. */
function toOIHW(hwio: Float32Array, [kH, kW, ig, O]: Ints): Float32Array {
  const out = new Float32Array(hwio.length);
  for (let y = 0; y < kH; y++)
    for (let x = 0; x < kW; x++)
      for (let i = 0; i < ig; i++)
        for (let o = 0; o < O; o++) out[((o * ig + i) * kH + y) * kW + x] = hwio[((y * kW + x) * ig + i) * O + o];
  return out;
}

/** The adjoint of a stride-1 grouped conv as a conv: [I, O/g, kH, kW], spatially flipped, per group swapped. */
function adjointOIHW(hwio: Float32Array, [kH, kW, ig, O]: Ints, group: number): Float32Array {
  const og = O / group;
  const out = new Float32Array(hwio.length);
  for (let j = 0; j < group; j++)
    for (let il = 0; il < ig; il++)
      for (let ol = 0; ol < og; ol++)
        for (let y = 0; y < kH; y++)
          for (let x = 0; x < kW; x++)
            out[(((j * ig + il) * og + ol) * kH + y) * kW + x] = hwio[(((kH - 1 - y) * kW + (kW - 1 - x)) * ig + il) * O + j * og + ol];
  return out;
}

function outSize(i: number, k: number, s: number, d: number, pa: number, pb: number): number {
  return Math.floor((i + pa + pb - ((k - 1) * d + 1)) / s) + 1;
}

/** Native convolution of one constant weight; sessions per input size are created on first use. */
export class NativeConv {
  private readonly sessions = new Map<string, NativeSession>();
  private readonly hwio: Float32Array;
  constructor(weight: tf.Tensor4D, private readonly geom: ConvGeom) {
    this.hwio = weight.dataSync() as Float32Array;
    this.wShape = weight.shape;
  }
  private readonly wShape: Ints;

  private session(key: string, make: () => Uint8Array): NativeSession {
    let s = this.sessions.get(key);
    if (!s) this.sessions.set(key, (s = new NativeSession(make(), 'x', 'y')));
    return s;
  }

  private run(s: NativeSession, x: tf.Tensor, outShape: Ints): tf.Tensor4D {
    return tf.tensor4d(s.run(x.dataSync() as Float32Array, x.shape).data, outShape as [number, number, number, number]);
  }

  private outHW(H: number, W: number): [number, number] {
    const [kH, kW] = this.wShape;
    const g = this.geom;
    return [outSize(H, kH, g.strides[0], g.dilations[0], g.pads[0], g.pads[2]), outSize(W, kW, g.strides[1], g.dilations[1], g.pads[1], g.pads[3])];
  }

  /** The session of conv(·, w) without bias for inputs of H×W×C. */
  private forwardSession(H: number, W: number, C: number): NativeSession {
    const [kH, kW, ig, O] = this.wShape;
    const g = this.geom;
    const [oh, ow] = this.outHW(H, W);
    return this.session(`f${H}x${W}`, () =>
      oneOpModel('Conv', toOIHW(this.hwio, this.wShape), [O, ig, kH, kW], [
        attrInts('strides', g.strides), attrInts('pads', g.pads), attrInts('dilations', g.dilations), attrInt('group', g.group),
      ], [H, W, C], [oh, ow, O]));
  }

  /** The session of the input gradient (transposed conv) back to inputs of H×W×C. */
  private gradSession(H: number, W: number, C: number): NativeSession {
    const [kH, kW, ig, O] = this.wShape;
    const g = this.geom;
    const [oh, ow] = this.outHW(H, W);
    const eH = (kH - 1) * g.dilations[0] + 1, eW = (kW - 1) * g.dilations[1] + 1;
    const [pt, pl, pb, pr] = g.pads;
    const flipPads = [eH - 1 - pt, eW - 1 - pl, eH - 1 - pb, eW - 1 - pr];
    const unitStride = g.strides[0] === 1 && g.strides[1] === 1;
    return this.session(`b${H}x${W}`, () => {
      if (unitStride && flipPads.every((p) => p >= 0))
        return oneOpModel('Conv', adjointOIHW(this.hwio, this.wShape, g.group), [C, O / g.group, kH, kW], [
          attrInts('pads', flipPads), attrInts('dilations', g.dilations), attrInt('group', g.group),
        ], [oh, ow, O], [H, W, C]);
      // ConvTranspose's weight is (C_in, C_out/group, kH, kW) = the forward OIHW weight read as is
      const rh = (H + pt + pb - eH) % g.strides[0], rw = (W + pl + pr - eW) % g.strides[1];
      return oneOpModel('ConvTranspose', toOIHW(this.hwio, this.wShape), [O, ig, kH, kW], [
        attrInts('strides', g.strides), attrInts('pads', g.pads), attrInts('dilations', g.dilations), attrInt('group', g.group),
        attrInts('output_padding', [rh, rw]),
      ], [oh, ow, O], [H, W, C]);
    });
  }

  /** conv(x, w) without bias, x NHWC. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [n, H, W, C] = x.shape;
    const [oh, ow] = this.outHW(H, W);
    return this.run(this.forwardSession(H, W, C), x, [n, oh, ow, this.wShape[3]]);
  }

  /** dx for y = conv(x, w), dy NHWC, x of shape xShape. */
  inputGrad(dy: tf.Tensor4D, xShape: Ints): tf.Tensor4D {
    const [, H, W, C] = xShape;
    return this.run(this.gradSession(H, W, C), dy, [dy.shape[0], H, W, C]);
  }

  /** J and Jᵀ on flat NHWC arrays for inputs of xShape (for LSMR without tensors). */
  operator(xShape: Ints, yShape: Ints): ArrayOperator {
    const [, H, W, C] = xShape;
    const fwd = this.forwardSession(H, W, C);
    const bwd = this.gradSession(H, W, C);
    return { apply: (v) => fwd.run(v, xShape).data, applyT: (u) => bwd.run(u, yShape).data };
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}

const byWeight = new WeakMap<tf.Tensor, Map<string, NativeConv>>();

/**
 * The native convolution for a constant weight, or undefined where native kernels are unavailable or
 * the geometry is one they do not take (it never throws for an unusual geometry: tfjs takes over).
 */
export function nativeConvFor(weight: tf.Tensor | undefined, geom: ConvGeom): NativeConv | undefined {
  if (!weight || weight.rank !== 4 || weight.isDisposed || !nativeAvailable()) return undefined;
  let perGeom = byWeight.get(weight);
  if (!perGeom) byWeight.set(weight, (perGeom = new Map()));
  const key = JSON.stringify(geom);
  let c = perGeom.get(key);
  if (!c) perGeom.set(key, (c = new NativeConv(weight as tf.Tensor4D, geom)));
  return c;
}

/** Free the native sessions of a weight (Model.dispose). */
export function releaseNativeConv(weight: tf.Tensor): void {
  for (const c of byWeight.get(weight)?.values() ?? []) c.dispose();
  byWeight.delete(weight);
}
