/**
 * Conv and ConvTranspose rules on the cpu backend.
 * Forward: vs naive JS loops written here. VJP: vs tf.grads of an independent reference (per-group
 * tf.conv2d with an explicitly zero-dilated kernel, so neither depthwiseConv2d nor dilations are
 * involved) with rtol 1e-4, and vs central finite differences (eps 1e-2, |fd−g| ≤ 1e-2·(1+|g|)).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { ConvAttrs, ConvTransposeAttrs } from '../src/ir/graph.js';
import { withoutNative } from '../src/runtime/native.js';
import { assertClose, checkVjp, makeContext, rand, runForward, sizeOf, useBackend } from './helpers/op-context.js';

await useBackend('cpu');

type Pads = [number, number, number, number];
const conv = (strides: [number, number], pads: Pads, dilations: [number, number], group: number): ConvAttrs => ({ strides, pads, dilations, group });

/** y[n,oh,ow,co] = Σ x[n, oh·s−pt+kh·d, ow·s−pl+kw·d, grp·cig+ci] · w[kh,kw,ci,co] (+ b[co]) */
export function naiveConv(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], a: ConvAttrs, b?: ArrayLike<number>) {
  const [N, H, W, C] = xs,
    [kH, kW, cig, Co] = ws;
  const cog = Co / a.group;
  const oH = Math.floor((H + a.pads[0] + a.pads[2] - (kH - 1) * a.dilations[0] - 1) / a.strides[0]) + 1;
  const oW = Math.floor((W + a.pads[1] + a.pads[3] - (kW - 1) * a.dilations[1] - 1) / a.strides[1]) + 1;
  const y = new Float64Array(N * oH * oW * Co);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < oH; oh++)
      for (let ow = 0; ow < oW; ow++)
        for (let co = 0; co < Co; co++) {
          const grp = Math.floor(co / cog);
          let s = b ? b[co] : 0;
          for (let kh = 0; kh < kH; kh++) {
            const ih = oh * a.strides[0] - a.pads[0] + kh * a.dilations[0];
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < kW; kw++) {
              const iw = ow * a.strides[1] - a.pads[1] + kw * a.dilations[1];
              if (iw < 0 || iw >= W) continue;
              for (let ci = 0; ci < cig; ci++) s += x[((n * H + ih) * W + iw) * C + grp * cig + ci] * w[((kh * kW + kw) * cig + ci) * Co + co];
            }
          }
          y[((n * oH + oh) * oW + ow) * Co + co] = s;
        }
  return { data: y, shape: [N, oH, oW, Co] };
}

/** Reference conv for autodiff: kernel zero-dilated explicitly, groups by split/concat, plain tf.conv2d. */
function refConv(w: tf.Tensor4D, a: ConvAttrs): (x: tf.Tensor) => tf.Tensor {
  const [kH, kW, ci, co] = w.shape;
  const [dH, dW] = a.dilations;
  const wv = w.dataSync();
  const eH = (kH - 1) * dH + 1,
    eW = (kW - 1) * dW + 1;
  const wd = new Float32Array(eH * eW * ci * co);
  for (let kh = 0; kh < kH; kh++)
    for (let kw = 0; kw < kW; kw++) for (let k = 0; k < ci * co; k++) wd[(kh * dH * eW + kw * dW) * ci * co + k] = wv[(kh * kW + kw) * ci * co + k];
  return (x) => {
    const wt = tf.tensor4d(wd, [eH, eW, ci, co]);
    const xs = a.group === 1 ? [x] : tf.split(x as tf.Tensor4D, a.group, 3);
    const ws = a.group === 1 ? [wt] : tf.split(wt, a.group, 3);
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [a.pads[0], a.pads[2]],
      [a.pads[1], a.pads[3]],
      [0, 0],
    ];
    return tf.concat(
      xs.map((xj, j) => tf.conv2d(xj as tf.Tensor4D, ws[j] as tf.Tensor4D, a.strides, pads)),
      3,
    );
  };
}

interface Case {
  name: string;
  x: number[];
  w: number[];
  a: ConvAttrs;
  bias?: boolean;
}
const cases: Case[] = [
  { name: '3x3 s1 p1 batch 2 + bias', x: [2, 5, 5, 3], w: [3, 3, 3, 4], a: conv([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'stride 2, asymmetric pads', x: [1, 7, 6, 3], w: [3, 3, 3, 4], a: conv([2, 2], [1, 0, 2, 1], [1, 1], 1) },
  { name: 'dilation 2', x: [1, 7, 7, 2], w: [3, 3, 2, 3], a: conv([1, 1], [2, 2, 2, 2], [2, 2], 1) },
  { name: 'stride 2 + dilation 2, 3x2 kernel', x: [1, 9, 8, 2], w: [3, 2, 2, 3], a: conv([2, 2], [1, 0, 1, 1], [2, 2], 1) },
  { name: 'groups 2, stride 2', x: [1, 6, 6, 4], w: [3, 3, 2, 6], a: conv([2, 2], [1, 1, 1, 1], [1, 1], 2), bias: true },
  { name: 'depthwise', x: [1, 5, 5, 3], w: [3, 3, 1, 3], a: conv([1, 1], [1, 1, 1, 1], [1, 1], 3) },
  { name: 'depthwise multiplier 2, stride 2, asymmetric pads', x: [2, 7, 6, 3], w: [3, 3, 1, 6], a: conv([2, 2], [0, 1, 1, 0], [1, 1], 3), bias: true },
  { name: 'depthwise multiplier 2, dilation 2, stride 2', x: [1, 9, 9, 2], w: [3, 3, 1, 4], a: conv([2, 2], [2, 1, 2, 2], [2, 2], 2) },
  { name: '1x1 stride 2 on odd input', x: [1, 5, 5, 3], w: [1, 1, 3, 2], a: conv([2, 2], [0, 0, 0, 0], [1, 1], 1) },
  { name: '5x5 stride 3 no pad', x: [1, 10, 9, 2], w: [5, 5, 2, 2], a: conv([3, 3], [0, 0, 0, 0], [1, 1], 1) },
  { name: '1x1 with pad 1 (pad larger than the kernel reach)', x: [1, 4, 4, 2], w: [1, 1, 2, 3], a: conv([1, 1], [1, 1, 1, 1], [1, 1], 1) },
];

for (const c of cases) {
  test(`Conv ${c.name}: forward vs naive loop, vjp vs autodiff and finite differences`, () => {
    const co = c.w[3];
    const x = rand(c.x, 1),
      w = rand(c.w, 2) as tf.Tensor4D,
      b = rand([co], 3);
    const ins = c.bias ? [x, w, b] : [x, w];
    const isConst = c.bias ? [false, true, true] : [false, true];
    const [out] = runForward('Conv', c.a, ins, isConst);
    const ref = naiveConv(x.dataSync(), c.x, w.dataSync(), c.w, c.a, c.bias ? b.dataSync() : undefined);
    assert.deepEqual(out.shape, ref.shape);
    assertClose(out.data, ref.data, 1e-5, 1e-6, 'forward');
    const h = makeContext('Conv', c.a, ins, isConst);
    assert.deepEqual(h.rule.inferShape!([c.x, c.w, [co]], h.ctx), [ref.shape]);
    assert.deepEqual(h.rule.inferShape!([[-1, ...c.x.slice(1)], c.w], h.ctx), [[-1, ...ref.shape.slice(1)]]);
    h.dispose();
    const r = refConv(w, c.a);
    checkVjp({ op: 'Conv', attrs: c.a, inputs: ins, isConst, ref: c.bias ? (xx) => tf.add(r(xx), b) : r });
    tf.dispose(ins);
  });
}

test('Conv forward and vjp also work without prepared kernels (weight not a constant)', () => {
  const a = conv([2, 2], [0, 1, 1, 0], [1, 1], 3);
  const x = rand([1, 6, 6, 3], 4),
    w = rand([3, 3, 1, 6], 5) as tf.Tensor4D;
  const h = makeContext('Conv', a, [x, w], [false, false]);
  const [y] = h.rule.forward([x, w], h.ctx);
  const ref = naiveConv(x.dataSync(), x.shape, w.dataSync(), w.shape, a);
  assertClose(y.dataSync(), ref.data, 1e-5, 1e-6, 'forward');
  const [dx, dw] = h.rule.vjp!({ inputs: [x, w], outputs: [y], dys: [tf.onesLike(y)] }, h.ctx);
  assert.equal(dw, null, 'weights never get a gradient');
  const ad = tf.grad((xx: tf.Tensor) => refConv(w, a)(xx))(x, tf.onesLike(y));
  assertClose(dx!.dataSync(), ad.dataSync(), 1e-4, 1e-6, 'dx');
  assert.deepEqual(h.rule.activationInputs!(h.ctx.node, h.ctx.graph), [0]);
  h.dispose();
});

// The tfjs kernels' own paths (the native path, where available, is checked in native-conv.test.ts).
test('strided dense Conv vjp and ConvTranspose forward: sub-pixel / 1x1 paths (prepared) = zero-insertion path (unprepared)', () =>
  withoutNative(() => {
    const geoms: Array<{ x: number[]; w: number[]; s: number; pads: Pads }> = [
      { x: [2, 9, 8, 3], w: [3, 3, 3, 4], s: 2, pads: [1, 0, 2, 1] },
      { x: [1, 11, 10, 2], w: [7, 7, 2, 3], s: 2, pads: [3, 3, 3, 3] },
      { x: [1, 10, 9, 2], w: [5, 4, 2, 2], s: 3, pads: [0, 2, 1, 0] },
      { x: [1, 7, 7, 3], w: [1, 1, 3, 2], s: 2, pads: [0, 0, 0, 0] },
      { x: [1, 6, 6, 2], w: [2, 2, 2, 2], s: 2, pads: [3, 2, 2, 3] },
    ];
    for (const gm of geoms) {
      const a = conv([gm.s, gm.s], gm.pads, [1, 1], 1);
      const x = rand(gm.x, 31),
        w = rand(gm.w, 32) as tf.Tensor4D;
      const results = [true, false].map((prepared) => {
        const h = makeContext('Conv', a, [x, w], [false, prepared]);
        assert.equal(!!h.ctx.prepared?.bsp, prepared && gm.w[0] * gm.w[1] > 1); // 1x1 mixes channels first instead
        const [y] = h.rule.forward([x, w], h.ctx);
        const dy = rand(y.shape, 33);
        const [dx] = h.rule.vjp!({ inputs: [x, w], outputs: [y], dys: [dy] }, h.ctx);
        const v = dx!.dataSync();
        tf.dispose([y, dy, dx!]);
        h.dispose();
        return v;
      });
      assertClose(results[0], results[1], 1e-5, 1e-6, `Conv ${JSON.stringify(gm)}`);
      // the same geometry as a transposed conv: weight [kH,kW,Cout,Cin] with Cin = x's channels
      const t = { ...a, outputPadding: [gm.s - 1, 0] as [number, number] };
      const wt = rand([gm.w[0], gm.w[1], 2, gm.x[3]], 34);
      const outs = [true, false].map((prepared) => {
        const h = makeContext('ConvTranspose', t, [x, wt], [false, prepared]);
        assert.equal(!!h.ctx.prepared?.tsp, prepared && gm.w[0] * gm.w[1] > 1);
        const [y] = h.rule.forward([x, wt], h.ctx);
        const v = { shape: y.shape, data: y.dataSync() };
        y.dispose();
        h.dispose();
        return v;
      });
      assert.deepEqual(outs[0].shape, outs[1].shape);
      assertClose(outs[0].data, outs[1].data, 1e-5, 1e-6, `ConvTranspose ${JSON.stringify(gm)}`);
      tf.dispose([x, w, wt]);
    }
  }));

/** y[n, ih·s−pt+kh·d, iw·s−pl+kw·d, grp·cog+co] += x[n,ih,iw,grp·cig+ci] · w[kh,kw,co,grp·cig+ci] */
function naiveConvTranspose(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], a: ConvTransposeAttrs) {
  const [N, H, W, Ci] = xs,
    [kH, kW, cog, wci] = ws;
  assert.equal(wci, Ci);
  const cig = Ci / a.group,
    Co = cog * a.group;
  const oH = (H - 1) * a.strides[0] - a.pads[0] - a.pads[2] + (kH - 1) * a.dilations[0] + 1 + a.outputPadding[0];
  const oW = (W - 1) * a.strides[1] - a.pads[1] - a.pads[3] + (kW - 1) * a.dilations[1] + 1 + a.outputPadding[1];
  const y = new Float64Array(N * oH * oW * Co);
  for (let n = 0; n < N; n++)
    for (let ih = 0; ih < H; ih++)
      for (let iw = 0; iw < W; iw++)
        for (let ci = 0; ci < Ci; ci++) {
          const grp = Math.floor(ci / cig);
          const xv = x[((n * H + ih) * W + iw) * Ci + ci];
          for (let kh = 0; kh < kH; kh++) {
            const oh = ih * a.strides[0] - a.pads[0] + kh * a.dilations[0];
            if (oh < 0 || oh >= oH) continue;
            for (let kw = 0; kw < kW; kw++) {
              const ow = iw * a.strides[1] - a.pads[1] + kw * a.dilations[1];
              if (ow < 0 || ow >= oW) continue;
              for (let co = 0; co < cog; co++) y[((n * oH + oh) * oW + ow) * Co + grp * cog + co] += xv * w[((kh * kW + kw) * cog + co) * Ci + ci];
            }
          }
        }
  return { data: y, shape: [N, oH, oW, Co] };
}

const ct = (strides: [number, number], pads: Pads, dilations: [number, number], group: number, outputPadding: [number, number]): ConvTransposeAttrs => ({
  strides,
  pads,
  dilations,
  group,
  outputPadding,
});
const tcases: Array<{ name: string; x: number[]; w: number[]; a: ConvTransposeAttrs; tfjs?: boolean }> = [
  { name: '3x3 s2 p1 output padding 1', x: [2, 4, 3, 3], w: [3, 3, 2, 3], a: ct([2, 2], [1, 1, 1, 1], [1, 1], 1, [1, 1]), tfjs: true },
  { name: '4x4 s2 asymmetric pads', x: [1, 3, 4, 2], w: [4, 4, 3, 2], a: ct([2, 2], [1, 2, 2, 1], [1, 1], 1, [0, 0]), tfjs: true },
  { name: 'groups 2, dilation 2, stride 2, output padding', x: [1, 4, 4, 4], w: [3, 3, 3, 4], a: ct([2, 2], [1, 0, 2, 1], [2, 2], 2, [1, 0]) },
  { name: 'depthwise-style (group = Cin), stride 3', x: [1, 3, 3, 2], w: [3, 3, 1, 2], a: ct([3, 3], [0, 0, 0, 0], [1, 1], 2, [2, 1]) },
  { name: 'pads beyond the kernel reach (crop)', x: [1, 5, 5, 2], w: [2, 2, 2, 2], a: ct([2, 2], [2, 2, 2, 1], [1, 1], 1, [0, 0]) },
];

for (const c of tcases) {
  test(`ConvTranspose ${c.name}: forward vs naive scatter loop, vjp vs ${c.tfjs ? 'autodiff of tf.conv2dTranspose and ' : ''}finite differences`, () => {
    const x = rand(c.x, 11),
      w = rand(c.w, 12) as tf.Tensor4D,
      b = rand([c.w[2] * c.a.group], 13);
    const ins = [x, w, b];
    const [out] = runForward('ConvTranspose', c.a, ins, [false, true, true]);
    const ref = naiveConvTranspose(x.dataSync(), c.x, w.dataSync(), c.w, c.a);
    const bv = b.dataSync();
    const refB = ref.data.map((v, i) => v + bv[i % bv.length]);
    assert.deepEqual(out.shape, ref.shape);
    assertClose(out.data, refB, 1e-5, 1e-6, 'forward');
    const h = makeContext('ConvTranspose', c.a, ins, [false, true, true]);
    assert.deepEqual(h.rule.inferShape!([c.x, c.w, [bv.length]], h.ctx), [ref.shape]);
    h.dispose();
    // tfjs' conv2dTranspose takes one output shape, no output padding per se: it is implied by the shape.
    const refFn = c.tfjs
      ? (xx: tf.Tensor) =>
          tf.add(
            tf.conv2dTranspose(xx as tf.Tensor4D, w, ref.shape as [number, number, number, number], c.a.strides, [
              [0, 0],
              [c.a.pads[0], c.a.pads[2]],
              [c.a.pads[1], c.a.pads[3]],
              [0, 0],
            ]),
            b,
          )
      : null;
    if (c.tfjs) {
      const direct = tf.tidy(() => refFn!(x).dataSync());
      assertClose(direct, refB, 1e-5, 1e-6, 'tf.conv2dTranspose agrees with the naive loop');
    }
    checkVjp({ op: 'ConvTranspose', attrs: c.a, inputs: ins, isConst: [false, true, true], ref: refFn, why: 'no tfjs op with groups/dilation' });
    tf.dispose(ins);
  });
}

test('Conv inferShape handles groups and dilation on an unknown batch', () => {
  const a = conv([2, 2], [1, 1, 1, 1], [2, 2], 2);
  const x = tf.zeros([1, 1, 1, 4]),
    w = tf.zeros([3, 3, 2, 8]);
  const h = makeContext('Conv', a, [x, w], [false, true]);
  assert.deepEqual(
    h.rule.inferShape!(
      [
        [-1, 224, 224, 4],
        [3, 3, 2, 8],
      ],
      h.ctx,
    ),
    [[-1, 111, 111, 8]],
  );
  h.dispose();
  tf.dispose([x, w]);
  assert.equal(sizeOf([2, 3]), 6);
});
