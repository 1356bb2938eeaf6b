/**
 * Gemm (weight stored [in, out]) and MatMul (numpy semantics) on the cpu backend.
 * Forward vs plain-JS loops (max abs diff ≤ 1e-5·scale); VJP vs tf.grads (rtol 1e-4) and finite
 * differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|)).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, checkVjp, makeContext, rand, runForward, sizeOf, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

test('Gemm: y = alpha·x·W + beta·b with W [in,out] and b [out]; transposed weight prepared once', () => {
  const [N, I, O] = [3, 5, 4];
  const x = rand([N, I], 1),
    w = rand([I, O], 2),
    b = rand([O], 3);
  for (const attrs of [
    { alpha: 1, beta: 1 },
    { alpha: 0.5, beta: 2 },
  ]) {
    const [y] = runForward('Gemm', attrs, [x, w, b], [false, true, true]);
    const xv = x.dataSync(),
      wv = w.dataSync(),
      bv = b.dataSync();
    const want = Array.from({ length: N * O }, (_, k) => {
      const n = Math.floor(k / O),
        o = k % O;
      let s = 0;
      for (let i = 0; i < I; i++) s += xv[n * I + i] * wv[i * O + o];
      return attrs.alpha * s + attrs.beta * bv[o];
    });
    assert.deepEqual(y.shape, [N, O]);
    assertClose(y.data, want, 1e-5, 1e-6, 'forward');
    checkVjp({
      op: 'Gemm',
      attrs,
      inputs: [x, w, b],
      isConst: [false, true, true],
      ref: (xx) => tf.add(tf.mul(tf.matMul(xx, w), attrs.alpha), tf.mul(b, attrs.beta)),
    });
    const h = makeContext('Gemm', attrs, [x, w, b], [false, true, true]);
    assert.deepEqual(h.ctx.prepared!.wt.shape, [O, I]);
    assert.deepEqual(h.rule.inferShape!([[-1, I], [I, O], [O]], h.ctx), [[-1, O]]);
    h.dispose();
  }
  // no bias; weight and bias as activations (all three get gradients)
  checkVjp({ op: 'Gemm', attrs: { alpha: 1, beta: 1 }, inputs: [x, w], isConst: [false, true], ref: (xx) => tf.matMul(xx, w) });
  checkVjp({
    op: 'Gemm',
    attrs: { alpha: 2, beta: 0.5 },
    inputs: [x, w, b],
    isConst: [false, false, false],
    ref: (xx, ww, bb) => tf.add(tf.mul(tf.matMul(xx, ww), 2), tf.mul(bb, 0.5)),
  });
  tf.dispose([x, w, b]);
});

/** numpy matmul in plain JS (1-D promotion, broadcast batch). */
function matmulJS(a: tf.Tensor, b: tf.Tensor) {
  const as = a.rank === 1 ? [1, a.shape[0]] : a.shape,
    bs = b.rank === 1 ? [b.shape[0], 1] : b.shape;
  const [M, K] = as.slice(-2),
    N = bs[bs.length - 1];
  const ba = as.slice(0, -2),
    bb = bs.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...Array(rank - ba.length).fill(1), ...ba],
    pb = [...Array(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const av = a.dataSync(),
    bv = b.dataSync();
  const out: number[] = [];
  for (let t = 0; t < sizeOf(batch); t++) {
    const idx: number[] = [];
    let r = t;
    for (let i = rank - 1; i >= 0; i--) (idx[i] = r % batch[i]), (r = Math.floor(r / batch[i]));
    const off = (p: number[]) => idx.reduce((o, v, i) => o * p[i] + (p[i] === 1 ? 0 : v), 0);
    const oa = off(pa) * M * K,
      ob = off(pb) * K * N;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[oa + m * K + k] * bv[ob + k * N + n];
        out.push(s);
      }
  }
  let shape = [...batch, M, N];
  if (b.rank === 1) shape = shape.slice(0, -1);
  if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
  return { shape, data: out };
}

const mcases: Array<{ a: number[]; b: number[]; constA?: boolean; constB?: boolean }> = [
  { a: [2, 3, 4, 5], b: [5, 6], constB: true },
  { a: [3, 5], b: [2, 5, 4] },
  { a: [5], b: [5, 3] },
  { a: [2, 4, 5], b: [5] },
  { a: [5], b: [5] },
  { a: [4, 5], b: [2, 5, 3], constA: true },
  { a: [2, 1, 3, 4], b: [3, 4, 2] },
];

for (const c of mcases) {
  test(`MatMul [${c.a}]${c.constA ? ' (const)' : ''} · [${c.b}]${c.constB ? ' (const)' : ''}`, () => {
    const a = rand(c.a, 4),
      b = rand(c.b, 5);
    const isConst = [!!c.constA, !!c.constB];
    const [y] = runForward('MatMul', {}, [a, b], isConst);
    const want = matmulJS(a, b);
    assert.deepEqual(y.shape, want.shape);
    assertClose(y.data, want.data, 1e-5, 1e-6, 'forward');
    // tfjs' BatchMatMul gradient mishandles broadcast batch dims, so the reference broadcasts explicitly
    const ref = (...acts: tf.Tensor[]) => {
      const ins = [a, b];
      [0, 1].filter((i) => !isConst[i]).forEach((i, j) => (ins[i] = acts[j]));
      const pa = ins[0].rank === 1 ? tf.reshape(ins[0], [1, -1]) : ins[0];
      const pb = ins[1].rank === 1 ? tf.reshape(ins[1], [-1, 1]) : ins[1];
      const batch = want.shape.slice(0, Math.max(pa.rank, pb.rank) - 2);
      const full = (t: tf.Tensor) => (batch.length ? tf.broadcastTo(t, [...batch, ...t.shape.slice(-2)]) : t);
      return tf.reshape(tf.matMul(full(pa), full(pb)), want.shape);
    };
    checkVjp({ op: 'MatMul', attrs: {}, inputs: [a, b], isConst, ref });
    const h = makeContext('MatMul', {}, [a, b], isConst);
    assert.deepEqual(h.rule.inferShape!([c.a, c.b], h.ctx), [want.shape]);
    h.dispose();
    tf.dispose([a, b]);
  });
}
