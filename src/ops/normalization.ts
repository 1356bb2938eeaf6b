/**
 * BatchNormalization (inference) as a per-channel affine map y = x·a + b on the last axis, with
 * a = γ/√(var+ε) and b = β − μ·a prepared once: tfjs' batchNorm gradient is slow on wasm, and the
 * affine form is trivially invertible.
 *
 * NAFlow inverse (docs/spec.md §5): exact, B_in = A_in + (B_out − A_out)/a per channel (= (B_out − b)/a, written
 * as a correction so that B_out = A_out gives A_in bit for bit); a channel with |a| < 1e-12 (γ = 0)
 * keeps its forward input.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerOp, type OpContext } from './registry.js';
import { sameShape } from './util.js';
import { activation, channelConst, constInput } from './onnx-emit.js';
import type { OnnxEmitter } from './registry.js';
import type { Node } from '../ir/graph.js';

/** The scale a and shift b as per-channel ONNX constants shaped for a stored value of `rank`. */
function onnxScaleShift(e: OnnxEmitter, node: Node<'BatchNormalization'>, rank: number): { a: string; b: string } {
  return e.shared(`${node.name}/affine${rank}`, () => {
    const consts = [1, 2, 3, 4].map((i) => constInput(e, node, i));
    const { a, b } = scaleShift([consts[0], ...consts], node.attrs.epsilon);
    const names = { a: channelConst(e, a.dataSync() as Float32Array, rank), b: channelConst(e, b.dataSync() as Float32Array, rank) };
    a.dispose();
    b.dispose();
    return names;
  });
}
/** A channel whose scale is below this keeps its forward input in the inverse. */
const MIN_SCALE = 1e-12;

function scaleShift(inputs: tf.Tensor[], eps: number): { a: tf.Tensor; b: tf.Tensor } {
  const [, gamma, beta, mean, variance] = inputs;
  return tf.tidy(() => {
    const a = tf.div(gamma, tf.sqrt(tf.add(variance, eps)));
    return { a, b: tf.sub(beta, tf.mul(mean, a)) };
  });
}

function prepared(inputs: tf.Tensor[], ctx: OpContext<'BatchNormalization'>): { a: tf.Tensor; b: tf.Tensor } {
  const p = ctx.prepared;
  return p?.a && p?.b ? { a: p.a, b: p.b } : scaleShift(inputs, ctx.node.attrs.epsilon);
}

registerOp({
  blockRole: 'pointwise',
  op: 'BatchNormalization',
  inverseRule: 'exact per-channel affine inverse',
  activationInputs: () => [0],
  prepare: (ctx) => {
    const consts = ctx.node.inputs.slice(1, 5).map((n) => ctx.graph.constants.get(n));
    const out: Record<string, tf.Tensor> = {};
    if (consts.some((c) => !c)) return out;
    const { a, b } = scaleShift([consts[0]!, ...(consts as tf.Tensor[])], ctx.node.attrs.epsilon);
    out.a = a;
    out.b = b;
    return out;
  },
  forward: (inputs, ctx) => [
    tf.tidy(() => {
      const { a, b } = prepared(inputs, ctx);
      return tf.add(tf.mul(inputs[0], a), b);
    }),
  ],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    const dx = dy ? tf.tidy(() => tf.mul(dy, prepared(inputs, ctx).a)) : null;
    return [dx, null, null, null, null];
  },
  jvp: ({ inputs, outputs, tangents }, ctx) => [tf.tidy(() => (tangents[0] ? tf.mul(tangents[0], prepared(inputs, ctx).a) : tf.zeros(outputs[0].shape)))],
  // the same affine form (not ONNX BatchNormalization) so both paths round alike
  onnx: {
    forward: (e, node, { ins, inShapes }) => {
      const { a, b } = onnxScaleShift(e, node, inShapes[0].length);
      return [e.op('Add', [e.op('Mul', [activation(node, ins, 0), a]), b])];
    },
    vjp: (e, node, { dys, inShapes }) => (dys[0] ? [e.op('Mul', [dys[0], onnxScaleShift(e, node, inShapes[0].length).a])] : []),
  },
  inverse: ({ inputs, outputs, bOut }, ctx) => {
    const bo = bOut[0];
    const b: Array<tf.Tensor | null> = inputs.map(() => null);
    if (!bo) return { b };
    b[0] = tf.tidy(() => {
      const { a } = prepared(inputs, ctx);
      const ok = tf.greaterEqual(tf.abs(a), MIN_SCALE);
      const safe = tf.where(ok, a, tf.onesLike(a));
      const step = tf.div(tf.sub(bo, outputs[0]), safe);
      return tf.add(inputs[0], tf.mul(step, tf.cast(ok, 'float32')));
    });
    return { b };
  },
  inferShape: sameShape,
});
