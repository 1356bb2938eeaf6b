/**
 * Conv (groups, depthwise with multiplier, dilation, stride, explicit pads, optional bias) and
 * ConvTranspose. Weights are graph constants and never get a gradient.
 *
 * NAFlow inverse (docs/spec.md §5): both are linear in their input, so the JVP is the op without its bias and
 * the inverse is the damped least-squares correction of `dampedCorrection` (matrix-free LSMR with
 * `J v` = this JVP and `Jᵀ u` = the VJP).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvAttrs, ConvTransposeAttrs, Shape } from '../ir/graph.js';
import { registerOp, type OpContext, type OpRule } from './registry.js';
import { dampedCorrection } from './least-squares.js';
import {
  bwdKernels,
  canSubPixel,
  convForward,
  convInputGrad,
  flipSwap,
  fwdKernels,
  subPixelConv,
  subPixelKernel,
  type ConvGeom,
  type Kernels,
} from './conv-core.js';
import { convAdjoint, convOnnxAttrs, nativeConvFor, toOIHW } from './conv-native.js';
import { activation, constInput, needRank } from './onnx-emit.js';
import { constOf, hasInput, padOrCrop2d, windowOut, zeroInsert2d } from './util.js';

const onlyInput0 = () => [0];

function weightShape(shapes: Shape[], ctx: OpContext): number[] {
  return shapes[1]?.length ? shapes[1] : (constOf(ctx, 1)?.shape ?? []);
}

/** conv(x, w) without bias: native where available and the weight is a graph constant, else tfjs. */
function linearConv(x: tf.Tensor4D, w: tf.Tensor4D, a: ConvAttrs, ctx: OpContext): tf.Tensor4D {
  const native = nativeConvFor(constOf(ctx, 1), a);
  return native ? native.forward(x) : convForward(x, w, a, ctx.prepared, 'f');
}

const convRule: OpRule<'Conv'> = {
  op: 'Conv',
  inverseRule: 'damped least squares, LSMR',
  roles: { weightInput: 1 },
  blockRole: 'start',
  activationInputs: onlyInput0,
  prepare: (ctx) => {
    const w = constOf(ctx, 1) as tf.Tensor4D | undefined;
    if (!w) return {};
    const a = ctx.node.attrs;
    const k: Kernels = { ...fwdKernels(w, a.group, 'f') };
    // the tfjs backward kernels are not needed where the native path computes the input gradient
    // (under withoutNative, convInputGrad derives them from the weight per call)
    if (nativeConvFor(w, a)) return k;
    Object.assign(k, bwdKernels(w, a.group, 'b'));
    if (canSubPixel(a.strides, a.dilations, a.group, w.shape)) {
      const [kH, kW] = w.shape;
      k.bsp = subPixelKernel(k.b0 as tf.Tensor4D, a.strides[0], [kH - 1 - a.pads[0], kW - 1 - a.pads[1]]);
    }
    return k;
  },
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    return [
      tf.tidy(() => {
        const y = linearConv(inputs[0] as tf.Tensor4D, inputs[1] as tf.Tensor4D, a, ctx);
        return hasInput(ctx, 2) ? tf.add(y, inputs[2]) : y;
      }),
    ];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const a = ctx.node.attrs;
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    const w = inputs[1] as tf.Tensor4D;
    const native = nativeConvFor(constOf(ctx, 1), a);
    const dx = native
      ? native.inputGrad(dy as tf.Tensor4D, inputs[0].shape)
      : convInputGrad(dy as tf.Tensor4D, inputs[0].shape, w.shape, a, ctx.prepared, 'b', w);
    return [dx, ...inputs.slice(1).map(() => null)];
  },
  // J v = the convolution of the tangent without bias (plus conv(x, t_w) + t_b should a weight carry one)
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const a = ctx.node.attrs;
    return [
      tf.tidy(() => {
        const [t, tw, tb] = tangents;
        let y = t ? linearConv(t as tf.Tensor4D, inputs[1] as tf.Tensor4D, a, ctx) : tf.zeros(outputs[0].shape);
        if (tw) y = tf.add(y, convForward(inputs[0] as tf.Tensor4D, tw as tf.Tensor4D, a));
        if (tb) y = tf.add(y, tb);
        return y;
      }),
    ];
  },
  arrayOperator: ({ inputs, outputs }, ctx, inputIndex) => {
    const native = inputIndex === 0 ? nativeConvFor(constOf(ctx, 1), ctx.node.attrs) : undefined;
    return native?.operator(inputs[0].shape, outputs[0].shape);
  },
  inverse: (args, ctx) => dampedCorrection(convRule, ctx, args, 0),
  onnx: {
    forward: (e, node, { ins, inShapes }) => {
      needRank(node, inShapes[0], 4);
      const w = constInput(e, node, 1);
      const [kH, kW, ig, O] = w.shape;
      const weight = e.shared(`${node.name}/oihw`, () => e.float(toOIHW(w.dataSync() as Float32Array, w.shape), [O, ig, kH, kW]));
      const inputs = [activation(node, ins, 0), weight];
      if (node.inputs[2]) inputs.push(e.float(constInput(e, node, 2).dataSync() as Float32Array, [O]));
      return [e.op('Conv', inputs, convOnnxAttrs(node.attrs))];
    },
    vjp: (e, node, { dys, inShapes }) => {
      const dy = dys[0];
      if (!dy) return [];
      const w = constInput(e, node, 1);
      const [, H, W] = inShapes[0];
      const a = convAdjoint(w.dataSync() as Float32Array, w.shape, node.attrs, H, W);
      // ConvTranspose reads the forward weight as is
      const weight = a.op === 'ConvTranspose' ? e.shared(`${node.name}/oihw`, () => e.float(a.weight, a.wDims)) : e.float(a.weight, a.wDims);
      return [e.op(a.op, [dy, weight], a.attrs)];
    },
  },
  inferShape: (shapes, ctx) => {
    const a = ctx.node.attrs;
    const [n, h, w] = shapes[0];
    const [kH, kW, , co] = weightShape(shapes, ctx);
    const [pt, pl, pb, pr] = a.pads;
    return [[n, windowOut(h, kH, a.strides[0], a.dilations[0], pt, pb), windowOut(w, kW, a.strides[1], a.dilations[1], pl, pr), co]];
  },
};
registerOp(convRule);

/** The forward-conv kernel of a transposed conv: per group, flipped with in/out swapped → [kH,kW,Cin/g,Cout]. */
function transposedKernel(w: tf.Tensor4D, group: number): tf.Tensor4D {
  if (group === 1) return flipSwap(w);
  return tf.tidy(() => {
    const [kH, kW, cog, ci] = w.shape;
    const cig = ci / group;
    const parts = Array.from({ length: group }, (_, j) => flipSwap(tf.slice(w, [0, 0, 0, j * cig], [kH, kW, cog, cig])));
    return tf.concat(parts, 3);
  });
}

/** ConvTranspose = stride-1 conv of the zero-inserted input with the transposed kernel. */
function geomT(a: ConvTransposeAttrs, wShape: number[]): { pads: [number, number, number, number]; conv: ConvGeom } {
  const [kH, kW] = wShape;
  const eH = (kH - 1) * a.dilations[0] + 1,
    eW = (kW - 1) * a.dilations[1] + 1;
  const [pt, pl, pb, pr] = a.pads;
  const [oh, ow] = a.outputPadding;
  // [top, bottom, left, right]
  const pads: [number, number, number, number] = [eH - 1 - pt, eH - 1 - pb + oh, eW - 1 - pl, eW - 1 - pr + ow];
  return { pads, conv: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: a.dilations, group: a.group } };
}

function convTransposeKernels(w: tf.Tensor4D, a: ConvTransposeAttrs, subPixel: boolean): Kernels {
  const k = transposedKernel(w, a.group);
  const out: Kernels = { k, ...fwdKernels(k, a.group, 'f'), ...fwdKernels(w, a.group, 'v') };
  if (subPixel && canSubPixel(a.strides, a.dilations, a.group, w.shape)) {
    const { pads } = geomT(a, w.shape);
    out.tsp = subPixelKernel(k, a.strides[0], [pads[0], pads[2]]);
  }
  return out;
}

function convTransposeOut(xShape: number[], wShape: number[], a: ConvTransposeAttrs): [number, number] {
  const o = (i: number, k: number, ax: 0 | 1, pA: number, pB: number) =>
    i < 0 ? -1 : (i - 1) * a.strides[ax] - pA - pB + (k - 1) * a.dilations[ax] + 1 + a.outputPadding[ax];
  return [o(xShape[1], wShape[0], 0, a.pads[0], a.pads[2]), o(xShape[2], wShape[1], 1, a.pads[1], a.pads[3])];
}

/** The transposed convolution of x without bias. */
function convTransposeLinear(x: tf.Tensor4D, w: tf.Tensor4D, a: ConvTransposeAttrs, prepared: Kernels | undefined): tf.Tensor4D {
  return tf.tidy(() => {
    const kk = prepared?.k ? prepared : convTransposeKernels(w, a, false);
    const { pads, conv } = geomT(a, w.shape);
    return kk.tsp
      ? subPixelConv(x, kk.tsp as tf.Tensor4D, w.shape, a.strides[0], [pads[0], pads[2]], convTransposeOut(x.shape, w.shape, a))
      : convForward(padOrCrop2d(zeroInsert2d(x, a.strides), pads), kk.k as tf.Tensor4D, conv, kk, 'f');
  });
}

const convTransposeRule: OpRule<'ConvTranspose'> = {
  blockRole: 'start',
  op: 'ConvTranspose',
  inverseRule: 'damped least squares, LSMR',
  roles: { weightInput: 1 },
  activationInputs: onlyInput0,
  prepare: (ctx) => {
    const w = constOf(ctx, 1) as tf.Tensor4D | undefined;
    return w ? convTransposeKernels(w, ctx.node.attrs, true) : {};
  },
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    return [
      tf.tidy(() => {
        const y = convTransposeLinear(inputs[0] as tf.Tensor4D, inputs[1] as tf.Tensor4D, a, ctx.prepared);
        return hasInput(ctx, 2) ? tf.add(y, inputs[2]) : y;
      }),
    ];
  },
  // The adjoint of a transposed conv is the conv with the same weight read as HWIO (I = Cout/g, O = Cin).
  vjp: ({ inputs, dys }, ctx) => {
    const a = ctx.node.attrs;
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    const dx = tf.tidy(() => {
      const x = inputs[0];
      const g: ConvGeom = { strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group };
      const full = convForward(dy as tf.Tensor4D, inputs[1] as tf.Tensor4D, g, ctx.prepared, 'v');
      if (full.shape[1] === x.shape[1] && full.shape[2] === x.shape[2]) return full;
      return tf.slice(full, [0, 0, 0, 0], x.shape);
    });
    return [dx, ...inputs.slice(1).map(() => null)];
  },
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const a = ctx.node.attrs;
    return [
      tf.tidy(() => {
        const [t, tw, tb] = tangents;
        let y = t ? convTransposeLinear(t as tf.Tensor4D, inputs[1] as tf.Tensor4D, a, ctx.prepared) : tf.zeros(outputs[0].shape);
        if (tw) y = tf.add(y, convTransposeLinear(inputs[0] as tf.Tensor4D, tw as tf.Tensor4D, a, undefined));
        if (tb) y = tf.add(y, tb);
        return y;
      }),
    ];
  },
  inverse: (args, ctx) => dampedCorrection(convTransposeRule, ctx, args, 0),
  inferShape: (shapes, ctx) => {
    const a = ctx.node.attrs;
    const [n, h, w] = shapes[0];
    const ws = weightShape(shapes, ctx);
    const [oh, ow] = convTransposeOut([n, h, w], ws, a);
    return [[n, oh, ow, ws[2] * a.group]];
  },
};
registerOp(convTransposeRule);
