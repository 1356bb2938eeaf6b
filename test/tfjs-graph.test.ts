/**
 * tfjs graph importer: a hand-written GraphDef (fused conv, clip_by_value ReLU6, explicit-padded
 * depthwise conv, constant folding incl. a Shape→StridedSlice→Pack→Reshape flatten, Mean, transposed
 * _FusedMatMul, MaxPool SAME, Identity output) checked against the same computation written directly
 * with tfjs ops (TF semantics: 'same' padding resolved by tfjs itself). Backend: cpu.
 * Tolerance: 1e-5 · max(1, |want|).
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
import { rng } from './helpers/rng.js';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (...v: number[]) => ({ list: { i: v.map(String) } });
const str = (s: string) => ({ s: b64(s) });
const T = { T: { type: 'DT_FLOAT' } };
const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

interface Wt {
  name: string;
  shape: number[];
  data: Float32Array;
}

function randW(name: string, shape: number[], r: () => number): Wt {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = r();
  return { name, shape, data };
}

/** Write a graph model (manifest weights float32) into a temp dir; returns model.json. */
function writeGraphModel(nodes: object[], weights: Wt[], signature?: object): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-tfjs-graph-'));
  const n = weights.reduce((a, w) => a + w.data.byteLength, 0);
  const all = new Uint8Array(n);
  let o = 0;
  for (const w of weights) {
    all.set(new Uint8Array(w.data.buffer), o);
    o += w.data.byteLength;
  }
  fs.writeFileSync(path.join(dir, 'weights.bin'), all);
  const json: Record<string, unknown> = {
    format: 'graph-model',
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  if (signature) json.signature = signature;
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

const constNode = (name: string, shape: number[], dtype = 'DT_FLOAT') => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
});

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
}

test('hand-written graph model: canonical mapping, folding and outputs match tfjs ops', async () => {
  const r = rng(11);
  const W = {
    w1: randW('w1', [3, 3, 2, 4], r),
    dw: randW('dw', [3, 3, 4, 2], r),
    scale_a: randW('scale_a', [8], r),
    bias2: randW('bias2', [8], r),
    fcw: randW('fcw', [3, 80], r),
    fcb: randW('fcb', [3], r),
  };
  const b1 = new Float32Array([0.1, -0.2, 0.3, 4]);
  const nodes = [
    { name: 'x', op: 'Placeholder', attr: { shape: { shape: dims([-1, 6, 6, 2]) }, dtype: { type: 'DT_FLOAT' } } },
    constNode('w1', [3, 3, 2, 4]),
    {
      name: 'b1',
      op: 'Const',
      attr: {
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims([4]), tensorContent: Buffer.from(b1.buffer).toString('base64') } },
        dtype: { type: 'DT_FLOAT' },
      },
    },
    {
      name: 'conv1',
      op: '_FusedConv2D',
      input: ['x', 'w1', 'b1'],
      attr: {
        ...T,
        strides: ints(1, 2, 2, 1),
        padding: str('SAME'),
        data_format: str('NHWC'),
        dilations: ints(1, 1, 1, 1),
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
        num_args: { i: '1' },
      },
    },
    { name: 'six', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [6] } } } },
    { name: 'zero', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [0] } } } },
    { name: 'min', op: 'Minimum', input: ['conv1', 'six'], attr: T },
    { name: 'max', op: 'Maximum', input: ['min', 'zero'], attr: T },
    constNode('dw', [3, 3, 4, 2]),
    {
      name: 'dconv',
      op: 'DepthwiseConv2dNative',
      input: ['max', 'dw', '^x'],
      attr: {
        ...T,
        strides: ints(1, 1, 1, 1),
        padding: str('EXPLICIT'),
        explicit_paddings: ints(0, 0, 1, 1, 1, 1, 0, 0),
        data_format: str('NHWC'),
        dilations: ints(1, 1, 1, 1),
      },
    },
    constNode('scale_a', [8]),
    { name: 'two', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [2] } } } },
    { name: 'scale', op: 'Mul', input: ['scale_a', 'two'], attr: T },
    { name: 'mul', op: 'Mul', input: ['scale', 'dconv'], attr: T },
    constNode('bias2', [8]),
    { name: 'badd', op: 'BiasAdd', input: ['mul', 'bias2'], attr: T },
    { name: 'shp', op: 'Shape', input: ['badd'], attr: { ...T, out_type: { type: 'DT_INT32' } } },
    { name: 'b0', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT32', tensorShape: dims([1]), intVal: [0] } } } },
    { name: 'b1e', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT32', tensorShape: dims([1]), intVal: [1] } } } },
    { name: 'ss', op: 'StridedSlice', input: ['shp', 'b0', 'b1e', 'b1e'], attr: { Index: { type: 'DT_INT32' }, shrink_axis_mask: { i: '1' } } },
    { name: 'm1', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT32', tensorShape: {}, intVal: [-1] } } } },
    { name: 'pk', op: 'Pack', input: ['ss', 'm1'], attr: { N: { i: '2' }, axis: { i: '0' } } },
    { name: 'rs', op: 'Reshape', input: ['badd', 'pk'], attr: T },
    constNode('axes', [2], 'DT_INT32'),
    { name: 'gap', op: 'Mean', input: ['badd', 'axes'], attr: { ...T, keep_dims: { b: false } } },
    { name: 'cax', op: 'Const', attr: { value: { tensor: { dtype: 'DT_INT32', tensorShape: {}, intVal: [-1] } } } },
    { name: 'cat', op: 'ConcatV2', input: ['rs', 'gap', 'cax'], attr: { ...T, N: { i: '2' } } },
    constNode('fcw', [3, 80]),
    constNode('fcb', [3]),
    {
      name: 'fc',
      op: '_FusedMatMul',
      input: ['cat', 'fcw', 'fcb'],
      attr: { ...T, transpose_a: { b: false }, transpose_b: { b: true }, fused_ops: { list: { s: [b64('BiasAdd')] } }, num_args: { i: '1' } },
    },
    { name: 'sm', op: 'Softmax', input: ['fc'], attr: T },
    { name: 'out', op: 'Identity', input: ['sm'], attr: T },
    {
      name: 'pool',
      op: 'MaxPool',
      input: ['max'],
      attr: { ...T, ksize: ints(1, 2, 2, 1), strides: ints(1, 2, 2, 1), padding: str('SAME'), data_format: str('NHWC') },
    },
    { name: 'unused', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [1] } } } },
  ];
  const axesW = { name: 'axes', shape: [2], data: new Float32Array(new Int32Array([1, 2]).buffer) };
  const file = writeGraphModel(nodes, [W.w1, W.dw, W.scale_a, W.bias2, axesW, W.fcw, W.fcb], {
    inputs: { 'x:0': { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 6, 6, 2]) } },
    outputs: { 'out:0': { name: 'out:0' }, pool: { name: 'pool' } },
  });
  // the manifest says float32 for 'axes'; make it int32 as the converter writes it
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  j.weightsManifest[0].weights[4].dtype = 'int32';
  fs.writeFileSync(file, JSON.stringify(j));

  const before = tf.memory().numTensors;
  const model = await loadModel(file);
  try {
    const g = model.graph;
    assert.equal(g.format, 'tfjs-graph');
    assert.deepEqual(g.inputs, [{ name: 'x', shape: [-1, 6, 6, 2], dtype: 'float32' }]);
    assert.deepEqual(g.outputs, ['out', 'pool']);
    assert.deepEqual(
      g.nodes.map((n) => `${n.name}:${n.op}`),
      [
        'conv1/conv:Conv',
        'max:Clip',
        'dconv:Conv',
        'mul:Mul',
        'badd:Add',
        'rs:Reshape',
        'gap/gap:GlobalAveragePool',
        'gap:Reshape',
        'cat:Concat',
        'fc:Gemm',
        'sm:Softmax',
        'out:Identity',
        'pool:MaxPool',
      ],
    );
    const by = new Map(g.nodes.map((n) => [n.name, n]));
    assert.deepEqual(by.get('conv1/conv')!.attrs, { strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], group: 1 });
    assert.deepEqual(by.get('conv1/conv')!.inputs, ['x', 'w1', 'b1']);
    assert.deepEqual(by.get('max')!.attrs, { min: 0, max: 6 });
    assert.equal(by.get('max')!.sourceOp, '_FusedConv2D+Minimum+Maximum');
    assert.deepEqual(by.get('dconv')!.attrs, { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 4 });
    assert.deepEqual(g.constants.get(by.get('dconv')!.inputs[1])!.shape, [3, 3, 1, 8]);
    assert.deepEqual(by.get('mul')!.inputs, ['dconv', 'scale']);
    assert.deepEqual(by.get('rs')!.attrs, { shape: [-1, 72] });
    assert.deepEqual(by.get('cat')!.attrs, { axis: 1 });
    assert.deepEqual(g.constants.get(by.get('fc')!.inputs[1])!.shape, [80, 3]);
    assert.deepEqual(by.get('pool')!.attrs, { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1], countIncludePad: false });
    assert.ok(!g.constants.has('unused') && !g.constants.has('shp') && !g.constants.has('pk'));
    assert.deepEqual(model.shapeOf('cat'), [-1, 80]);
    assert.deepEqual(model.shapeOf('out'), [-1, 3]);

    const xr = randW('x', [2, 6, 6, 2], rng(12));
    const x = tf.tensor4d(xr.data, [2, 6, 6, 2]);
    const rec = forward(model, x);
    const want = tf.tidy(() => {
      const conv = tf.relu(tf.add(tf.conv2d(x, tf.tensor4d(W.w1.data, [3, 3, 2, 4]), 2, 'same'), tf.tensor1d(b1)));
      const clip = tf.clipByValue(conv, 0, 6);
      const d = tf.depthwiseConv2d(clip as tf.Tensor4D, tf.tensor4d(W.dw.data, [3, 3, 4, 2]), 1, 'same');
      const badd = tf.add(tf.mul(d, tf.mul(tf.tensor1d(W.scale_a.data), 2)), tf.tensor1d(W.bias2.data));
      const cat = tf.concat([tf.reshape(badd, [2, 72]), tf.mean(badd, [1, 2])], 1);
      const fc = tf.add(tf.matMul(cat, tf.tensor2d(W.fcw.data, [3, 80]), false, true), tf.tensor1d(W.fcb.data));
      return [tf.softmax(fc), tf.maxPool(clip as tf.Tensor4D, 2, 2, 'same')];
    });
    assertClose(rec.get('out').dataSync(), want[0].dataSync(), 'out');
    assertClose(rec.get('pool').dataSync(), want[1].dataSync(), 'pool');
    rec.dispose();
    x.dispose();
    tf.dispose(want);
  } finally {
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'every weight is a graph constant or disposed');
});

test('unknown ops are kept (named by the TF op); loadModel reports node and op', async () => {
  const nodes = [
    { name: 'x', op: 'Placeholder', attr: { shape: { shape: dims([-1, 4]) }, dtype: { type: 'DT_FLOAT' } } },
    { name: 'atan', op: 'Atan', input: ['x'], attr: T },
    { name: 'y', op: 'Relu', input: ['atan'], attr: T },
  ];
  const file = writeGraphModel(nodes, []);
  const g = importGraph(file);
  assert.deepEqual(
    g.nodes.map((n) => `${n.name}:${n.op}`),
    ['atan:Atan', 'y:Relu'],
  );
  assert.deepEqual(g.outputs, ['y']);
  await assert.rejects(loadModel(file), /naflow does not support this op: Atan \(1 node: atan\); naflow inspect .* lists every node/);
});

test('NCHW graphs are refused with a clear error', async () => {
  const w = randW('w', [1, 1, 2, 2], rng(1));
  const nodes = [
    { name: 'x', op: 'Placeholder', attr: { shape: { shape: dims([-1, 2, 4, 4]) }, dtype: { type: 'DT_FLOAT' } } },
    constNode('w', [1, 1, 2, 2]),
    { name: 'c', op: 'Conv2D', input: ['x', 'w'], attr: { ...T, strides: ints(1, 1, 1, 1), padding: str('VALID'), data_format: str('NCHW') } },
  ];
  const file = writeGraphModel(nodes, [w]);
  await assert.rejects(loadModel(file), /node 'c' \(Conv2D\) uses data_format NCHW/);
});
