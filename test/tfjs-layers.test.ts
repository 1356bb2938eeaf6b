/**
 * tfjs layers importer: a hand-written Keras functional model (JSON + weights written here) checked
 * against a naive float64 JS implementation of every layer; structure checks; error cases.
 * Backend: cpu. Tolerance: |got − want| ≤ 1e-4 · max(1, |want|) (float32 vs float64 reference).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { importGraph, loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';
import { getOpRule } from '../src/ops/registry.js';
import { rng } from './helpers/rng.js';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

// ------------------------------------------------------------------ fixture writing

interface W {
  name: string;
  shape: number[];
  data: Float32Array;
}

function randW(name: string, shape: number[], r: () => number, lo = -1, hi = 1): W {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + ((r() + 1) / 2) * (hi - lo);
  return { name, shape, data };
}

/** Write model.json + one or two shards into a fresh temp dir; returns the model.json path. */
function writeLayersModel(topology: object, weights: W[], shards = 1): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-tfjs-layers-'));
  const total = weights.reduce((a, w) => a + w.data.byteLength, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const w of weights) {
    all.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), o);
    o += w.data.byteLength;
  }
  const paths: string[] = [];
  const cut = shards === 1 ? [total] : [Math.ceil(total / 2), total];
  let start = 0;
  cut.forEach((end, k) => {
    const p = `group1-shard${k + 1}of${cut.length}.bin`;
    fs.writeFileSync(path.join(dir, p), all.subarray(start, end));
    paths.push(p);
    start = end;
  });
  const json = {
    format: 'layers-model',
    modelTopology: topology,
    weightsManifest: [{ paths, weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

const inb = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];

// ------------------------------------------------------------------ naive reference (float64, NHWC, batch 1)

interface T3 {
  h: number;
  w: number;
  c: number;
  d: Float64Array;
}
const at = (t: T3, y: number, x: number, c: number) => t.d[(y * t.w + x) * t.c + c];
const mk = (h: number, w: number, c: number): T3 => ({ h, w, c, d: new Float64Array(h * w * c) });

/** Plain convolution with explicit pads; kernel HWIO [kh,kw,cin,cout] (group 1). */
function refConv(x: T3, k: W, bias: W | undefined, stride: number, pads: [number, number, number, number]): T3 {
  const [kh, kw, cin, cout] = k.shape;
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((x.h + pt + pb - kh) / stride) + 1;
  const ow = Math.floor((x.w + pl + pr - kw) / stride) + 1;
  const y = mk(oh, ow, cout);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let o = 0; o < cout; o++) {
        let s = bias ? bias.data[o] : 0;
        for (let a = 0; a < kh; a++)
          for (let b = 0; b < kw; b++) {
            const yy = i * stride + a - pt;
            const xx = j * stride + b - pl;
            if (yy < 0 || xx < 0 || yy >= x.h || xx >= x.w) continue;
            for (let c = 0; c < cin; c++) s += at(x, yy, xx, c) * k.data[((a * kw + b) * cin + c) * cout + o];
          }
        y.d[(i * ow + j) * cout + o] = s;
      }
  return y;
}

/** Keras depthwise conv: kernel [kh,kw,cin,mult], output channel c·mult + m. */
function refDepthwise(x: T3, k: W, bias: W | undefined, stride: number, pads: [number, number, number, number]): T3 {
  const [kh, kw, cin, mult] = k.shape;
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((x.h + pt + pb - kh) / stride) + 1;
  const ow = Math.floor((x.w + pl + pr - kw) / stride) + 1;
  const y = mk(oh, ow, cin * mult);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let c = 0; c < cin; c++)
        for (let m = 0; m < mult; m++) {
          let s = bias ? bias.data[c * mult + m] : 0;
          for (let a = 0; a < kh; a++)
            for (let b = 0; b < kw; b++) {
              const yy = i * stride + a - pt;
              const xx = j * stride + b - pl;
              if (yy < 0 || xx < 0 || yy >= x.h || xx >= x.w) continue;
              s += at(x, yy, xx, c) * k.data[((a * kw + b) * cin + c) * mult + m];
            }
          y.d[(i * ow + j) * cin * mult + c * mult + m] = s;
        }
  return y;
}

/** Max pool; padded cells never win (TF SAME semantics). */
function refMaxPool(x: T3, k: number, stride: number, pads: [number, number, number, number]): T3 {
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((x.h + pt + pb - k) / stride) + 1;
  const ow = Math.floor((x.w + pl + pr - k) / stride) + 1;
  const y = mk(oh, ow, x.c);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let c = 0; c < x.c; c++) {
        let m = -Infinity;
        for (let a = 0; a < k; a++)
          for (let b = 0; b < k; b++) {
            const yy = i * stride + a - pt;
            const xx = j * stride + b - pl;
            if (yy < 0 || xx < 0 || yy >= x.h || xx >= x.w) continue;
            m = Math.max(m, at(x, yy, xx, c));
          }
        y.d[(i * ow + j) * x.c + c] = m;
      }
  return y;
}

/** Average pool that excludes padded cells from the divisor (Keras 'same'). */
function refAvgPool(x: T3, k: number, stride: number, pads: [number, number, number, number]): T3 {
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((x.h + pt + pb - k) / stride) + 1;
  const ow = Math.floor((x.w + pl + pr - k) / stride) + 1;
  const y = mk(oh, ow, x.c);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let c = 0; c < x.c; c++) {
        let s = 0;
        let n = 0;
        for (let a = 0; a < k; a++)
          for (let b = 0; b < k; b++) {
            const yy = i * stride + a - pt;
            const xx = j * stride + b - pl;
            if (yy < 0 || xx < 0 || yy >= x.h || xx >= x.w) continue;
            s += at(x, yy, xx, c);
            n++;
          }
        y.d[(i * ow + j) * x.c + c] = s / n;
      }
  return y;
}

const mapT = (x: T3, f: (v: number, c: number) => number): T3 => {
  const y = mk(x.h, x.w, x.c);
  for (let i = 0; i < x.d.length; i++) y.d[i] = f(x.d[i], i % x.c);
  return y;
};

function refZeroPad(x: T3, t: number, b: number, l: number, r: number): T3 {
  const y = mk(x.h + t + b, x.w + l + r, x.c);
  for (let i = 0; i < x.h; i++)
    for (let j = 0; j < x.w; j++)
      for (let c = 0; c < x.c; c++) y.d[((i + t) * y.w + j + l) * y.c + c] = at(x, i, j, c);
  return y;
}

function refConcat(a: T3, b: T3): T3 {
  const y = mk(a.h, a.w, a.c + b.c);
  for (let i = 0; i < a.h; i++)
    for (let j = 0; j < a.w; j++) {
      for (let c = 0; c < a.c; c++) y.d[(i * a.w + j) * y.c + c] = at(a, i, j, c);
      for (let c = 0; c < b.c; c++) y.d[(i * a.w + j) * y.c + a.c + c] = at(b, i, j, c);
    }
  return y;
}

function refDense(x: ArrayLike<number>, k: W, b: W): number[] {
  const [nin, nout] = k.shape;
  const y: number[] = [];
  for (let o = 0; o < nout; o++) {
    let s = b.data[o];
    for (let i = 0; i < nin; i++) s += x[i] * k.data[i * nout + o];
    y.push(s);
  }
  return y;
}

function softmax(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((a) => Math.exp(a - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((a) => a / s);
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

// ------------------------------------------------------------------ the tiny model

function conv2d(name: string, filters: number, k: number, stride: number, padding: string, activation: string, useBias: boolean, input: string) {
  return {
    name,
    class_name: 'Conv2D',
    config: {
      name,
      filters,
      kernel_size: [k, k],
      strides: [stride, stride],
      padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      activation,
      use_bias: useBias,
    },
    inbound_nodes: inb(input),
  };
}

function tinyModel() {
  const r = rng(42);
  const W = {
    conv_k: randW('conv_a/kernel', [3, 3, 3, 4], r),
    conv_b: randW('conv_a/bias', [4], r),
    bn_g: randW('bn/gamma', [4], r, 0.5, 1.5),
    bn_b: randW('bn/beta', [4], r),
    bn_m: randW('bn/moving_mean', [4], r),
    bn_v: randW('bn/moving_variance', [4], r, 0.5, 2),
    dw_k: randW('dw/depthwise_kernel', [3, 3, 4, 2], r),
    dw_b: randW('dw/bias', [8], r),
    sep_dk: randW('sep/depthwise_kernel', [3, 3, 4, 1], r),
    sep_pk: randW('sep/pointwise_kernel', [1, 1, 4, 8], r),
    sep_b: randW('sep/bias', [8], r),
    dense_k: randW('dense_out/kernel', [16, 3], r),
    dense_b: randW('dense_out/bias', [3], r),
    flat_k: randW('dense_flat/kernel', [144, 5], r),
    flat_b: randW('dense_flat/bias', [5], r),
  };
  const layers = [
    { name: 'input_1', class_name: 'InputLayer', config: { name: 'input_1', batch_input_shape: [null, 12, 12, 3], dtype: 'float32' }, inbound_nodes: [] },
    conv2d('conv_a', 4, 3, 2, 'same', 'relu', true, 'input_1'),
    { name: 'bn', class_name: 'BatchNormalization', config: { name: 'bn', axis: -1, epsilon: 0.001, center: true, scale: true }, inbound_nodes: inb('conv_a') },
    { name: 'leaky', class_name: 'LeakyReLU', config: { name: 'leaky', alpha: 0.1 }, inbound_nodes: inb('bn') },
    { name: 'pool', class_name: 'MaxPooling2D', config: { name: 'pool', pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' }, inbound_nodes: inb('leaky') },
    {
      name: 'dw',
      class_name: 'DepthwiseConv2D',
      config: { name: 'dw', kernel_size: [3, 3], strides: [1, 1], padding: 'same', depth_multiplier: 2, activation: 'linear', use_bias: true, dilation_rate: [1, 1] },
      inbound_nodes: inb('pool'),
    },
    { name: 'zp', class_name: 'ZeroPadding2D', config: { name: 'zp', padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, inbound_nodes: inb('pool') },
    {
      name: 'sep',
      class_name: 'SeparableConv2D',
      config: { name: 'sep', filters: 8, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', depth_multiplier: 1, activation: 'relu', use_bias: true, dilation_rate: [1, 1] },
      inbound_nodes: inb('zp'),
    },
    { name: 'add', class_name: 'Add', config: { name: 'add' }, inbound_nodes: inb('dw', 'sep') },
    { name: 'cat', class_name: 'Concatenate', config: { name: 'cat', axis: -1 }, inbound_nodes: inb('add', 'dw') },
    { name: 'gap', class_name: 'GlobalAveragePooling2D', config: { name: 'gap', data_format: 'channels_last' }, inbound_nodes: inb('cat') },
    { name: 'dense_out', class_name: 'Dense', config: { name: 'dense_out', units: 3, activation: 'softmax', use_bias: true }, inbound_nodes: inb('gap') },
    { name: 'reshape', class_name: 'Reshape', config: { name: 'reshape', target_shape: [9, 16] }, inbound_nodes: inb('cat') },
    { name: 'flatten', class_name: 'Flatten', config: { name: 'flatten', data_format: 'channels_last' }, inbound_nodes: inb('reshape') },
    { name: 'drop', class_name: 'Dropout', config: { name: 'drop', rate: 0.5 }, inbound_nodes: inb('flatten') },
    { name: 'dense_flat', class_name: 'Dense', config: { name: 'dense_flat', units: 5, activation: 'linear', use_bias: true }, inbound_nodes: inb('drop') },
    { name: 'avg', class_name: 'AveragePooling2D', config: { name: 'avg', pool_size: [2, 2], strides: [2, 2], padding: 'same' }, inbound_nodes: inb('cat') },
  ];
  const topology = {
    keras_version: '2.1.6',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Model',
      config: { name: 'tiny', layers, input_layers: [['input_1', 0, 0]], output_layers: [['dense_out', 0, 0], ['dense_flat', 0, 0], ['avg', 0, 0]] },
    },
  };
  return { topology, W };
}

/** Reference forward of the tiny model on input x [12,12,3]. */
function tinyReference(x: T3, W: ReturnType<typeof tinyModel>['W']) {
  // conv_a: 3×3 stride 2 SAME on 12: out 6, total pad max((6−1)·2+3−12, 0) = 1 → top/left 0, bottom/right 1
  const conv = mapT(refConv(x, W.conv_k, W.conv_b, 2, [0, 0, 1, 1]), (v) => Math.max(v, 0));
  const bn = mapT(conv, (v, c) => ((v - W.bn_m.data[c]) / Math.sqrt(W.bn_v.data[c] + 0.001)) * W.bn_g.data[c] + W.bn_b.data[c]);
  const leaky = mapT(bn, (v) => (v >= 0 ? v : 0.1 * v));
  // pool: 3×3 stride 2 SAME on 6: out 3, total pad max(2·2+3−6, 0) = 1 → 0 / 1
  const pool = refMaxPool(leaky, 3, 2, [0, 0, 1, 1]);
  // dw: 3×3 stride 1 SAME: pad 1 each side
  const dw = refDepthwise(pool, W.dw_k, W.dw_b, 1, [1, 1, 1, 1]);
  const zp = refZeroPad(pool, 1, 1, 1, 1);
  const sepD = refDepthwise(zp, W.sep_dk, undefined, 1, [0, 0, 0, 0]);
  const sep = mapT(refConv(sepD, W.sep_pk, W.sep_b, 1, [0, 0, 0, 0]), (v) => Math.max(v, 0));
  const add = mapT(dw, (v, c) => v);
  for (let i = 0; i < add.d.length; i++) add.d[i] += sep.d[i];
  const cat = refConcat(add, dw);
  const gap = new Array(cat.c).fill(0);
  for (let i = 0; i < cat.d.length; i++) gap[i % cat.c] += cat.d[i] / (cat.h * cat.w);
  const denseOut = softmax(refDense(gap, W.dense_k, W.dense_b));
  const denseFlat = refDense(cat.d, W.flat_k, W.flat_b); // Keras Flatten of NHWC = row-major [H,W,C]
  // avg: 2×2 stride 2 SAME on 3: out 2, total pad max(1·2+2−3, 0) = 1 → 0 / 1, padding excluded
  const avg = refAvgPool(cat, 2, 2, [0, 0, 1, 1]);
  return { conv, pool, dw, sep, cat, denseOut, denseFlat, avg };
}

test('tiny Keras functional model: structure and outputs match a naive reference', async () => {
  const { topology, W } = tinyModel();
  const file = writeLayersModel(topology, Object.values(W), 2);
  const model = await loadModel(file);
  try {
    const g = model.graph;
    assert.equal(g.format, 'tfjs-layers');
    assert.deepEqual(g.inputs, [{ name: 'input_1', shape: [-1, 12, 12, 3], dtype: 'float32' }]);
    assert.deepEqual(g.outputs, ['dense_out', 'dense_flat', 'avg']);
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    // Conv2D(activation=relu) → Conv 'conv_a/conv' + Relu 'conv_a'
    assert.equal(byName.get('conv_a/conv')?.op, 'Conv');
    assert.deepEqual(byName.get('conv_a/conv')?.attrs, { strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], group: 1 });
    assert.equal(byName.get('conv_a')?.op, 'Relu');
    assert.equal(byName.get('conv_a')?.sourceOp, 'Conv2D');
    assert.deepEqual(byName.get('pool')?.attrs, { kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], countIncludePad: false });
    // depthwise: weight [3,3,1,8], group = Cin = 4
    const dw = byName.get('dw')!;
    assert.equal(dw.op, 'Conv');
    assert.equal((dw.attrs as { group: number }).group, 4);
    assert.deepEqual(g.constants.get(dw.inputs[1])!.shape, [3, 3, 1, 8]);
    // separable → depthwise Conv + 1×1 Conv + Relu
    assert.equal(byName.get('sep/depthwise')?.op, 'Conv');
    assert.equal(byName.get('sep/pointwise')?.op, 'Conv');
    assert.equal(byName.get('sep')?.op, 'Relu');
    assert.equal(byName.get('gap/pool')?.op, 'GlobalAveragePool');
    assert.deepEqual(byName.get('gap')?.attrs, { shape: [-1, 16] });
    assert.equal(byName.get('dense_out/dense')?.op, 'Gemm');
    assert.equal(byName.get('dense_out')?.op, 'Softmax');
    assert.equal(byName.get('dense_flat')?.op, 'Gemm');
    assert.equal(byName.get('drop')?.op, 'Dropout');
    assert.deepEqual(byName.get('reshape')?.attrs, { shape: [-1, 9, 16] });
    assert.deepEqual(byName.get('zp')?.attrs, { pads: [[0, 0], [1, 1], [1, 1], [0, 0]], mode: 'constant', value: 0 });
    assert.deepEqual(model.shapeOf('cat'), [-1, 3, 3, 16]);
    assert.deepEqual(model.shapeOf('dense_flat'), [-1, 5]);
    assert.deepEqual(model.shapeOf('avg'), [-1, 2, 2, 16]);

    const r = rng(7);
    const xin = randW('x', [12, 12, 3], r);
    const x: T3 = { h: 12, w: 12, c: 3, d: Float64Array.from(xin.data) };
    const want = tinyReference(x, W);
    const input = tf.tensor4d(xin.data, [1, 12, 12, 3]);
    const rec = forward(model, input, { outputs: ['conv_a', 'pool', 'dw', 'sep', 'cat', 'dense_out', 'dense_flat', 'avg'] });
    try {
      assertClose(rec.get('conv_a').dataSync(), want.conv.d, 'conv_a');
      assertClose(rec.get('pool').dataSync(), want.pool.d, 'pool');
      assertClose(rec.get('dw').dataSync(), want.dw.d, 'dw');
      assertClose(rec.get('sep').dataSync(), want.sep.d, 'sep');
      assertClose(rec.get('cat').dataSync(), want.cat.d, 'cat');
      assertClose(rec.get('dense_out').dataSync(), want.denseOut, 'dense_out');
      assertClose(rec.get('dense_flat').dataSync(), want.denseFlat, 'dense_flat');
      assertClose(rec.get('avg').dataSync(), want.avg.d, 'avg');
    } finally {
      rec.dispose();
      input.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('Sequential model without InputLayer, ReLU(max_value) → Clip, activations, BatchNorm without center/scale', async () => {
  const r = rng(3);
  const k = randW('c/kernel', [1, 1, 2, 2], r);
  const layers = [
    { class_name: 'Conv2D', config: { name: 'c', filters: 2, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', activation: 'swish', use_bias: false, batch_input_shape: [null, 2, 2, 2] } },
    { class_name: 'ReLU', config: { name: 'r6', max_value: 6, negative_slope: 0, threshold: 0 } },
    { class_name: 'Activation', config: { name: 'hs', activation: 'hard_sigmoid' } },
    { class_name: 'BatchNormalization', config: { name: 'bn0', axis: 3, epsilon: 0.5, center: false, scale: false } },
  ];
  const mean = { name: 'bn0/moving_mean', shape: [2], data: new Float32Array([0.25, -0.5]) };
  const vari = { name: 'bn0/moving_variance', shape: [2], data: new Float32Array([1.5, 3.5]) };
  const file = writeLayersModel({ class_name: 'Sequential', config: { name: 'seq', layers } }, [k, mean, vari]);
  const model = await loadModel(file);
  try {
    const g = model.graph;
    assert.equal(g.inputs[0].name, 'c_input');
    const ops = g.nodes.map((n) => `${n.name}:${n.op}`);
    assert.deepEqual(ops, ['c/conv:Conv', 'c/sigmoid:Sigmoid', 'c:Mul', 'r6:Clip', 'hs:HardSigmoid', 'bn0:BatchNormalization']);
    assert.deepEqual(g.nodes[3].attrs, { min: 0, max: 6 });
    const xv = [0.5, -1, 2, 3, -4, 1, 0, 2];
    const x = tf.tensor4d(xv, [1, 2, 2, 2]);
    const y = forward(model, x);
    const got = y.outputs[0].dataSync();
    const want: number[] = [];
    for (let p = 0; p < 4; p++)
      for (let o = 0; o < 2; o++) {
        let s = 0;
        for (let c = 0; c < 2; c++) s += xv[p * 2 + c] * k.data[c * 2 + o];
        const sw = s / (1 + Math.exp(-s));
        const r6 = Math.min(Math.max(sw, 0), 6);
        const hs = Math.min(Math.max(0.2 * r6 + 0.5, 0), 1);
        want.push((hs - mean.data[o]) / Math.sqrt(vari.data[o] + 0.5));
      }
    assertClose(got, want, 'seq');
    y.dispose();
    x.dispose();
  } finally {
    model.dispose();
  }
});

test('nested functional model is flattened with prefixed names', async () => {
  const r = rng(5);
  const k = randW('inner_conv/kernel', [1, 1, 1, 1], r);
  const inner = {
    name: 'inner',
    class_name: 'Model',
    config: {
      name: 'inner',
      layers: [
        { name: 'inner_in', class_name: 'InputLayer', config: { name: 'inner_in', batch_input_shape: [null, 2, 2, 1] }, inbound_nodes: [] },
        { ...conv2d('inner_conv', 1, 1, 1, 'valid', 'relu', false, 'inner_in') },
      ],
      input_layers: [['inner_in', 0, 0]],
      output_layers: [['inner_conv', 0, 0]],
    },
    inbound_nodes: inb('outer_in'),
  };
  const layers = [
    { name: 'outer_in', class_name: 'InputLayer', config: { name: 'outer_in', batch_input_shape: [null, 2, 2, 1] }, inbound_nodes: [] },
    inner,
    { name: 'out', class_name: 'Flatten', config: { name: 'out' }, inbound_nodes: inb('inner') },
  ];
  const file = writeLayersModel(
    { class_name: 'Functional', config: { name: 'outer', layers, input_layers: [['outer_in', 0, 0]], output_layers: [['out', 0, 0]] } },
    [k],
  );
  const model = await loadModel(file);
  try {
    assert.deepEqual(
      model.graph.nodes.map((n) => n.name),
      ['inner/inner_conv/conv', 'inner/inner_conv', 'out'],
    );
    const x = tf.tensor4d([1, -2, 3, -4], [1, 2, 2, 1]);
    const y = forward(model, x);
    assertClose(y.outputs[0].dataSync(), [1, -2, 3, -4].map((v) => Math.max(v * k.data[0], 0)), 'nested');
    y.dispose();
    x.dispose();
  } finally {
    model.dispose();
  }
});

test('unknown layer class imports as a node; loadModel names the layer and class', async () => {
  const r = rng(9);
  const k = randW('c1/kernel', [1, 1, 1, 1], r);
  const layers = [
    { name: 'in', class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4, 4, 1] }, inbound_nodes: [] },
    conv2d('c1', 1, 1, 1, 'valid', 'linear', false, 'in'),
    { name: 'custom_1', class_name: 'MyCustomLayer', config: { name: 'custom_1', factor: 3 }, inbound_nodes: inb('c1') },
    // needs a shape after the unknown layer: kept as an unknown node too, no throw
    conv2d('c2', 1, 1, 2, 'same', 'linear', false, 'custom_1'),
    // a second output of the unknown layer
    { name: 'flat', class_name: 'Flatten', config: { name: 'flat' }, inbound_nodes: [[['custom_1', 0, 1, {}]]] },
  ];
  const k2 = randW('c2/kernel', [1, 1, 1, 1], r);
  const file = writeLayersModel(
    { class_name: 'Model', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['c2', 0, 0], ['flat', 0, 0]] } },
    [k, k2],
  );
  const g = importGraph(file);
  try {
    const custom = g.nodes.find((n) => n.name === 'custom_1')!;
    assert.equal(custom.op, 'MyCustomLayer');
    assert.equal(custom.sourceOp, 'MyCustomLayer');
    assert.deepEqual(custom.inputs, ['c1']);
    assert.equal((custom.attrs as { factor: number }).factor, 3);
    assert.deepEqual(custom.outputs, ['custom_1', 'custom_1:1']);
    assert.deepEqual(g.nodes.find((n) => n.name === 'flat')!.inputs, ['custom_1:1']);
    // stride-2 'same' conv after it needs the unknown input size: kept as an unknown node as well
    assert.equal(g.nodes.find((n) => n.name === 'c2')!.op, 'Conv2D');
  } finally {
    for (const t of g.constants.values()) t.dispose();
  }
  await assert.rejects(loadModel(file), (e: Error) => {
    assert.match(e.message, /custom_1/);
    assert.match(e.message, /MyCustomLayer/);
    assert.match(e.message, /does not support/);
    return true;
  });
});

test('layer errors: channels_first, ReLU threshold, missing weight; unsupported activation is named', async () => {
  const inLayer = { name: 'in', class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4, 4, 1] }, inbound_nodes: [] };
  const model = (l: object, weights: W[] = []) =>
    writeLayersModel({ class_name: 'Model', config: { name: 'm', layers: [inLayer, l], input_layers: [['in', 0, 0]], output_layers: [['x', 0, 0]] } }, weights);
  const k = randW('x/kernel', [1, 1, 1, 1], rng(1));

  const cf = model({ ...conv2d('x', 1, 1, 1, 'valid', 'linear', false, 'in'), config: { ...conv2d('x', 1, 1, 1, 'valid', 'linear', false, 'in').config, data_format: 'channels_first' } }, [k]);
  await assert.rejects(loadModel(cf), /layer 'x' \(Conv2D\).*channels_first/);

  const thr = model({ name: 'x', class_name: 'ReLU', config: { name: 'x', threshold: 0.5 }, inbound_nodes: inb('in') });
  await assert.rejects(loadModel(thr), /layer 'x' \(ReLU\): threshold 0\.5/);

  const noW = model(conv2d('x', 1, 1, 1, 'valid', 'linear', false, 'in'));
  await assert.rejects(loadModel(noW), /layer 'x' \(Conv2D\) needs weight 'x\/kernel'/);

  const elu = model(conv2d('x', 1, 1, 1, 'valid', 'elu', false, 'in'), [k]);
  const g = importGraph(elu);
  assert.deepEqual(
    g.nodes.map((n) => `${n.name}:${n.op}`),
    ['x/conv:Conv', 'x:Elu'],
  );
  for (const t of g.constants.values()) t.dispose();
  if (getOpRule('Elu')) (await loadModel(elu)).dispose();
  else await assert.rejects(loadModel(elu), /node 'x' uses op 'Conv2D\(activation='elu'\)', which naflow does not support/);
});

test('more layers (Keras 3 inbound format): PReLU, Cropping2D, UpSampling2D, Subtract/Multiply/Average, Dense on rank 4, GlobalMaxPooling2D keepdims, Rescaling, Softmax, Permute', async () => {
  const r = rng(21);
  const alpha = randW('prelu/alpha', [1, 1, 2], r);
  const dk = randW('dense4/kernel', [2, 3], r);
  const db = randW('dense4/bias', [3], r);
  const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null], dtype: 'float32', keras_history: [name, 0, 0] } });
  const call = (...names: string[]) => [{ args: names.length === 1 ? [kt(names[0])] : [names.map(kt)], kwargs: {} }];
  const layers = [
    { name: 'in', class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 4, 4, 2], dtype: 'float32' }, inbound_nodes: [] },
    { name: 'resc', class_name: 'Rescaling', config: { name: 'resc', scale: 2, offset: -1 }, inbound_nodes: call('in') },
    { name: 'prelu', class_name: 'PReLU', config: { name: 'prelu', shared_axes: [1, 2] }, inbound_nodes: call('resc') },
    { name: 'crop', class_name: 'Cropping2D', config: { name: 'crop', cropping: [[1, 0], [0, 1]] }, inbound_nodes: call('prelu') },
    { name: 'up', class_name: 'UpSampling2D', config: { name: 'up', size: [2, 2], interpolation: 'nearest' }, inbound_nodes: call('crop') },
    { name: 'crop2', class_name: 'Cropping2D', config: { name: 'crop2', cropping: 1 }, inbound_nodes: call('up') },
    { name: 'leaky', class_name: 'LeakyReLU', config: { name: 'leaky', negative_slope: 0.2 }, inbound_nodes: call('crop2') },
    { name: 'act', class_name: 'Activation', config: { name: 'act', activation: 'tanh' }, inbound_nodes: call('crop2') },
    { name: 'sub', class_name: 'Subtract', config: { name: 'sub' }, inbound_nodes: call('leaky', 'act') },
    { name: 'mulx', class_name: 'Multiply', config: { name: 'mulx' }, inbound_nodes: call('sub', 'act', 'leaky') },
    { name: 'avg', class_name: 'Average', config: { name: 'avg' }, inbound_nodes: call('mulx', 'sub') },
    { name: 'dense4', class_name: 'Dense', config: { name: 'dense4', units: 3, activation: 'relu6', use_bias: true }, inbound_nodes: call('avg') },
    { name: 'gmp', class_name: 'GlobalMaxPooling2D', config: { name: 'gmp', keepdims: true }, inbound_nodes: call('dense4') },
    { name: 'sm', class_name: 'Softmax', config: { name: 'sm', axis: -1 }, inbound_nodes: call('gmp') },
    { name: 'perm', class_name: 'Permute', config: { name: 'perm', dims: [3, 1, 2] }, inbound_nodes: call('dense4') },
  ];
  const file = writeLayersModel(
    { class_name: 'Functional', config: { name: 'k3', layers, input_layers: [['in', 0, 0]], output_layers: [['sm', 0, 0], ['perm', 0, 0]] } },
    [alpha, dk, db],
  );
  const model = await loadModel(file);
  try {
    assert.deepEqual(model.shapeOf('crop'), [-1, 3, 3, 2]);
    assert.deepEqual(model.shapeOf('up'), [-1, 6, 6, 2]);
    assert.deepEqual(model.shapeOf('crop2'), [-1, 4, 4, 2]);
    assert.deepEqual(model.shapeOf('dense4'), [-1, 4, 4, 3]);
    assert.deepEqual(model.shapeOf('sm'), [-1, 1, 1, 3]);
    assert.deepEqual(model.shapeOf('perm'), [-1, 3, 4, 4]);
    const xr = randW('x', [1, 4, 4, 2], rng(22));
    const x = tf.tensor4d(xr.data, [1, 4, 4, 2]);
    const rec = forward(model, x);
    const want = tf.tidy(() => {
      const resc = tf.sub(tf.mul(x, 2), 1);
      const pr = tf.prelu(resc, tf.tensor3d(alpha.data, [1, 1, 2]));
      const crop = tf.slice(pr, [0, 1, 0, 0], [1, 3, 3, 2]);
      const up = tf.image.resizeNearestNeighbor(crop as tf.Tensor4D, [6, 6]);
      const crop2 = tf.slice(up, [0, 1, 1, 0], [1, 4, 4, 2]);
      const leaky = tf.leakyRelu(crop2, 0.2);
      const act = tf.tanh(crop2);
      const sub = tf.sub(leaky, act);
      const mulx = tf.mul(tf.mul(sub, act), leaky);
      const avg = tf.div(tf.add(mulx, sub), 2);
      const d = tf.clipByValue(tf.add(tf.reshape(tf.matMul(tf.reshape(avg, [16, 2]), tf.tensor2d(dk.data, [2, 3])), [1, 4, 4, 3]), tf.tensor1d(db.data)), 0, 6);
      return [tf.softmax(tf.max(d, [1, 2], true)), tf.transpose(d, [0, 3, 1, 2])];
    });
    assertClose(rec.outputs[0].dataSync(), want[0].dataSync(), 'sm', 1e-5);
    assertClose(rec.outputs[1].dataSync(), want[1].dataSync(), 'perm', 1e-5);
    tf.dispose(want);
    rec.dispose();
    x.dispose();
  } finally {
    model.dispose();
  }
});
