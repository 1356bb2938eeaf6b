/**
 * Pointwise activations, Softmax and BatchNormalization on the cpu backend.
 * Forward vs closed forms in plain JS (max abs diff ≤ 1e-6 relative to the values). VJP vs tf.grads of
 * a tfjs reference (rtol 1e-4) and central finite differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|));
 * inputs are kept ≥ 0.02 away from every kink so neither check straddles one. The kink values
 * themselves are pinned separately (PyTorch's choices).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, awayFrom, checkVjp, makeContext, rand, runForward, uniform, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

const SHAPE = [2, 3, 3, 4];

interface Case {
  op: string;
  attrs?: object;
  kinks?: number[];
  range?: [number, number];
  f: (x: number) => number;
  ref: (x: tf.Tensor) => tf.Tensor;
}

const hsig = (x: number, a: number, b: number) => Math.max(0, Math.min(1, a * x + b));
const cases: Case[] = [
  { op: 'Relu', kinks: [0], f: (x) => Math.max(0, x), ref: (x) => tf.relu(x) },
  { op: 'LeakyRelu', attrs: { alpha: 0.1 }, kinks: [0], f: (x) => (x > 0 ? x : 0.1 * x), ref: (x) => tf.leakyRelu(x, 0.1) },
  { op: 'Clip', attrs: { min: 0, max: 6 }, kinks: [0, 6], range: [-3, 9], f: (x) => Math.min(6, Math.max(0, x)), ref: (x) => tf.clipByValue(x, 0, 6) },
  { op: 'Clip', attrs: { min: -Infinity, max: 0.5 }, kinks: [0.5], f: (x) => Math.min(0.5, x), ref: (x) => tf.minimum(x, 0.5) },
  { op: 'Sigmoid', range: [-4, 4], f: (x) => 1 / (1 + Math.exp(-x)), ref: (x) => tf.sigmoid(x) },
  { op: 'Tanh', range: [-3, 3], f: Math.tanh, ref: (x) => tf.tanh(x) },
  {
    op: 'HardSigmoid',
    attrs: { alpha: 0.2, beta: 0.5 },
    kinks: [-2.5, 2.5],
    range: [-4, 4],
    f: (x) => hsig(x, 0.2, 0.5),
    ref: (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1),
  },
  { op: 'HardSwish', kinks: [-3, 3], range: [-5, 5], f: (x) => x * hsig(x, 1 / 6, 0.5), ref: (x) => tf.div(tf.mul(x, tf.relu6(tf.add(x, 3))), 6) },
];

for (const c of cases) {
  test(`${c.op} ${JSON.stringify(c.attrs ?? {})}: forward closed form, vjp vs autodiff and finite differences`, () => {
    const [lo, hi] = c.range ?? [-2, 2];
    const v = awayFrom(uniform(SHAPE, 1, lo, hi), c.kinks ?? [], 0.02);
    const x = tf.tensor(v, SHAPE);
    const [y] = runForward(c.op, c.attrs ?? {}, [x]);
    assert.deepEqual(y.shape, SHAPE);
    assertClose(y.data, Array.from(v, c.f), 1e-6, 1e-7, 'forward');
    checkVjp({ op: c.op, attrs: c.attrs ?? {}, inputs: [x], ref: c.ref });
    const h = makeContext(c.op, c.attrs ?? {}, [x]);
    assert.deepEqual(h.rule.inferShape!([[-1, 3, 3, 4]], h.ctx), [[-1, 3, 3, 4]]);
    h.dispose();
    x.dispose();
  });
}

function gradAt(op: string, attrs: object, xs: number[]): number[] {
  const x = tf.tensor1d(xs);
  const h = makeContext(op, attrs, [x]);
  const [y] = h.rule.forward([x], h.ctx);
  const dy = tf.onesLike(y);
  const [g] = h.rule.vjp!({ inputs: [x], outputs: [y], dys: [dy] }, h.ctx);
  const r = Array.from(g!.dataSync());
  tf.dispose([x, y, dy, g!]);
  h.dispose();
  return r;
}

test('gradients exactly at the kinks follow PyTorch', () => {
  assert.deepEqual(gradAt('Relu', {}, [0, -1, 1]), [0, 0, 1]);
  assert.deepEqual(gradAt('LeakyRelu', { alpha: 0.25 }, [0]), [0.25]);
  assert.deepEqual(gradAt('Clip', { min: 0, max: 6 }, [0, 6, -0.5, 6.5]), [1, 1, 0, 0]); // torch.clamp: closed interval
  assert.deepEqual(gradAt('HardSigmoid', { alpha: 0.5, beta: 0.5 }, [-1, 1, 0]), [0, 0, 0.5]); // open interval
  assert.deepEqual(gradAt('HardSwish', {}, [-3, 3, -3.5, 4]), [-0.5, 1.5, 0, 1]);
});

test('PRelu: slope of shape [C], [1,1,1,C] and scalar (constants), and a slope that is an activation', () => {
  const v = awayFrom(uniform(SHAPE, 2), [0], 0.02);
  const x = tf.tensor(v, SHAPE);
  const slopes = [rand([4], 3, 0, 0.5), rand([1, 1, 1, 4], 4, 0, 0.5), tf.tensor1d([0.2])];
  const ref = (xx: tf.Tensor, s: tf.Tensor) => tf.add(tf.relu(xx), tf.mul(s, tf.neg(tf.relu(tf.neg(xx)))));
  for (const s of slopes) {
    const sv = s.dataSync();
    const [y] = runForward('PRelu', {}, [x, s], [false, true]);
    assertClose(
      y.data,
      Array.from(v, (xv, i) => (xv > 0 ? xv : xv * sv[sv.length === 1 ? 0 : i % 4])),
      1e-6,
      1e-7,
      'forward',
    );
    checkVjp({ op: 'PRelu', attrs: {}, inputs: [x, s], isConst: [false, true], ref: (xx) => ref(xx, s) });
  }
  const sAct = rand([1, 1, 4], 5, 0, 0.5);
  checkVjp({ op: 'PRelu', attrs: {}, inputs: [x, sAct], isConst: [false, false], ref });
  tf.dispose([x, sAct, ...slopes]);
});

test('Softmax on the last axis and on an inner axis', () => {
  const x = rand([2, 3, 4], 6, -3, 3);
  const xv = x.dataSync();
  for (const axis of [-1, 1, 0]) {
    const ax = (axis + 3) % 3;
    const [y] = runForward('Softmax', { axis }, [x]);
    const strides = [12, 4, 1];
    const want = Array.from(xv, (_, i) => {
      const idx = [Math.floor(i / 12), Math.floor(i / 4) % 3, i % 4];
      let z = 0;
      for (let k = 0; k < x.shape[ax]; k++) z += Math.exp(xv[i + (k - idx[ax]) * strides[ax]]);
      return Math.exp(xv[i]) / z;
    });
    assertClose(y.data, want, 1e-6, 1e-7, `forward axis ${axis}`);
    checkVjp({
      op: 'Softmax',
      attrs: { axis },
      inputs: [x],
      ref: (xx) => (ax === 2 ? tf.softmax(xx) : tf.div(tf.exp(xx), tf.sum(tf.exp(xx), ax, true))),
    });
  }
  x.dispose();
});

test('BatchNormalization = per-channel x·a + b on the last axis (rank 4 and rank 2)', () => {
  const C = 4;
  const gamma = rand([C], 7, 0.5, 1.5),
    beta = rand([C], 8),
    mean = rand([C], 9),
    variance = rand([C], 10, 0.1, 2);
  const eps = 1e-3;
  const [g, b, m, vr] = [gamma, beta, mean, variance].map((t) => t.dataSync());
  for (const shape of [SHAPE, [5, C]]) {
    const x = rand(shape, 11, -3, 3);
    const ins = [x, gamma, beta, mean, variance];
    const isConst = [false, true, true, true, true];
    const [y] = runForward('BatchNormalization', { epsilon: eps }, ins, isConst);
    const want = Array.from(x.dataSync(), (v, i) => {
      const c = i % C;
      return ((v - m[c]) / Math.sqrt(vr[c] + eps)) * g[c] + b[c];
    });
    assertClose(y.data, want, 1e-6, 1e-6, 'forward');
    checkVjp({
      op: 'BatchNormalization',
      attrs: { epsilon: eps },
      inputs: ins,
      isConst,
      ref: (xx) => tf.batchNorm(xx, mean, variance, beta, gamma, eps),
    });
    const h = makeContext('BatchNormalization', { epsilon: eps }, ins, isConst);
    assert.ok(h.ctx.prepared?.a && h.ctx.prepared?.b, 'scale and shift prepared');
    assert.deepEqual(h.rule.activationInputs!(h.ctx.node, h.ctx.graph), [0]);
    h.dispose();
    x.dispose();
  }
  tf.dispose([gamma, beta, mean, variance]);
});
