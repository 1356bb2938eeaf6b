/**
 * The cascade refuses, with the node and op named, what it cannot explain: an op without an inverse
 * rule inside the trunk (never a silent identity), a trunk end that is not a feature map, and a class
 * index out of range; and explains a single-score model's logit.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import type { Model } from '../src/engine/model.js';
import { node, testModel } from './helpers/graph.js';
import { runCascade } from '../src/naflow/cascade.js';
import '../src/ops/index.js';

const conv = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };

function model(): Model {
  return testModel(
    'softmax-in-trunk.test',
    [1, 4, 4, 2],
    [
      node('conv1', 'Conv', ['x', 'w1'], conv),
      node('channel_softmax', 'Softmax', ['conv1'], { axis: 3 }),
      node('conv2', 'Conv', ['channel_softmax', 'w2'], conv),
      node('gap', 'GlobalAveragePool', ['conv2']),
      node('flat', 'Reshape', ['gap'], { shape: [1, 3] }),
      node('logits', 'Gemm', ['flat', 'wd', 'bd'], { alpha: 1, beta: 1 }),
    ],
    [
      ['w1', tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 1)],
      ['w2', tf.randomNormal([3, 3, 3, 3], 0, 1, 'float32', 2)],
      ['wd', tf.randomNormal([3, 5], 0, 1, 'float32', 3)],
      ['bd', tf.zeros([5])],
    ],
  );
}

test('an op without an inverse inside the trunk is an error naming the node and the op', async () => {
  await initBackend({ backend: 'cpu' });
  const m = model();
  const x = tf.randomUniform([1, 4, 4, 2], 0, 1, 'float32', 4);
  const before = tf.memory().numTensors;
  assert.throws(
    () => runCascade(m, x, { mode: 'paper' }),
    /node 'channel_softmax' \(op Softmax\) is in the convolutional trunk, and naflow has no inverse rule for it/,
  );
  assert.equal(tf.memory().numTensors, before, 'nothing leaks on the error path');
  // Reference mode inverts nothing, so the same model explains (B = A ⊙ mask everywhere).
  const flow = runCascade(m, x, { mode: 'reference' });
  assert.deepEqual(
    flow.layers.map((l) => l.name),
    ['conv1', 'channel_softmax', 'conv2'],
  );
  assert.equal(flow.trunkEnd, 'conv2');
  assert.throws(() => runCascade(m, x, { trunkEnd: 'flat' }), /trunk end 'flat' is not a rank-4 \(NHWC\) tensor/);
  assert.throws(() => runCascade(m, x, { classIndex: 5 }), /class 5 is out of range: the model scores 5 classes/);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  m.dispose();
});

test('a single-score model (final Sigmoid) explains its logit, S itself', async () => {
  await initBackend({ backend: 'cpu' });
  const m = testModel(
    'binary.test',
    [1, 4, 4, 2],
    [
      node('conv1', 'Conv', ['x', 'w1'], conv),
      node('relu1', 'Relu', ['conv1']),
      node('gap', 'GlobalAveragePool', ['relu1']),
      node('flat', 'Reshape', ['gap'], { shape: [1, 3] }),
      node('logit', 'Gemm', ['flat', 'wd', 'bd'], { alpha: 1, beta: 1 }),
      node('prob', 'Sigmoid', ['logit']),
    ],
    [
      ['w1', tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 5)],
      ['wd', tf.tensor2d([1, -2, 0.5], [3, 1])],
      ['bd', tf.tensor1d([0.25])],
    ],
  );
  const x = tf.randomUniform([1, 4, 4, 2], 0, 1, 'float32', 6);
  const flow = runCascade(m, x, { mode: 'paper' });
  assert.equal(flow.scoreTensor, 'logit');
  assert.equal(flow.classIndex, 0);
  // S is the logit: Σ_c wd_c · mean_hw relu1_c + bd, computed here from the forward value.
  const want = tf.tidy(() => {
    const y = tf.relu(tf.conv2d(x as tf.Tensor4D, m.graph.constants.get('w1') as tf.Tensor4D, 1, 'same'));
    return tf.sum(tf.mul(tf.mean(y, [0, 1, 2]), tf.tensor1d([1, -2, 0.5]))).dataSync()[0] + 0.25;
  });
  assert.ok(Math.abs(flow.score - want) < 1e-5, `score ${flow.score} vs ${want}`);
  assert.deepEqual(
    flow.layers.map((l) => l.name),
    ['conv1', 'relu1'],
  );
  x.dispose();
  m.dispose();
});
