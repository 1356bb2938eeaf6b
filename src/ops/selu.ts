/**
 * Selu (Klambauer et al. 2017; ONNX Selu, Keras/tfjs selu, PyTorch SELU): y = γ·x for x > 0,
 * γ·α·(eˣ − 1) for x ≤ 0, with the self-normalising constants α ≈ 1.6733 and γ ≈ 1.0507 unless the node
 * gives its own (ONNX's attributes). Gradient (PyTorch's: the negative branch at 0): γ for x > 0,
 * γ·α·eˣ for x ≤ 0.
 *
 * NAFlow inverse: the damped diagonal rule of docs/spec.md §5 (unary.ts), j = f'(A_in); Selu saturates at −γα.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerUnary } from './unary.js';

/** PyTorch's and ONNX's defaults (Klambauer et al.). */
export const SELU_ALPHA = 1.6732632423543772;
export const SELU_GAMMA = 1.0507009873554805;

export interface SeluAttrs {
  alpha?: number;
  gamma?: number;
}

declare module '../ir/graph.js' {
  interface OpAttrMap {
    Selu: SeluAttrs;
  }
}

const constants = (attrs: SeluAttrs) => ({ alpha: attrs.alpha ?? SELU_ALPHA, gamma: attrs.gamma ?? SELU_GAMMA });

registerUnary('Selu', {
  fwd: (x, ctx) => {
    const { alpha, gamma } = constants(ctx.node.attrs);
    return tf.mul(tf.where(tf.greater(x, 0), x, tf.mul(tf.expm1(tf.minimum(x, 0)), alpha)), gamma);
  },
  dydx: (x, _y, ctx) => {
    const { alpha, gamma } = constants(ctx.node.attrs);
    return tf.where(tf.greater(x, 0), tf.fill(x.shape, gamma), tf.mul(tf.exp(tf.minimum(x, 0)), gamma * alpha));
  },
  inverse: 'diagonal',
  inverseRule: "damped diagonal rule, j = f'(x)",
});
