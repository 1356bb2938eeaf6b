/**
 * Elu (Clevert et al. 2016; ONNX Elu, Keras/tfjs ELU): y = x for x > 0, α·(eˣ − 1) for x ≤ 0, α
 * default 1. Gradient (PyTorch's: the negative branch at 0): 1 for x > 0, α·eˣ for x ≤ 0.
 *
 * NAFlow inverse: the damped diagonal rule of docs/spec.md §5 (unary.ts), j = f'(A_in). Elu saturates at −α,
 * where an exact inverse would explode, as Sigmoid and Tanh do.
 *
 * This file is the template for a new activation: its attributes (added to the IR's OpAttrMap here),
 * one `registerUnary` call, a line in src/ops/index.ts, and a test (test/ops-elu.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerUnary } from './unary.js';

export interface EluAttrs {
  /** the negative-side scale (default 1) */
  alpha?: number;
}

declare module '../ir/graph.js' {
  interface OpAttrMap {
    Elu: EluAttrs;
  }
}

registerUnary('Elu', {
  // min(x, 0) keeps the discarded branch finite for large x
  fwd: (x, ctx) => tf.where(tf.greater(x, 0), x, tf.mul(tf.expm1(tf.minimum(x, 0)), ctx.node.attrs.alpha ?? 1)),
  dydx: (x, _y, ctx) => tf.where(tf.greater(x, 0), tf.onesLike(x), tf.mul(tf.exp(tf.minimum(x, 0)), ctx.node.attrs.alpha ?? 1)),
  inverse: 'diagonal',
  inverseRule: "damped diagonal rule, j = f'(x)",
});
