/**
 * Flatten, Reshape, Transpose, Slice, Pad, Concat, Dropout, Identity on the cpu backend.
 * Forward vs index arithmetic in plain JS (exact). VJP vs tf.grads of gather/pad/reshape-based
 * references (rtol 1e-4; tfjs has no StridedSlice gradient, so slices are references as gathers) and
 * finite differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|)).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { PadAttrs, SliceAttrs } from '../src/ir/graph.js';
import { assertClose, checkVjp, makeContext, rand, runForward, sizeOf, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

/** Gather a tensor's elements at per-axis index lists (a plain-JS reference and its index math). */
function gatherJS(v: ArrayLike<number>, shape: number[], idx: number[][]): { data: number[]; shape: number[] } {
  const outShape = idx.map((l) => l.length);
  const data: number[] = [];
  const strides = shape.map((_, i) => sizeOf(shape.slice(i + 1)));
  for (let k = 0; k < sizeOf(outShape); k++) {
    let r = k,
      off = 0;
    for (let i = shape.length - 1; i >= 0; i--) {
      const o = r % outShape[i];
      r = Math.floor(r / outShape[i]);
      off += idx[i][o] * strides[i];
    }
    data.push(v[off]);
  }
  return { data, shape: outShape };
}

/** Differentiable reference: one tf.gather per axis. */
const gatherTF = (idx: number[][]) => (x: tf.Tensor) => idx.reduce((t, l, axis) => tf.gather(t, tf.tensor1d(l, 'int32'), axis), x);

/** ONNX Slice index lists, written independently of the rule (enumerate, then filter). */
function sliceIdx(shape: number[], a: SliceAttrs): number[][] {
  const idx = shape.map((d) => Array.from({ length: d }, (_, i) => i));
  a.axes.forEach((ax, k) => {
    const axis = (ax + shape.length) % shape.length;
    const d = shape[axis],
      step = a.steps[k];
    let s = a.starts[k] < 0 ? a.starts[k] + d : a.starts[k];
    let e = a.ends[k] < 0 ? a.ends[k] + d : a.ends[k];
    const l: number[] = [];
    if (step > 0) {
      (s = Math.max(0, Math.min(d, s))), (e = Math.max(0, Math.min(d, e)));
      for (let i = s; i < e; i += step) l.push(i);
    } else {
      (s = Math.max(0, Math.min(d - 1, s))), (e = Math.max(-1, Math.min(d - 1, e)));
      for (let i = s; i > e; i += step) l.push(i);
    }
    idx[axis] = l;
  });
  return idx;
}

const sliceCases: Array<{ name: string; shape: number[]; a: SliceAttrs }> = [
  { name: 'step 2 on H and W', shape: [1, 7, 6, 3], a: { starts: [0, 1], ends: [7, 6], axes: [1, 2], steps: [2, 2] } },
  { name: 'negative step -1 (reverse) with INT_MAX-style ends', shape: [2, 4, 5, 3], a: { starts: [-1], ends: [-1e18], axes: [2], steps: [-1] } },
  {
    name: 'negative step -2 from an inner start, and a channel range',
    shape: [1, 9, 4, 6],
    a: { starts: [7, 1], ends: [0, -1], axes: [1, 3], steps: [-2, 1] },
  },
  { name: 'negative step -3 with end clamped', shape: [1, 3, 10, 2], a: { starts: [100], ends: [-100], axes: [-2], steps: [-3] } },
  { name: 'negative starts, step 3, channel axis', shape: [2, 3, 3, 8], a: { starts: [-7], ends: [8], axes: [3], steps: [3] } },
  { name: 'rank 2', shape: [5, 6], a: { starts: [1, 5], ends: [5, 0], axes: [0, 1], steps: [1, -2] } },
];

for (const c of sliceCases) {
  test(`Slice ${c.name}`, () => {
    const x = rand(c.shape, 1);
    const idx = sliceIdx(c.shape, c.a);
    const want = gatherJS(x.dataSync(), c.shape, idx);
    const [y] = runForward('Slice', c.a, [x]);
    assert.deepEqual(y.shape, want.shape);
    assertClose(y.data, want.data, 0, 0, 'forward');
    checkVjp({ op: 'Slice', attrs: c.a, inputs: [x], ref: gatherTF(idx) });
    const h = makeContext('Slice', c.a, [x]);
    assert.deepEqual(h.rule.inferShape!([c.shape], h.ctx), [want.shape]);
    if (!c.a.axes.includes(0)) assert.deepEqual(h.rule.inferShape!([[-1, ...c.shape.slice(1)]], h.ctx), [[-1, ...want.shape.slice(1)]]);
    h.dispose();
    x.dispose();
  });
}

/** Per-axis source index for each padded position (null = the constant). */
function padIdx(shape: number[], a: PadAttrs): Array<Array<number | null>> {
  return shape.map((d, axis) => {
    const [b, e] = a.pads[axis];
    return Array.from({ length: d + b + e }, (_, o) => {
      const i = o - b;
      if (i >= 0 && i < d) return i;
      if (a.mode === 'constant') return null;
      if (a.mode === 'edge') return Math.min(d - 1, Math.max(0, i));
      return i < 0 ? -i : 2 * (d - 1) - i; // reflect without repeating the edge
    });
  });
}

const padCases: Array<{ name: string; shape: number[]; a: PadAttrs }> = [
  {
    name: 'constant 0.5, asymmetric spatial pads',
    shape: [1, 3, 4, 2],
    a: {
      pads: [
        [0, 0],
        [1, 2],
        [2, 0],
        [0, 0],
      ],
      mode: 'constant',
      value: 0.5,
    },
  },
  {
    name: 'constant with negative pads (crop)',
    shape: [1, 5, 4, 2],
    a: {
      pads: [
        [0, 0],
        [-1, 2],
        [1, -2],
        [0, 1],
      ],
      mode: 'constant',
      value: 0,
    },
  },
  {
    name: 'reflect',
    shape: [2, 4, 5, 2],
    a: {
      pads: [
        [0, 0],
        [2, 3],
        [1, 4],
        [0, 0],
      ],
      mode: 'reflect',
      value: 0,
    },
  },
  {
    name: 'edge',
    shape: [1, 3, 4, 2],
    a: {
      pads: [
        [0, 0],
        [2, 3],
        [3, 1],
        [0, 0],
      ],
      mode: 'edge',
      value: 0,
    },
  },
  {
    name: 'edge on the channel axis, rank 3',
    shape: [3, 2, 3],
    a: {
      pads: [
        [1, 0],
        [0, 0],
        [2, 2],
      ],
      mode: 'edge',
      value: 0,
    },
  },
];

for (const c of padCases) {
  test(`Pad ${c.name}`, () => {
    const x = rand(c.shape, 2);
    const xv = x.dataSync();
    const [y] = runForward('Pad', c.a, [x]);
    const cropped = c.a.pads.some(([b, e]) => b < 0 || e < 0);
    const src = padIdx(c.shape, c.a);
    const outShape = src.map((l) => l.length);
    const want = Array.from({ length: sizeOf(outShape) }, (_, k) => {
      let r = k,
        off = 0,
        isConst = false;
      for (let i = outShape.length - 1; i >= 0; i--) {
        const s = src[i][r % outShape[i]];
        r = Math.floor(r / outShape[i]);
        if (s === null || s === undefined) isConst = true;
        else off += s * sizeOf(c.shape.slice(i + 1));
      }
      return isConst ? c.a.value : xv[off];
    });
    assert.deepEqual(y.shape, outShape);
    assertClose(y.data, want, 0, 0, 'forward');
    let ref: (t: tf.Tensor) => tf.Tensor;
    if (c.a.mode === 'constant') {
      const begin = c.a.pads.map(([b]) => Math.max(0, -b));
      const size = c.shape.map((d, i) => d - begin[i] - Math.max(0, -c.a.pads[i][1]));
      ref = (t) =>
        tf.pad(
          cropped ? tf.slice(t, begin, size) : t,
          c.a.pads.map(([b, e]) => [Math.max(0, b), Math.max(0, e)] as [number, number]),
          c.a.value,
        );
    } else ref = gatherTF(src as number[][]);
    checkVjp({ op: 'Pad', attrs: c.a, inputs: [x], ref });
    const h = makeContext('Pad', c.a, [x]);
    assert.deepEqual(h.rule.inferShape!([c.shape], h.ctx), [outShape]);
    h.dispose();
    x.dispose();
  });
}

test('Flatten, Reshape, Transpose: forward layout and vjp', () => {
  const x = rand([2, 3, 4, 5], 3);
  const xv = Array.from(x.dataSync());
  for (const [axis, shape] of [
    [1, [2, 60]],
    [2, [6, 20]],
    [0, [1, 120]],
    [-1, [24, 5]],
    [4, [120, 1]],
  ] as Array<[number, number[]]>) {
    const [y] = runForward('Flatten', { axis }, [x]);
    assert.deepEqual(y.shape, shape);
    assertClose(y.data, xv, 0, 0, `flatten ${axis}`);
    checkVjp({ op: 'Flatten', attrs: { axis }, inputs: [x], ref: (t) => tf.reshape(t, shape) });
    const h = makeContext('Flatten', { axis }, [x]);
    assert.deepEqual(h.rule.inferShape!([[2, 3, 4, 5]], h.ctx), [shape]);
    if (axis === 1) assert.deepEqual(h.rule.inferShape!([[-1, 3, 4, 5]], h.ctx), [[-1, 60]]);
    h.dispose();
  }
  const [r] = runForward('Reshape', { shape: [-1, 20] }, [x]);
  assert.deepEqual(r.shape, [6, 20]);
  checkVjp({ op: 'Reshape', attrs: { shape: [2, -1] }, inputs: [x], ref: (t) => tf.reshape(t, [2, 60]) });
  let h = makeContext('Reshape', { shape: [-1, 60] }, [x]);
  assert.deepEqual(h.rule.inferShape!([[-1, 3, 4, 5]], h.ctx), [[-1, 60]]);
  assert.deepEqual(h.rule.inferShape!([[2, 3, 4, 5]], h.ctx), [[2, 60]]);
  h.dispose();

  const perm = [0, 3, 1, 2];
  const [t] = runForward('Transpose', { perm }, [x]);
  assert.deepEqual(t.shape, [2, 5, 3, 4]);
  assert.equal(t.data[((1 * 5 + 4) * 3 + 2) * 4 + 3], xv[((1 * 3 + 2) * 4 + 3) * 5 + 4]);
  checkVjp({ op: 'Transpose', attrs: { perm }, inputs: [x], ref: (u) => tf.transpose(u, perm) });
  h = makeContext('Transpose', { perm }, [x]);
  assert.deepEqual(h.rule.inferShape!([[-1, 3, 4, 5]], h.ctx), [[-1, 5, 3, 4]]);
  h.dispose();
  x.dispose();
});

test('Concat: activations and a constant, channel and spatial axes', () => {
  const a = rand([2, 3, 3, 2], 4),
    b = rand([2, 3, 3, 5], 5),
    k = rand([2, 3, 3, 1], 6);
  const [y] = runForward('Concat', { axis: 3 }, [a, k, b], [false, true, false]);
  assert.deepEqual(y.shape, [2, 3, 3, 8]);
  assert.equal(y.data[8 + 2], k.dataSync()[1]);
  const res = checkVjp({ op: 'Concat', attrs: { axis: -1 }, inputs: [a, k, b], isConst: [false, true, false], ref: (p, q) => tf.concat([p, k, q], 3) });
  assert.equal(res.grads[1], null);
  const a2 = rand([2, 1, 3, 2], 8);
  checkVjp({ op: 'Concat', attrs: { axis: 1 }, inputs: [a, a2], ref: (p, q) => tf.concat([p, q], 1) });
  a2.dispose();
  const h = makeContext('Concat', { axis: 3 }, [a, k, b], [false, true, false]);
  assert.deepEqual(
    h.rule.inferShape!(
      [
        [-1, 3, 3, 2],
        [2, 3, 3, 1],
        [-1, 3, 3, 5],
      ],
      h.ctx,
    ),
    [[-1, 3, 3, 8]],
  );
  h.dispose();
  tf.dispose([a, b, k]);
});

test('Dropout and Identity pass through (fresh tensors), Dropout mask output is ones', () => {
  const x = rand([1, 2, 2, 3], 7);
  for (const op of ['Dropout', 'Identity']) {
    const [y] = runForward(op, {}, [x]);
    assertClose(y.data, x.dataSync(), 0, 0, op);
    checkVjp({ op, attrs: {}, inputs: [x] });
  }
  const h = makeContext('Dropout', {}, [x], [false], 2);
  const outs = h.rule.forward([x], h.ctx);
  assert.equal(outs.length, 2);
  assert.deepEqual(Array.from(outs[1].dataSync()), Array(12).fill(1));
  assert.deepEqual(h.rule.inferShape!([[-1, 2, 2, 3]], h.ctx), [
    [-1, 2, 2, 3],
    [-1, 2, 2, 3],
  ]);
  outs.forEach((t) => t.dispose());
  h.dispose();
  x.dispose();
});
