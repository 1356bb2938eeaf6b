/**
 * Resize (nearest, bilinear; alignCorners, halfPixelCenters, up- and downsampling) on the cpu backend.
 * Forward vs a plain-JS implementation of the ONNX/PyTorch coordinate rules (max abs diff ≤ 1e-5).
 * VJP vs the exact adjoint of that JS forward (its Jacobian applied to dy, ≤ 1e-5), vs tf.grads
 * where tfjs' resize gradients are right (rtol 1e-4: no halfPixelCenters, square input for bilinear),
 * and vs finite differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|)).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { ResizeAttrs } from '../src/ir/graph.js';
import { assertClose, checkVjp, makeContext, rand, runForward, sizeOf, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

/** Source taps along one axis: [index, weight] pairs. */
function taps(o: number, inS: number, outS: number, a: ResizeAttrs): Array<[number, number]> {
  if (a.mode === 'nearest') {
    let i: number;
    if (a.alignCorners) i = Math.round(outS > 1 ? (o * (inS - 1)) / (outS - 1) : 0);
    else if (a.halfPixelCenters)
      i = Math.floor(((o + 0.5) * inS) / outS); // PyTorch 'nearest-exact'
    else i = Math.floor((o * inS) / outS); // PyTorch 'nearest'
    return [[Math.min(inS - 1, i), 1]];
  }
  let src: number;
  if (a.alignCorners) src = outS > 1 ? (o * (inS - 1)) / (outS - 1) : 0;
  else if (a.halfPixelCenters) src = Math.max(0, ((o + 0.5) * inS) / outS - 0.5);
  else src = (o * inS) / outS;
  src = Math.min(src, inS - 1);
  const lo = Math.floor(src),
    hi = Math.min(lo + 1, inS - 1),
    w = src - lo;
  return [
    [lo, 1 - w],
    [hi, w],
  ];
}

function resizeJS(x: ArrayLike<number>, shape: number[], a: ResizeAttrs): Float64Array {
  const [N, H, W, C] = shape,
    [oH, oW] = a.size;
  const y = new Float64Array(N * oH * oW * C);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < oH; i++)
      for (let j = 0; j < oW; j++)
        for (const [r, wr] of taps(i, H, oH, a))
          for (const [q, wq] of taps(j, W, oW, a)) for (let c = 0; c < C; c++) y[((n * oH + i) * oW + j) * C + c] += wr * wq * x[((n * H + r) * W + q) * C + c];
  return y;
}

const R = (size: [number, number], mode: 'nearest' | 'bilinear', alignCorners: boolean, halfPixelCenters: boolean): ResizeAttrs => ({
  size,
  mode,
  alignCorners,
  halfPixelCenters,
});

const cases: Array<{ x: number[]; a: ResizeAttrs }> = [
  { x: [2, 3, 4, 2], a: R([6, 8], 'nearest', false, false) },
  { x: [1, 3, 5, 2], a: R([7, 3], 'nearest', false, true) },
  { x: [1, 4, 4, 1], a: R([7, 9], 'nearest', true, false) },
  { x: [1, 7, 6, 2], a: R([3, 4], 'nearest', false, true) },
  { x: [2, 3, 2, 3], a: R([6, 6], 'nearest', false, true) },
  { x: [1, 3, 4, 2], a: R([3, 12], 'nearest', false, false) },
  { x: [1, 3, 3, 2], a: R([7, 5], 'bilinear', true, false) },
  { x: [1, 4, 4, 2], a: R([6, 7], 'bilinear', false, false) },
  { x: [2, 3, 5, 2], a: R([8, 9], 'bilinear', false, true) },
  { x: [1, 7, 6, 1], a: R([3, 4], 'bilinear', false, true) },
  { x: [1, 5, 3, 2], a: R([9, 7], 'bilinear', true, false) },
  { x: [1, 2, 3, 2], a: R([1, 1], 'bilinear', true, false) },
];

for (const c of cases) {
  const { mode, alignCorners, halfPixelCenters, size } = c.a;
  test(`Resize ${mode} [${c.x.slice(1, 3)}]→[${size}] alignCorners=${alignCorners} halfPixelCenters=${halfPixelCenters}`, () => {
    const x = rand(c.x, 1);
    const xv = x.dataSync();
    const [y] = runForward('Resize', c.a, [x]);
    assert.deepEqual(y.shape, [c.x[0], ...size, c.x[3]]);
    assertClose(y.data, resizeJS(xv, c.x, c.a), 0, 1e-5, 'forward');

    // tfjs' cpu grads: both ignore halfPixelCenters, bilinear labels its result [N,W,H,C], nearest reads
    // dy at the input's batch stride (wrong for batch > 1)
    const tfjsGradOk = !halfPixelCenters && (mode === 'nearest' ? c.x[0] === 1 : c.x[1] === c.x[2]);
    const ref = !tfjsGradOk
      ? null
      : mode === 'bilinear'
        ? (t: tf.Tensor) => tf.image.resizeBilinear(t as tf.Tensor4D, size, alignCorners, halfPixelCenters)
        : (t: tf.Tensor) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, size, alignCorners, halfPixelCenters);
    const res = checkVjp({ op: 'Resize', attrs: c.a, inputs: [x], ref, why: 'tfjs resize gradients are wrong here (see above)' });
    // exact adjoint of the JS forward: dx[k] = Σ_o resizeJS(e_k)[o] · dy[o]
    const adj = Array.from({ length: sizeOf(c.x) }, (_, k) => {
      const e = new Float64Array(sizeOf(c.x));
      e[k] = 1;
      return resizeJS(e, c.x, c.a).reduce((s, v, o) => s + v * res.dy[o], 0);
    });
    assertClose(res.grads[0]!, adj, 0, 1e-5, 'vjp vs adjoint of the reference');
    const h = makeContext('Resize', c.a, [x]);
    assert.deepEqual(h.rule.inferShape!([[-1, ...c.x.slice(1)]], h.ctx), [[-1, ...size, c.x[3]]]);
    h.dispose();
    x.dispose();
  });
}
