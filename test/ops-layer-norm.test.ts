/**
 * LayerNormalization (src/ops/layer-norm.ts) against float64 closed forms: the forward over the last
 * axis and over the last two axes, the VJP (tfjs autodiff and finite differences), the JVP against
 * central differences of the forward, and the exact inverse: B_in mapped forward with the recorded
 * mean and deviation gives B_out, B_out = A_out gives A_in, a zero γ keeps the forward input.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, checkVjp, makeContext, uniform, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

const SHAPE = [2, 3, 4, 5];
const SETTINGS = { rho: 0.5, atol: 0, btol: 0, maxIter: 0, powerIterations: 0 };

/** Float64 layer norm of v (shape SHAPE) over the trailing `size` elements of each group, with stats. */
function layerNorm64(v: ArrayLike<number>, size: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number) {
  const y = new Float64Array(v.length);
  const mean = new Float64Array(v.length / size);
  const dev = new Float64Array(v.length / size);
  for (let g = 0; g < v.length / size; g++) {
    let m = 0;
    for (let k = 0; k < size; k++) m += v[g * size + k];
    m /= size;
    let s2 = 0;
    for (let k = 0; k < size; k++) s2 += (v[g * size + k] - m) ** 2;
    const s = Math.sqrt(s2 / size + eps);
    mean[g] = m;
    dev[g] = s;
    for (let k = 0; k < size; k++) y[g * size + k] = ((v[g * size + k] - m) / s) * gamma[k] + beta[k];
  }
  return { y, mean, dev };
}

for (const axis of [3, 2]) {
  const size = SHAPE.slice(axis).reduce((p, d) => p * d, 1);
  const paramShape = SHAPE.slice(axis);
  test(`LayerNormalization over storage axes [${axis}, 4): forward, VJP, JVP, exact inverse`, () => {
    const xv = uniform(SHAPE, 21, -2, 3);
    const gv = uniform(paramShape, 22, 0.5, 1.5);
    gv[1] = 0; // a zero scale: the inverse keeps the forward input there
    const bv = uniform(paramShape, 23, -0.5, 0.5);
    const [x, gamma, beta] = [tf.tensor(xv, SHAPE), tf.tensor(gv, paramShape), tf.tensor(bv, paramShape)];
    const attrs = { axis, epsilon: 1e-5 };
    const h = makeContext('LayerNormalization', attrs, [x, gamma, beta], [false, true, true]);
    try {
      const want = layerNorm64(xv, size, gv, bv, 1e-5);
      const [y] = h.rule.forward([x, gamma, beta], h.ctx);
      assertClose(y.dataSync(), want.y, 1e-6, 1e-6, 'forward');

      checkVjp({ op: 'LayerNormalization', attrs, inputs: [x, gamma, beta], isConst: [false, true, true], fd: { eps: 1e-2, tol: 2e-2, n: 12 } });

      const tv = uniform(SHAPE, 24);
      const t = tf.tensor(tv, SHAPE);
      const [jt] = h.rule.jvp!({ inputs: [x, gamma, beta], outputs: [y], tangents: [t, null, null] }, h.ctx);
      const e = 1e-3;
      const plus = layerNorm64(
        Array.from(xv, (v, i) => v + e * tv[i]),
        size,
        gv,
        bv,
        1e-5,
      ).y;
      const minus = layerNorm64(
        Array.from(xv, (v, i) => v - e * tv[i]),
        size,
        gv,
        bv,
        1e-5,
      ).y;
      assertClose(
        jt.dataSync(),
        Array.from(plus, (p, i) => (p - minus[i]) / (2 * e)),
        1e-4,
        1e-5,
        'jvp vs central differences',
      );

      const bOut = tf.tensor(uniform(SHAPE, 25, -2, 2), SHAPE);
      const res = h.rule.inverse!({ inputs: [x, gamma, beta], outputs: [y], bOut: [bOut, null], settings: SETTINGS }, h.ctx);
      const bIn = res.b[0]!.dataSync();
      const bo = bOut.dataSync();
      // forward again with the recorded statistics: (B_in − μ)/s·γ + β must give B_out (where γ ≠ 0)
      const refit = Array.from(bIn, (b, i) => {
        const g = Math.floor(i / size);
        const k = i % size;
        return gv[k] === 0 ? bo[i] : ((b - want.mean[g]) / want.dev[g]) * gv[k] + bv[k];
      });
      assertClose(refit, bo, 1e-5, 1e-5, 'inverse maps back onto B_out with the recorded μ, s');
      for (let i = 1; i < bIn.length; i += size) assert.equal(bIn[i], xv[i], 'γ = 0: the forward input is kept');
      assert.equal(res.b[1], null);
      const same = h.rule.inverse!({ inputs: [x, gamma, beta], outputs: [y], bOut: [y], settings: SETTINGS }, h.ctx);
      assert.deepEqual(Array.from(same.b[0]!.dataSync()), Array.from(xv), 'B_out = A_out gives A_in');
      tf.dispose([y, t, jt, bOut, ...res.b.filter((b): b is tf.Tensor => b !== null), ...same.b.filter((b): b is tf.Tensor => b !== null)]);
    } finally {
      h.dispose();
      tf.dispose([x, gamma, beta]);
    }
  });
}

test('LayerNormalization without γ and β (the decomposed pattern with no affine)', () => {
  const xv = uniform([1, 2, 2, 6], 31, -1, 1);
  const x = tf.tensor(xv, [1, 2, 2, 6]);
  const h = makeContext('LayerNormalization', { axis: 3, epsilon: 1e-6 }, [x]);
  const [y] = h.rule.forward([x], h.ctx);
  assertClose(y.dataSync(), layerNorm64(xv, 6, new Array(6).fill(1), new Array(6).fill(0), 1e-6).y, 1e-6, 1e-6, 'forward');
  checkVjp({ op: 'LayerNormalization', attrs: { axis: 3, epsilon: 1e-6 }, inputs: [x] });
  tf.dispose([x, y]);
  h.dispose();
});
