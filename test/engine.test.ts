/**
 * The engine (forward with recording, start-anywhere, backward through rule VJPs, memory) on a small
 * hand-built graph whose outputs and gradients have a closed form computed here in plain JS.
 *
 *   x [1,2,2,2] ─┬─ Mul(a) ─ Relu ─┐
 *                └─────────────────Add ─ GlobalAveragePool ─ Reshape [1,2] ─ Gemm(W,b) ─ logits [1,3]
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import type { Model } from '../src/engine/model.js';
import { forward, backward } from '../src/engine/execute.js';
import { node, testModel } from './helpers/graph.js';
import '../src/ops/index.js';

const X = [0.5, -1, 2, -0.25, -3, 1.5, 0.75, 1]; // NHWC [1,2,2,2]
const A = [2, -1]; // per-channel multiplier
const W = [1, -2, 0.5, 3, 1, -1]; // [in=2, out=3]
const B = [0.1, 0.2, -0.3];

function buildModel(): Model {
  const constants = new Map<string, tf.Tensor>([
    ['a', tf.tensor1d(A)],
    ['W', tf.tensor2d(W, [2, 3])],
    ['b', tf.tensor1d(B)],
  ]);
  const m = testModel(
    'engine.test',
    [1, 2, 2, 2],
    [
      node('scaled', 'Mul', ['x', 'a']),
      node('relu', 'Relu', ['scaled']),
      node('sum', 'Add', ['relu', 'x']),
      node('gap', 'GlobalAveragePool', ['sum']),
      node('flat', 'Reshape', ['gap'], { shape: [1, 2] }),
      node('logits', 'Gemm', ['flat', 'W', 'b'], { alpha: 1, beta: 1 }),
    ],
    constants,
  );
  return m;
}

/** Closed form of the whole graph and of d logits[k] / d x. */
function reference(k: number) {
  const sum = X.map((x, i) => Math.max(0, x * A[i % 2]) + x);
  const gap = [0, 1].map((c) => (sum[c] + sum[c + 2] + sum[c + 4] + sum[c + 6]) / 4);
  const logits = [0, 1, 2].map((o) => gap[0] * W[o] + gap[1] * W[3 + o] + B[o]);
  const dGap = [W[k], W[3 + k]];
  const dx = X.map((x, i) => {
    const c = i % 2;
    const relu = x * A[c] > 0 ? A[c] : 0;
    return (dGap[c] / 4) * (relu + 1);
  });
  return { logits, dx, gap };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`);
};

test('engine on the cpu backend', async (t) => {
  await initBackend({ backend: 'cpu' });
  const model = buildModel();
  const x = tf.tensor4d(X, [1, 2, 2, 2]);

  await t.test('shape inference fills every activation', () => {
    assert.deepEqual(model.shapeOf('gap'), [1, 1, 1, 2]);
    assert.deepEqual(model.shapeOf('logits'), [1, 3]);
  });

  await t.test('forward matches the closed form (tol 1e-6)', () => {
    const rec = forward(model, x);
    close(rec.outputs[0].dataSync(), reference(0).logits, 1e-6, 'logits');
    assert.equal(rec.has('relu'), false, 'intermediates are not kept without record');
    rec.dispose();
  });

  await t.test('forward can start from an inner tensor', () => {
    const gap = tf.tensor4d(reference(0).gap, [1, 1, 1, 2]);
    const rec = forward(model, { gap });
    close(rec.get('logits').dataSync(), reference(0).logits, 1e-6, 'logits from gap');
    rec.dispose();
    assert.equal(gap.isDisposed, false, 'fed tensors stay the caller’s');
    gap.dispose();
  });

  await t.test('backward: d logits[k] / d x equals the closed form, fork gradients summed (tol 1e-6)', () => {
    const rec = forward(model, x, { record: true });
    for (const k of [0, 1, 2]) {
      const seed = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([k], 'int32'), 3), 'float32'));
      const grads = backward(model, rec, 'logits', ['x', 'gap'], seed);
      close(grads.get('x')!.dataSync(), reference(k).dx, 1e-6, `dx (class ${k})`);
      close(grads.get('gap')!.dataSync(), [W[k], W[3 + k]], 1e-6, `dgap (class ${k})`);
      seed.dispose();
      for (const g of grads.values()) g.dispose();
    }
    rec.dispose();
  });

  await t.test('backward rejects a non-scalar source without a seed', () => {
    const rec = forward(model, x, { record: true });
    assert.throws(() => backward(model, rec, 'logits', 'x'), /give a seed/);
    rec.dispose();
  });

  await t.test('a wrongly shaped input is refused with the expected shape', () => {
    const bad = tf.zeros([1, 3, 3, 2]);
    assert.throws(() => forward(model, bad), /expects shape \[1, 2, 2, 2\] \(NHWC\), got \[1, 3, 3, 2\]/);
    bad.dispose();
  });

  await t.test('repeated forward + backward leaves the live tensor count unchanged', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const rec = forward(model, x, { record: true });
      const seed = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([1], 'int32'), 3), 'float32'));
      const grads = backward(model, rec, 'logits', 'x', seed, { keepAll: true });
      for (const g of grads.values()) g.dispose();
      seed.dispose();
      rec.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  x.dispose();
  model.dispose();
});
