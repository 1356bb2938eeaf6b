/**
 * tfjs layers importer: a hand-written Keras functional model (JSON + weights written here) checked
 * against a naive float64 JS implementation of every layer; structure checks (other model shapes, more
 * layers and error cases: tfjs-layers-variants.test.ts).
 * Backend: cpu. Tolerance: |got − want| ≤ 1e-4 · max(1, |want|) (float32 vs float64 reference).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';
import { rng } from './helpers/rng.js';
import { assertClose, conv2d, inb, randW, writeLayersModel, type W } from './helpers/layers-model.js';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

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
  for (let i = 0; i < x.h; i++) for (let j = 0; j < x.w; j++) for (let c = 0; c < x.c; c++) y.d[((i + t) * y.w + j + l) * y.c + c] = at(x, i, j, c);
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

// ------------------------------------------------------------------ the tiny model

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
    {
      name: 'pool',
      class_name: 'MaxPooling2D',
      config: { name: 'pool', pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' },
      inbound_nodes: inb('leaky'),
    },
    {
      name: 'dw',
      class_name: 'DepthwiseConv2D',
      config: {
        name: 'dw',
        kernel_size: [3, 3],
        strides: [1, 1],
        padding: 'same',
        depth_multiplier: 2,
        activation: 'linear',
        use_bias: true,
        dilation_rate: [1, 1],
      },
      inbound_nodes: inb('pool'),
    },
    {
      name: 'zp',
      class_name: 'ZeroPadding2D',
      config: {
        name: 'zp',
        padding: [
          [1, 1],
          [1, 1],
        ],
        data_format: 'channels_last',
      },
      inbound_nodes: inb('pool'),
    },
    {
      name: 'sep',
      class_name: 'SeparableConv2D',
      config: {
        name: 'sep',
        filters: 8,
        kernel_size: [3, 3],
        strides: [1, 1],
        padding: 'valid',
        depth_multiplier: 1,
        activation: 'relu',
        use_bias: true,
        dilation_rate: [1, 1],
      },
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
      config: {
        name: 'tiny',
        layers,
        input_layers: [['input_1', 0, 0]],
        output_layers: [
          ['dense_out', 0, 0],
          ['dense_flat', 0, 0],
          ['avg', 0, 0],
        ],
      },
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
  const add = mapT(dw, (v, _c) => v);
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
    assert.deepEqual(byName.get('zp')?.attrs, {
      pads: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      mode: 'constant',
      value: 0,
    });
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
