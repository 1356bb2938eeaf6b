/**
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean on the cpu backend.
 * Forward and VJP vs naive JS loops (the VJP loop routes each window's dy to its first maximum in
 * scan order, PyTorch's rule, or spreads dy/count over the window's cells): max abs diff ≤ 1e-5.
 * Where tfjs has a differentiable equivalent the VJP is also compared with tf.grads (rtol 1e-4), and
 * always with central finite differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|); max-pool inputs are
 * distinct values 0.05 apart so no finite-difference step changes a window's winner).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { PoolAttrs } from '../src/ir/graph.js';
import { assertClose, checkVjp, distinct, makeContext, rand, runForward, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

type P4 = [number, number, number, number];
const pool = (kernel: [number, number], strides: [number, number], pads: P4, dilations: [number, number] = [1, 1], countIncludePad = false): PoolAttrs => ({
  kernel,
  strides,
  pads,
  dilations,
  countIncludePad,
});

/** Naive pooling: forward values and the VJP for a given dy (first-max routing / even spreading). */
export function naivePool(kind: 'max' | 'avg', x: ArrayLike<number>, xs: number[], a: PoolAttrs, dy?: ArrayLike<number>) {
  const [N, H, W, C] = xs;
  const oH = Math.floor((H + a.pads[0] + a.pads[2] - (a.kernel[0] - 1) * a.dilations[0] - 1) / a.strides[0]) + 1;
  const oW = Math.floor((W + a.pads[1] + a.pads[3] - (a.kernel[1] - 1) * a.dilations[1] - 1) / a.strides[1]) + 1;
  const y = new Float64Array(N * oH * oW * C);
  const dx = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < oH; oh++)
      for (let ow = 0; ow < oW; ow++)
        for (let c = 0; c < C; c++) {
          const cells: number[] = [];
          for (let i = 0; i < a.kernel[0]; i++)
            for (let j = 0; j < a.kernel[1]; j++) {
              const h = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
              const w = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
              if (h >= 0 && h < H && w >= 0 && w < W) cells.push(((n * H + h) * W + w) * C + c);
            }
          const o = ((n * oH + oh) * oW + ow) * C + c;
          if (kind === 'max') {
            let best = cells[0];
            for (const k of cells) if (x[k] > x[best]) best = k; // strict: the first maximum wins
            y[o] = x[best];
            if (dy) dx[best] += dy[o];
          } else {
            const count = a.countIncludePad ? a.kernel[0] * a.kernel[1] : cells.length;
            y[o] = cells.reduce((s, k) => s + x[k], 0) / count;
            if (dy) for (const k of cells) dx[k] += dy[o] / count;
          }
        }
  return { y, dx, shape: [N, oH, oW, C] };
}

const explicit = (a: PoolAttrs): [[number, number], [number, number], [number, number], [number, number]] => [
  [0, 0],
  [a.pads[0], a.pads[2]],
  [a.pads[1], a.pads[3]],
  [0, 0],
];

/** Differentiable max-pool reference for any dilation: pad with −1e30, gather every window's cells, max. */
function gatherMaxPool(xs: number[], a: PoolAttrs): (x: tf.Tensor) => tf.Tensor {
  const [N, H, W, C] = xs;
  const Hp = H + a.pads[0] + a.pads[2],
    Wp = W + a.pads[1] + a.pads[3];
  const oH = Math.floor((Hp - (a.kernel[0] - 1) * a.dilations[0] - 1) / a.strides[0]) + 1;
  const oW = Math.floor((Wp - (a.kernel[1] - 1) * a.dilations[1] - 1) / a.strides[1]) + 1;
  const K = a.kernel[0] * a.kernel[1];
  const idx: number[] = [];
  for (let oh = 0; oh < oH; oh++)
    for (let ow = 0; ow < oW; ow++)
      for (let i = 0; i < a.kernel[0]; i++)
        for (let j = 0; j < a.kernel[1]; j++) idx.push((oh * a.strides[0] + i * a.dilations[0]) * Wp + ow * a.strides[1] + j * a.dilations[1]);
  return (x) => {
    const xp = tf.reshape(tf.pad(x, explicit(a), -1e30), [N, Hp * Wp, C]);
    const cells = tf.reshape(tf.gather(xp, tf.tensor1d(idx, 'int32'), 1), [N, oH, oW, K, C]);
    return tf.max(cells, 3);
  };
}

const maxCases: Array<{ name: string; x: number[]; a: PoolAttrs }> = [
  { name: '3x3 s2 pad 1 (overlapping windows), batch 2', x: [2, 7, 7, 3], a: pool([3, 3], [2, 2], [1, 1, 1, 1]) },
  { name: '2x2 s2 with ceil-mode extra bottom/right pad', x: [1, 5, 5, 2], a: pool([2, 2], [2, 2], [0, 0, 1, 1]) },
  { name: '3x3 s1 asymmetric pads', x: [1, 5, 6, 2], a: pool([3, 3], [1, 1], [1, 0, 2, 1]) },
  { name: '2x2 dilation 2 pad 1', x: [1, 6, 6, 2], a: pool([2, 2], [1, 1], [1, 1, 1, 1], [2, 2]) },
  { name: '3x2 dilation 2 stride 2', x: [1, 9, 8, 2], a: pool([3, 2], [2, 2], [1, 0, 2, 1], [2, 2]) },
  { name: '2x2 s2 on odd input (last row/column never read)', x: [2, 7, 7, 2], a: pool([2, 2], [2, 2], [0, 0, 0, 0]) },
  { name: '3x3 s3 with pad 1', x: [1, 8, 7, 3], a: pool([3, 3], [3, 3], [1, 1, 1, 1]) },
];

for (const c of maxCases) {
  test(`MaxPool ${c.name}`, () => {
    const x = tf.tensor(distinct(c.x, 3), c.x);
    const [out] = runForward('MaxPool', c.a, [x]);
    const dil = c.a.dilations[0] > 1;
    const res = checkVjp({
      op: 'MaxPool',
      attrs: c.a,
      inputs: [x],
      // tfjs' maxPool has no dilations: there the reference gathers the window cells explicitly
      ref: dil ? gatherMaxPool(c.x, c.a) : (xx) => tf.maxPool(xx as tf.Tensor4D, c.a.kernel, c.a.strides, explicit(c.a)),
    });
    const ref = naivePool('max', x.dataSync(), c.x, c.a, res.dy);
    assert.deepEqual(out.shape, ref.shape);
    assertClose(out.data, ref.y, 0, 1e-6, 'forward');
    assertClose(res.grads[0]!, ref.dx, 0, 1e-5, 'vjp vs naive');
    const h = makeContext('MaxPool', c.a, [x]);
    assert.deepEqual(h.rule.inferShape!([[-1, ...c.x.slice(1)]], h.ctx), [[-1, ...ref.shape.slice(1)]]);
    h.dispose();
    x.dispose();
  });
}

function vjpOnce(op: string, a: object, x: tf.Tensor, dy: tf.Tensor): Float32Array {
  const h = makeContext(op, a, [x]);
  const [y] = h.rule.forward([x], h.ctx);
  const [g] = h.rule.vjp!({ inputs: [x], outputs: [y], dys: [dy] }, h.ctx);
  const v = g!.dataSync() as Float32Array;
  tf.dispose([y, g!]);
  h.dispose();
  return v;
}

test('MaxPool ties: each window sends its gradient to its first maximum (scan order), overlaps add up', () => {
  const a = pool([2, 2], [1, 1], [0, 0, 0, 0]);
  const x = tf.ones([1, 3, 3, 1]);
  const dy = tf.tensor4d([1, 10, 100, 1000], [1, 2, 2, 1]);
  // window (0,0) → x(0,0); (0,1) → x(0,1); (1,0) → x(1,0); (1,1) → x(1,1)
  assert.deepEqual(Array.from(vjpOnce('MaxPool', a, x, dy)), [1, 10, 0, 100, 1000, 0, 0, 0, 0]);
  // a tie between two cells of one row: the left one wins; a later strictly larger cell still wins
  const x2 = tf.tensor4d([2, 2, 1, 1, 3, 1], [1, 2, 3, 1]);
  const a2 = pool([1, 3], [1, 1], [0, 0, 0, 0]);
  assert.deepEqual(Array.from(vjpOnce('MaxPool', a2, x2, tf.tensor4d([5, 7], [1, 2, 1, 1]))), [5, 0, 0, 0, 7, 0]);
  // dilated path: same rule
  const a3 = pool([2, 2], [1, 1], [0, 0, 0, 0], [2, 2]);
  const x3 = tf.ones([1, 3, 3, 1]);
  assert.deepEqual(Array.from(vjpOnce('MaxPool', a3, x3, tf.tensor4d([4], [1, 1, 1, 1]))), [4, 0, 0, 0, 0, 0, 0, 0, 0]);
  tf.dispose([x, dy, x2, x3]);
});

test('MaxPool switches: a NaN first cell never wins against a later real value (NaN counts as −∞)', () => {
  const a = pool([2, 2], [2, 2], [0, 0, 0, 0]);
  const x = tf.tensor4d([Number.NaN, 1, 2, 0], [1, 2, 2, 1]);
  // the window's maximum real value is 2, at flat index 2: its gradient goes there, not to the NaN
  assert.deepEqual(Array.from(vjpOnce('MaxPool', a, x, tf.tensor4d([3], [1, 1, 1, 1]))), [0, 0, 3, 0]);
  x.dispose();
});

test('MaxPool with padding on all-negative input: padded cells never win', () => {
  const a = pool([3, 3], [2, 2], [1, 1, 1, 1]);
  const x = tf.tensor4d([-5, -3, -4, -2], [1, 2, 2, 1]);
  const [out] = runForward('MaxPool', a, [x]);
  assert.deepEqual(Array.from(out.data), [-2]);
  assert.deepEqual(Array.from(vjpOnce('MaxPool', a, x, tf.ones([1, 1, 1, 1]))), [0, 0, 0, 1]);
  x.dispose();
});

const avgCases: Array<{ name: string; x: number[]; a: PoolAttrs; tfjs?: boolean }> = [
  { name: '3x3 s1 pad 1, countIncludePad false', x: [2, 5, 5, 3], a: pool([3, 3], [1, 1], [1, 1, 1, 1]) },
  { name: '3x3 s2 pad 1, countIncludePad true', x: [1, 7, 7, 2], a: pool([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], true) },
  { name: '2x2 s2 ceil-mode extra bottom/right pad, countIncludePad false', x: [1, 5, 5, 2], a: pool([2, 2], [2, 2], [0, 0, 1, 1]) },
  { name: '3x3 s2 asymmetric + ceil-mode pads, countIncludePad false', x: [1, 6, 7, 2], a: pool([3, 3], [2, 2], [1, 1, 2, 2]) },
  { name: '3x3 s2 ceil-mode pad, countIncludePad true (the extra cells count)', x: [1, 6, 6, 1], a: pool([3, 3], [2, 2], [1, 1, 2, 2], [1, 1], true) },
  { name: '2x2 dilation 2 pad 2, countIncludePad false', x: [1, 6, 5, 2], a: pool([2, 2], [1, 1], [2, 2, 2, 2], [2, 2]) },
  { name: 'no padding 2x2 s2 (tfjs avgPool as a second reference)', x: [1, 6, 6, 3], a: pool([2, 2], [2, 2], [0, 0, 0, 0]), tfjs: true },
];

for (const c of avgCases) {
  test(`AveragePool ${c.name}`, () => {
    const x = rand(c.x, 5);
    const [out] = runForward('AveragePool', c.a, [x]);
    const res = checkVjp({
      op: 'AveragePool',
      attrs: c.a,
      inputs: [x],
      // dilated depthwise convs have no tfjs gradient; there the naive adjoint and finite differences decide
      ref: c.tfjs ? (xx) => tf.avgPool(xx as tf.Tensor4D, c.a.kernel, c.a.strides, 'valid') : c.a.dilations[0] > 1 ? null : undefined,
    });
    const ref = naivePool('avg', x.dataSync(), c.x, c.a, res.dy);
    assert.deepEqual(out.shape, ref.shape);
    assertClose(out.data, ref.y, 0, 1e-5, 'forward');
    assertClose(res.grads[0]!, ref.dx, 0, 1e-5, 'vjp vs naive');
    x.dispose();
  });
}

test('GlobalAveragePool and ReduceMean', () => {
  const x = rand([2, 3, 4, 5], 9);
  const xv = x.dataSync();
  const [gap] = runForward('GlobalAveragePool', {}, [x]);
  assert.deepEqual(gap.shape, [2, 1, 1, 5]);
  const want = new Float64Array(10);
  for (let i = 0; i < xv.length; i++) want[Math.floor(i / 60) * 5 + (i % 5)] += xv[i] / 12;
  assertClose(gap.data, want, 0, 1e-6, 'gap forward');
  const g = checkVjp({ op: 'GlobalAveragePool', attrs: {}, inputs: [x], ref: (xx) => tf.mean(xx, [1, 2], true) });
  assertClose(
    g.grads[0]!,
    Array.from(xv, (_, i) => g.dy[Math.floor(i / 60) * 5 + (i % 5)] / 12),
    0,
    1e-6,
    'gap vjp closed form',
  );

  for (const a of [
    { axes: [1, 2], keepDims: true },
    { axes: [1, 2], keepDims: false },
    { axes: [-1], keepDims: false },
    { axes: [], keepDims: false },
    { axes: [0, 3], keepDims: true },
  ]) {
    const [m] = runForward('ReduceMean', a, [x]);
    const axes = a.axes.length ? a.axes.map((v) => (v + 4) % 4) : [0, 1, 2, 3];
    assert.deepEqual(m.shape, a.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i)));
    assertClose(
      m.data,
      tf.tidy(() => tf.mean(x, axes, a.keepDims).dataSync()),
      0,
      1e-6,
      `ReduceMean ${JSON.stringify(a)}`,
    );
    checkVjp({ op: 'ReduceMean', attrs: a, inputs: [x], ref: (xx) => tf.mean(xx, axes, a.keepDims) });
    const h = makeContext('ReduceMean', a, [x]);
    const s = [-1, 3, 4, 5];
    const wantShape = a.keepDims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
    assert.deepEqual(h.rule.inferShape!([s], h.ctx), [wantShape]);
    h.dispose();
  }
  x.dispose();
});

test('GlobalMaxPool: forward, vjp to the first maximum of each channel', () => {
  const x = tf.tensor(distinct([2, 3, 3, 4], 21), [2, 3, 3, 4]);
  const [y] = runForward('GlobalMaxPool', {}, [x]);
  assert.deepEqual(y.shape, [2, 1, 1, 4]);
  const res = checkVjp({ op: 'GlobalMaxPool', attrs: {}, inputs: [x], ref: (xx) => tf.max(xx, [1, 2], true) });
  const a = pool([3, 3], [1, 1], [0, 0, 0, 0]);
  const ref = naivePool('max', x.dataSync(), x.shape, a, res.dy);
  assertClose(y.data, ref.y, 0, 0, 'forward');
  assertClose(res.grads[0]!, ref.dx, 0, 1e-6, 'vjp');
  const t = tf.tensor4d([1, 3, 3, 2], [1, 2, 2, 1]);
  assert.deepEqual(Array.from(vjpOnce('GlobalMaxPool', {}, t, tf.tensor4d([5], [1, 1, 1, 1]))), [0, 5, 0, 0]);
  const h = makeContext('GlobalMaxPool', {}, [x]);
  assert.deepEqual(h.rule.inferShape!([[-1, 7, 7, 512]], h.ctx), [[-1, 1, 1, 512]]);
  h.dispose();
  tf.dispose([x, t]);
});
