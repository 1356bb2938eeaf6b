/**
 * GELU (Hendrycks & Gimpel 2016; PyTorch nn.GELU, ONNX Gelu of opset 20) and the error function Erf.
 *
 * * Gelu, approximate 'none': y = x·Φ(x) = ½x·(1 + erf(x/√2)); y' = Φ(x) + x·φ(x).
 * * Gelu, approximate 'tanh': y = ½x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³);
 *   y' = ½(1 + tanh u) + ½x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²).
 * * Erf: y' = 2/√π·e^(−x²).
 *
 * A PyTorch export writes GELU as Div(√2) → Erf → Add(1) → Mul(x) → Mul(½) (or as the tanh formula);
 * the ONNX importer recognises those patterns as one Gelu node (src/import/onnx/patterns.ts), so a map
 * sits after the activation rather than after each of its arithmetic steps.
 *
 * NAFlow inverse: the damped diagonal rule of docs/spec.md §5 (unary.ts), j = f'(A_in). GELU is not
 * monotonic (its minimum is near x = −0.75) and flattens to 0 for negative x, so an exact inverse does
 * not exist; Erf saturates at ±1 as Tanh does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerUnary } from './unary.js';

export interface GeluAttrs {
  /** 'none' (the exact erf form, the default) or 'tanh' (the tanh approximation) */
  approximate?: 'none' | 'tanh';
}

declare module '../ir/graph.js' {
  interface OpAttrMap {
    Gelu: GeluAttrs;
    Erf: Record<string, never>;
  }
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const TANH_CUBIC = 0.044715;

/** tanh u of the tanh approximation */
const tanhU = (x: tf.Tensor) => tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), TANH_CUBIC)), SQRT_2_PI));

function gelu(x: tf.Tensor, approximate: GeluAttrs['approximate']): tf.Tensor {
  const half = tf.mul(x, 0.5);
  if (approximate === 'tanh') return tf.mul(half, tf.add(tanhU(x), 1));
  return tf.mul(half, tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1));
}

function geluDerivative(x: tf.Tensor, approximate: GeluAttrs['approximate']): tf.Tensor {
  if (approximate === 'tanh') {
    const t = tanhU(x);
    const du = tf.mul(tf.add(tf.mul(tf.square(x), 3 * TANH_CUBIC), 1), SQRT_2_PI);
    return tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(x, 0.5), tf.sub(1, tf.square(t))), du));
  }
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1), 0.5);
  const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), INV_SQRT_2PI);
  return tf.add(cdf, tf.mul(x, pdf));
}

const DIAGONAL = "damped diagonal rule, j = f'(x)";

registerUnary('Gelu', {
  fwd: (x, ctx) => gelu(x, ctx.node.attrs.approximate),
  dydx: (x, _y, ctx) => geluDerivative(x, ctx.node.attrs.approximate),
  inverse: 'diagonal',
  inverseRule: DIAGONAL,
});

registerUnary('Erf', {
  fwd: (x) => tf.erf(x),
  dydx: (x) => tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI)),
  inverse: 'diagonal',
  inverseRule: DIAGONAL,
});
