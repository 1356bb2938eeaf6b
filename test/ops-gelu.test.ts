/**
 * Gelu (exact and tanh-approximate) and Erf (src/ops/gelu.ts) against their closed forms in float64:
 * forward, VJP (vs f', tfjs autodiff and finite differences), and the damped diagonal inverse.
 */
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers/op-context.js';
import { checkUnaryOp } from './helpers/unary-op.js';

await useBackend('cpu');

/** erf by its Taylor series (float64; |x| ≤ 6 loses at most ~1e-9 to cancellation) */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const cdf = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
const K = Math.sqrt(2 / Math.PI);
const u = (x: number) => K * (x + 0.044715 * x ** 3);

test('Gelu (exact, the default): x·Φ(x), derivative Φ(x) + x·φ(x)', () => {
  checkUnaryOp({
    op: 'Gelu',
    attrs: {},
    f: (x) => x * cdf(x),
    df: (x) => cdf(x) + x * phi(x),
    ref: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1)),
  });
});

test('Gelu, approximate = tanh: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))', () => {
  checkUnaryOp({
    op: 'Gelu',
    attrs: { approximate: 'tanh' },
    f: (x) => 0.5 * x * (1 + Math.tanh(u(x))),
    df: (x) => 0.5 * (1 + Math.tanh(u(x))) + 0.5 * x * (1 - Math.tanh(u(x)) ** 2) * K * (1 + 3 * 0.044715 * x * x),
    ref: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), K)), 1)),
  });
});

test('Erf: derivative 2/√π·exp(−x²)', () => {
  checkUnaryOp({ op: 'Erf', attrs: {}, f: erf, df: (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x), ref: (x) => tf.erf(x), range: [-2.5, 2.5] });
});
