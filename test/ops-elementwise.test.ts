/**
 * Add, Sub, Mul, Div with numpy broadcasting on the cpu backend.
 * Forward vs a plain-JS broadcasting loop (max abs diff ≤ 1e-6·scale). VJP (each operand's gradient
 * summed back over its broadcast axes) vs tf.grads (rtol 1e-4) and finite differences (eps 1e-2,
 * |fd−g| ≤ 1e-2·(1+|g|)); divisors are kept in [0.5, 1.5].
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, checkVjp, makeContext, rand, runForward, sizeOf, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

const F: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
};

function broadcastJS(a: tf.Tensor, b: tf.Tensor, f: (x: number, y: number) => number) {
  const rank = Math.max(a.rank, b.rank);
  const pa = [...Array(rank - a.rank).fill(1), ...a.shape],
    pb = [...Array(rank - b.rank).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const av = a.dataSync(),
    bv = b.dataSync();
  const at = (p: number[], v: ArrayLike<number>, idx: number[]) => {
    let o = 0;
    for (let i = 0; i < rank; i++) o = o * p[i] + (p[i] === 1 ? 0 : idx[i]);
    return v[o];
  };
  const out = new Float64Array(sizeOf(shape));
  for (let k = 0; k < out.length; k++) {
    const idx: number[] = [];
    let r = k;
    for (let i = rank - 1; i >= 0; i--) (idx[i] = r % shape[i]), (r = Math.floor(r / shape[i]));
    out[k] = f(at(pa, av, idx), at(pb, bv, idx));
  }
  return { shape, data: out };
}

interface Case {
  a: number[];
  b: number[];
  constA?: boolean;
  constB?: boolean;
}
const cases: Case[] = [
  { a: [2, 3, 3, 4], b: [2, 3, 3, 4] },
  { a: [2, 3, 3, 4], b: [1, 1, 1, 4], constB: true },
  { a: [2, 3, 3, 4], b: [4], constB: true },
  { a: [2, 3, 3, 4], b: [], constB: true },
  { a: [2, 3, 3, 4], b: [4] },
  { a: [1, 1, 1, 4], b: [2, 3, 3, 4] },
  { a: [], b: [2, 3, 3, 4], constA: true },
  { a: [2, 3, 1, 4], b: [1, 3, 3, 1] },
];

for (const op of Object.keys(F))
  for (const c of cases) {
    test(`${op} [${c.a}]${c.constA ? ' (const)' : ''} with [${c.b}]${c.constB ? ' (const)' : ''}`, () => {
      const a = rand(c.a, 1, 0.5, 1.5),
        b = rand(c.b, 2, 0.5, 1.5);
      const isConst = [!!c.constA, !!c.constB];
      const [y] = runForward(op, {}, [a, b], isConst);
      const want = broadcastJS(a, b, F[op]);
      assert.deepEqual(y.shape, want.shape);
      assertClose(y.data, want.data, 1e-6, 1e-7, 'forward');
      checkVjp({ op, attrs: {}, inputs: [a, b], isConst });
      const h = makeContext(op, {}, [a, b], isConst);
      const withUnknown = (s: number[]) => (s.length === 4 && s[0] === 2 ? [-1, ...s.slice(1)] : s);
      const inferred = h.rule.inferShape!([withUnknown(c.a), withUnknown(c.b)], h.ctx)[0];
      assert.deepEqual(inferred, withUnknown(want.shape).length === 4 && (c.a[0] === 2 || c.b[0] === 2) ? [-1, ...want.shape.slice(1)] : want.shape);
      h.dispose();
      tf.dispose([a, b]);
    });
  }
