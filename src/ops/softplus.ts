/**
 * Softplus (ONNX Softplus, tfjs Softplus, PyTorch's with β = 1): y = log(1 + eˣ), computed stably by
 * tfjs (y = x above, eˣ below float32's resolution). Gradient: σ(x).
 *
 * NAFlow inverse: the damped diagonal rule of docs/spec.md §5 (unary.ts), j = σ(A_in). Softplus saturates at 0
 * on the negative side, where an exact inverse would explode.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerUnary } from './unary.js';

declare module '../ir/graph.js' {
  interface OpAttrMap {
    Softplus: Record<string, never>;
  }
}

registerUnary('Softplus', {
  fwd: (x) => tf.softplus(x),
  dydx: (x) => tf.sigmoid(x),
  inverse: 'diagonal',
  inverseRule: "damped diagonal rule, j = f'(x)",
});
