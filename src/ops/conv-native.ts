/**
 * The Conv rule's native fast path (see runtime/native.ts): the convolution without bias and its input
 * gradient (the transposed convolution) as one-operator onnxruntime models over NHWC data, built once
 * per weight and input size. Geometry as in conv-core.ts (HWIO weights, pads [top, left, bottom, right]).
 *
 * The input gradient is a plain convolution with the flipped, in/out-swapped kernel where the stride
 * is 1 (onnxruntime's Conv is ~1.3× faster than its ConvTranspose) and ConvTranspose otherwise, with
 * output_padding chosen so that the result has exactly the forward input's size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NativeSession, nativeAvailable, nativeCacheOwnerOf } from '../runtime/native.js';
import { OnnxGraphBuilder, type OnnxAttrs } from '../runtime/onnx-build.js';
import type { ConvGeom } from './conv-core.js';
import type { ArrayOperator } from '../solve/lsmr.js';

type Ints = number[];

/** NHWC in → Transpose → `op` → Transpose → NHWC out, with the weight as an initializer. */
function oneOpModel(op: 'Conv' | 'ConvTranspose', weight: Float32Array, wDims: Ints, attributes: OnnxAttrs, inDims: [number, number, number]): Uint8Array {
  const b = new OnnxGraphBuilder();
  const x = b.input('x', [-1, ...inDims]);
  const xNchw = b.op('Transpose', [x], { perm: { ints: [0, 3, 1, 2] } });
  const yNchw = b.op(op, [xNchw, b.float(weight, wDims, 'w')], attributes);
  const [y] = b.node('Transpose', [yNchw], { perm: { ints: [0, 2, 3, 1] } }, ['y']);
  b.output(y);
  return b.encode('naflow_conv');
}

/** HWIO [kH, kW, I/g, O] → OIHW [O, I/g, kH, kW]. */
export function toOIHW(hwio: Float32Array, [kH, kW, ig, O]: Ints): Float32Array {
  const out = new Float32Array(hwio.length);
  for (let y = 0; y < kH; y++)
    for (let x = 0; x < kW; x++)
      for (let i = 0; i < ig; i++) for (let o = 0; o < O; o++) out[((o * ig + i) * kH + y) * kW + x] = hwio[((y * kW + x) * ig + i) * O + o];
  return out;
}

/** The adjoint of a stride-1 grouped conv as a conv: [I, O/g, kH, kW], spatially flipped, per group swapped. */
export function adjointOIHW(hwio: Float32Array, [kH, kW, ig, O]: Ints, group: number): Float32Array {
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

export function outSize(i: number, k: number, s: number, d: number, pa: number, pb: number): number {
  return Math.floor((i + pa + pb - ((k - 1) * d + 1)) / s) + 1;
}

/** ONNX Conv attributes of a geometry (pads [top, left, bottom, right] is ONNX's order too). */
export function convOnnxAttrs(g: ConvGeom): OnnxAttrs {
  return { strides: { ints: g.strides }, pads: { ints: g.pads }, dilations: { ints: g.dilations }, group: { i: g.group } };
}

/**
 * The input gradient of conv(·, w) back to an H×W input as one ONNX op over NCHW data: a Conv with the
 * flipped, in/out-swapped kernel at stride 1, else ConvTranspose with output_padding giving exactly H×W.
 */
export function convAdjoint(
  hwio: Float32Array,
  wShape: Ints,
  g: ConvGeom,
  H: number,
  W: number,
): { op: 'Conv' | 'ConvTranspose'; weight: Float32Array; wDims: Ints; attrs: OnnxAttrs } {
  const [kH, kW, ig, O] = wShape;
  const eH = (kH - 1) * g.dilations[0] + 1,
    eW = (kW - 1) * g.dilations[1] + 1;
  const [pt, pl, pb, pr] = g.pads;
  const flipPads = [eH - 1 - pt, eW - 1 - pl, eH - 1 - pb, eW - 1 - pr];
  if (g.strides[0] === 1 && g.strides[1] === 1 && flipPads.every((p) => p >= 0))
    return {
      op: 'Conv',
      weight: adjointOIHW(hwio, wShape, g.group),
      wDims: [ig * g.group, O / g.group, kH, kW],
      attrs: { pads: { ints: flipPads }, dilations: { ints: g.dilations }, group: { i: g.group } },
    };
  // ConvTranspose's weight is (C_in, C_out/group, kH, kW) = the forward OIHW weight read as is
  const rh = (H + pt + pb - eH) % g.strides[0],
    rw = (W + pl + pr - eW) % g.strides[1];
  return { op: 'ConvTranspose', weight: toOIHW(hwio, wShape), wDims: [O, ig, kH, kW], attrs: { ...convOnnxAttrs(g), output_padding: { ints: [rh, rw] } } };
}

/** Native convolution of one constant weight; sessions per input size are created on first use. */
export class NativeConv {
  private readonly sessions = new Map<string, NativeSession>();
  private readonly hwio: Float32Array;
  constructor(
    weight: tf.Tensor4D,
    private readonly geom: ConvGeom,
  ) {
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
    return this.session(`f${H}x${W}`, () => oneOpModel('Conv', toOIHW(this.hwio, this.wShape), [O, ig, kH, kW], convOnnxAttrs(this.geom), [H, W, C]));
  }

  /** The session of the input gradient (transposed conv) back to inputs of H×W×C. */
  private gradSession(H: number, W: number, _C: number): NativeSession {
    const [oh, ow] = this.outHW(H, W);
    return this.session(`b${H}x${W}`, () => {
      const a = convAdjoint(this.hwio, this.wShape, this.geom, H, W);
      return oneOpModel(a.op, a.weight, a.wDims, a.attrs, [oh, ow, this.wShape[3]]);
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
  if (weight?.rank !== 4 || weight.isDisposed || !nativeAvailable()) return undefined;
  let perGeom = byWeight.get(weight);
  if (!perGeom) {
    byWeight.set(weight, (perGeom = new Map()));
    nativeCacheOwnerOf(weight)?.onDispose(() => releaseNativeConv(weight));
  }
  const key = JSON.stringify(geom);
  let c = perGeom.get(key);
  if (!c) perGeom.set(key, (c = new NativeConv(weight as tf.Tensor4D, geom)));
  return c;
}

/** Free the native sessions of a weight (registered with the weight's Model, run when it is disposed). */
export function releaseNativeConv(weight: tf.Tensor): void {
  for (const c of byWeight.get(weight)?.values() ?? []) c.dispose();
  byWeight.delete(weight);
}
