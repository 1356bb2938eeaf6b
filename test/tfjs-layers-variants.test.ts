/**
 * tfjs layers importer, beyond the tiny functional model: Sequential models without an InputLayer, nested
 * models flattened with prefixed names, unknown layer classes kept as nodes, layer errors that name the
 * layer, and more layers in the Keras 3 inbound format, each against a float64 or tfjs reference.
 * Backend: cpu. Tolerance: |got − want| ≤ 1e-4 · max(1, |want|) unless stated.
 */
import '../src/node/register.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { importGraph, loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';
import { rng } from './helpers/rng.js';
import { assertClose, conv2d, inb, randW, writeLayersModel, type W } from './helpers/layers-model.js';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

test('Sequential model without InputLayer, ReLU(max_value) → Clip, activations, BatchNorm without center/scale', async () => {
  const r = rng(3);
  const k = randW('c/kernel', [1, 1, 2, 2], r);
  const layers = [
    {
      class_name: 'Conv2D',
      config: {
        name: 'c',
        filters: 2,
        kernel_size: [1, 1],
        strides: [1, 1],
        padding: 'valid',
        activation: 'swish',
        use_bias: false,
        batch_input_shape: [null, 2, 2, 2],
      },
    },
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
    assertClose(
      y.outputs[0].dataSync(),
      [1, -2, 3, -4].map((v) => Math.max(v * k.data[0], 0)),
      'nested',
    );
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
    {
      class_name: 'Model',
      config: {
        name: 'm',
        layers,
        input_layers: [['in', 0, 0]],
        output_layers: [
          ['c2', 0, 0],
          ['flat', 0, 0],
        ],
      },
    },
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

  const cf = model(
    {
      ...conv2d('x', 1, 1, 1, 'valid', 'linear', false, 'in'),
      config: { ...conv2d('x', 1, 1, 1, 'valid', 'linear', false, 'in').config, data_format: 'channels_first' },
    },
    [k],
  );
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
  // Elu has a rule (src/ops/elu.ts): the model loads
  (await loadModel(elu)).dispose();
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
    {
      name: 'crop',
      class_name: 'Cropping2D',
      config: {
        name: 'crop',
        cropping: [
          [1, 0],
          [0, 1],
        ],
      },
      inbound_nodes: call('prelu'),
    },
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
    {
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers,
        input_layers: [['in', 0, 0]],
        output_layers: [
          ['sm', 0, 0],
          ['perm', 0, 0],
        ],
      },
    },
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
