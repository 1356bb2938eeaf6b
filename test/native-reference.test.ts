/**
 * Reference mode as one native onnxruntime graph (naflow/native-reference.ts) equals the op-by-op
 * path: same class, score, maps (max|a − b| / max|b| ≤ 1e-5 per layer: float32 rounding of different
 * summation orders) and kept fractions (≤ 1e-6) — on a synthetic graph that exercises every ONNX
 * emitter in an unusual configuration, and on every real model at hand. The op-by-op path is itself
 * checked against PyTorch gradients and the authors' code (cascade-reference, parity-reference tests).
 * Also: what falls back to the op-by-op path, a chosen class, errors, and no tensor leaks.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import type { Model } from '../src/engine/model.js';
import { node, testModel } from './helpers/graph.js';
import { nativeStatus, withoutNative } from '../src/runtime/native.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage } from '../src/image/preprocess.js';
import { runCascade, type AttentionFlow, type CascadeOptions } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { forward } from '../src/engine/execute.js';
import { nativeForwardFor } from '../src/engine/native-graph.js';
import { makeScorer } from '../src/metrics/faithfulness.js';
import '../src/ops/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const status = nativeStatus();
const skip = status.available ? false : `native kernels unavailable: ${status.reason}`;

/** Run both engines and compare everything they report. */
function assertEnginesAgree(model: Model, x: tf.Tensor, label: string, options: CascadeOptions = {}): AttentionFlow {
  const native = runCascade(model, x, { ...options, mode: 'reference' });
  const perOp = runCascade(model, x, { ...options, mode: 'reference', engine: 'per-op' });
  assert.equal(native.engine, 'native-graph', `${label}: runs as one native graph`);
  assert.equal(perOp.engine, 'per-op');
  assert.equal(native.classIndex, perOp.classIndex, `${label}: class`);
  assert.ok(Math.abs(native.score - perOp.score) <= 1e-5 * Math.max(1, Math.abs(perOp.score)), `${label}: score ${native.score} vs ${perOp.score}`);
  assert.deepEqual(
    native.layers.map((l) => [l.name, l.node, l.op, l.shape]),
    perOp.layers.map((l) => [l.name, l.node, l.op, l.shape]),
    `${label}: layers`,
  );
  native.layers.forEach((l, i) => {
    const want = perOp.layers[i];
    let diff = 0;
    let scale = 0;
    want.map.forEach((v, k) => {
      diff = Math.max(diff, Math.abs(v - l.map[k]));
      scale = Math.max(scale, Math.abs(v));
    });
    assert.ok(diff <= 1e-5 * scale || diff <= 1e-30, `${label} ${l.name}: map rel. error ${diff / scale}`);
    assert.ok(Math.abs(l.kept - want.kept) <= 1e-6, `${label} ${l.name}: kept ${l.kept} vs ${want.kept}`);
  });
  return native;
}

const conv = (strides: number[], pads: number[], dilations = [1, 1], group = 1) => ({ strides, pads, dilations, group });
const pool = (kernel: number[], strides: number[], pads: number[], countIncludePad = false) => ({ kernel, strides, pads, dilations: [1, 1], countIncludePad });

/**
 * Every op with an ONNX form, in configurations off the beaten path: a strided conv with asymmetric
 * pads and bias, batch norm, leaky ReLU, a dilated depthwise conv with channel multiplier 2, Clip, ReLU,
 * an overlapping padded max pool (ties at zero after the ReLU), an average pool whose padding is not
 * counted, a channel concat, a residual join, a scalar add, Identity, a strided reversed Slice with a
 * constant channel Pad (a ResNet option-A shortcut, mirrored), and a head with global pooling, a layout
 * transpose, Flatten, Gemm (α, β), Reshape, a join of rank-2 tensors and a MatMul.
 */
function zooModel(batch = 1): Model {
  let seed = 10;
  const rnd = (shape: number[], scale = 0.5) => tf.randomNormal(shape, 0, scale, 'float32', seed++);
  return testModel(
    'onnx-emitter-zoo.test',
    [batch, 9, 9, 3],
    [
      node('c1', 'Conv', ['x', 'w1', 'b1'], conv([2, 2], [1, 0, 1, 1])),
      node('bn', 'BatchNormalization', ['c1', 'gamma', 'beta', 'mean', 'var'], { epsilon: 1e-3 }),
      node('lrelu', 'LeakyRelu', ['bn'], { alpha: 0.1 }),
      node('dw', 'Conv', ['lrelu', 'wdw'], conv([1, 1], [2, 2, 2, 2], [2, 2], 8)),
      node('clip', 'Clip', ['dw'], { min: -1, max: 1.5 }),
      node('relu', 'Relu', ['clip']),
      node('maxpool', 'MaxPool', ['relu'], pool([3, 3], [2, 2], [1, 1, 1, 1])),
      node('avgpool', 'AveragePool', ['relu'], pool([2, 2], [2, 2], [0, 0, 1, 0])),
      node('cat', 'Concat', ['maxpool', 'avgpool'], { axis: 3 }),
      node('c3', 'Conv', ['cat', 'w3'], conv([1, 1], [0, 0, 0, 0])),
      node('join', 'Add', ['c3', 'cat']),
      node('shift', 'Add', ['join', 'half']),
      node('ident', 'Identity', ['shift']),
      node('pick', 'Slice', ['ident'], { starts: [-1, 0], ends: [-4, 2], axes: [1, 2], steps: [-2, 1] }),
      node('widen', 'Pad', ['pick'], {
        pads: [
          [0, 0],
          [0, 0],
          [0, 0],
          [4, 4],
        ],
        mode: 'constant',
        value: 0,
      }),
      node('c4', 'Conv', ['widen', 'w4'], conv([1, 1], [1, 1, 1, 1])),
      node('gap', 'GlobalAveragePool', ['c4']),
      node('gvec', 'Reshape', ['gap'], { shape: [batch, 40] }),
      node('nchw', 'Transpose', ['c4'], { perm: [0, 3, 1, 2] }),
      node('flat', 'Flatten', ['nchw'], { axis: 1 }),
      node('dense', 'Gemm', ['flat', 'wg', 'bg'], { alpha: 0.5, beta: 2 }),
      node('head', 'Add', ['gvec', 'dense']),
      node('logits', 'MatMul', ['head', 'wm']),
    ],
    [
      ['w1', rnd([3, 3, 3, 8])],
      ['b1', rnd([8], 0.1)],
      ['gamma', tf.randomUniform([8], 0.5, 1.5, 'float32', seed++)],
      ['beta', rnd([8], 0.1)],
      ['mean', rnd([8], 0.1)],
      ['var', tf.randomUniform([8], 0.5, 1.5, 'float32', seed++)],
      ['wdw', rnd([3, 3, 1, 16])],
      ['w3', rnd([1, 1, 32, 32], 0.2)],
      ['half', tf.scalar(0.5)],
      ['w4', rnd([3, 3, 40, 40], 0.1)],
      ['wg', rnd([2 * 2 * 40, 40], 0.1)],
      ['bg', rnd([40], 0.1)],
      ['wm', rnd([40, 6])],
    ],
  );
}

test('native graph = op by op on every ONNX emitter (synthetic zoo), for the arg-max and a chosen class', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = zooModel();
  assert.deepEqual(model.shapeOf('maxpool'), [1, 3, 2, 16]);
  assert.deepEqual(model.shapeOf('widen'), [1, 2, 2, 40]);
  const x = tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 3);
  const before = tf.memory().numTensors;
  const flow = assertEnginesAgree(model, x, 'zoo', { trunkEnd: 'c4' });
  assert.equal(flow.layers.length, 16);
  assert.ok(
    flow.layers.some((l) => l.kept > 0 && l.kept < 1),
    'some neurons abandoned',
  );
  const other = (flow.classIndex + 1) % 6;
  const chosen = assertEnginesAgree(model, x, 'zoo, chosen class', { trunkEnd: 'c4', classIndex: other });
  assert.equal(chosen.classIndex, other);
  assert.throws(() => runCascade(model, x, { mode: 'reference', trunkEnd: 'c4', classIndex: 6 }), /class 6 is out of range: the model scores 6 classes/);
  for (let i = 0; i < 3; i++) runCascade(model, x, { mode: 'reference', trunkEnd: 'c4' });
  assert.equal(tf.memory().numTensors, before, 'repeated native runs leak no tensors');
  x.dispose();
  model.dispose();
});

const fixtures = path.join(repoRoot, 'test/fixtures/onnx');
for (const name of ['alexnet', 'vgg16', 'resnet18', 'resnet50', 'googlenet', 'densenet121', 'mobilenet_v2']) {
  test(`native graph = op by op: ${name} fixture`, { skip }, async () => {
    await initBackend({ backend: 'cpu' });
    const dir = path.join(fixtures, name);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const model = await loadModel(path.join(dir, manifest.model));
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(readNpy(path.join(dir, manifest.input.file))), manifest.input.shape), [0, 2, 3, 1]));
    assertEnginesAgree(model, x, name);
    x.dispose();
    model.dispose();
  });
}

test('native graph = op by op: bundled Tiny Darknet (tfjs layers) on the bundled photo', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(repoRoot, 'models/tiny-darknet/model.json'));
  const { tensor } = await prepareImage(model, path.join(repoRoot, 'assets/photos/chelsea.png'));
  assertEnginesAgree(model, tensor, 'tiny darknet');
  tensor.dispose();
  model.dispose();
});

const resnet20 = path.join(repoRoot, '../shared/data/models/cifar-resnet/resnet20.onnx');
test('native graph = op by op: CIFAR ResNet-20 (option-A shortcuts: strided Slice + channel Pad)', {
  skip: skip || (!fs.existsSync(resnet20) && `${resnet20} is absent`),
}, async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(resnet20);
  assert.ok(model.graph.nodes.some((n) => n.op === 'Slice') && model.graph.nodes.some((n) => n.op === 'Pad'));
  const x = tf.randomUniform([1, 32, 32, 3], -2, 2, 'float32', 5);
  assertEnginesAgree(model, x, 'resnet20');
  x.dispose();
  model.dispose();
});

test('what runs op by op: an op without an ONNX form, inspected tensors, custom targets, no native kernels', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = zooModel();
  const x = tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 3);
  let inspected = 0;
  assert.equal(runCascade(model, x, { mode: 'reference', trunkEnd: 'c4', inspectTensors: () => void inspected++ }).engine, 'per-op');
  assert.equal(inspected, 16);
  const target = (s: tf.Tensor) => tf.onesLike(s);
  assert.equal(runCascade(model, x, { mode: 'reference', trunkEnd: 'c4', target }).engine, 'per-op');
  assert.equal(withoutNative(() => runCascade(model, x, { mode: 'reference', trunkEnd: 'c4' })).engine, 'per-op');
  assert.equal(runCascade(model, x, { mode: 'paper', trunkEnd: 'c4' }).engine, 'per-op');
  x.dispose();
  model.dispose();
  // HardSwish has no ONNX form: the model still explains, op by op
  const plain = testModel(
    'no-onnx-form.test',
    [1, 4, 4, 2],
    [
      node('conv', 'Conv', ['x', 'w'], conv([1, 1], [1, 1, 1, 1])),
      node('hswish', 'HardSwish', ['conv']),
      node('gap', 'GlobalAveragePool', ['hswish']),
      node('flat', 'Reshape', ['gap'], { shape: [1, 3] }),
      node('logits', 'Gemm', ['flat', 'wd'], { alpha: 1, beta: 1 }),
    ],
    [
      ['w', tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 1)],
      ['wd', tf.randomNormal([3, 4], 0, 1, 'float32', 2)],
    ],
  );
  const y = tf.randomUniform([1, 4, 4, 2], 0, 1, 'float32', 4);
  const flow = runCascade(plain, y, { mode: 'reference' });
  assert.equal(flow.engine, 'per-op');
  assert.deepEqual(
    flow.layers.map((l) => l.name),
    ['conv', 'hswish'],
  );
  y.dispose();
  plain.dispose();
});

test('NativeForward (the metrics\u2019 batched forward) = forward(): rank-4 and rank-2 targets, batch 3, cached per shape', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = zooModel(-1); // any batch size
  const x = tf.randomUniform([3, 9, 9, 3], -1, 1, 'float32', 8);
  const native = nativeForwardFor(model, ['logits', 'cat'], [3, 9, 9, 3]);
  assert.ok(typeof native !== 'string', `compiles: ${native}`);
  assert.equal(nativeForwardFor(model, ['logits', 'cat'], [3, 9, 9, 3]), native, 'cached');
  const [logits, cat] = native.run(x.dataSync() as Float32Array);
  const rec = forward(model, x, { outputs: ['logits', 'cat'] });
  for (const [name, got] of [
    ['logits', logits],
    ['cat', cat],
  ] as const) {
    const want = rec.get(name).dataSync();
    assert.equal(got.length, want.length, `${name}: size (IR order)`);
    const scale = Math.max(...Array.from(want, Math.abs));
    want.forEach((v, i) => assert.ok(Math.abs(v - got[i]) <= 1e-5 * scale, `${name}[${i}]: ${got[i]} vs ${v}`));
  }
  rec.dispose();
  x.dispose();
  model.dispose();
});

test('the metrics\u2019 scorer gives the same probabilities through the native forward as op by op (Tiny Darknet)', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(repoRoot, 'models/tiny-darknet/model.json'));
  const { rgb, spec, tensor } = await prepareImage(model, path.join(repoRoot, 'assets/photos/chelsea.png'));
  tensor.dispose();
  const scorer = makeScorer(model, rgb, spec, { classIndex: 7 });
  // the image, a darkened copy and a blacked-out copy: three different scores
  const images = [scorer.pixels, scorer.pixels.map((v) => v * 0.5), new Float32Array(scorer.pixels.length)];
  const native = scorer.score(images);
  const perOp = withoutNative(() => scorer.score(images));
  assert.ok(native[0] > 0.1 && native[0] !== native[2], `distinct scores ${native}`);
  native.forEach((p, i) => assert.ok(Math.abs(p - perOp[i]) <= 1e-5, `image ${i}: ${p} vs ${perOp[i]}`));
  model.dispose();
});

test('paper mode with abandon=keep/free where the trunk end abandons nothing runs as the native graph and equals op by op', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const dir = path.join(fixtures, 'resnet18');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const model = await loadModel(path.join(dir, manifest.model));
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(readNpy(path.join(dir, manifest.input.file))), manifest.input.shape), [0, 2, 3, 1]));
  try {
    for (const abandon of ['keep', 'free'] as const) {
      const fast = runCascade(model, x, { mode: 'paper', variant: { abandon, unit: 'block' } });
      const slow = runCascade(model, x, { mode: 'paper', variant: { abandon, unit: 'block' }, engine: 'per-op' });
      assert.equal(fast.engine, 'native-graph');
      assert.equal(fast.mode, 'paper');
      assert.deepEqual(fast.variant, slow.variant);
      assert.equal(slow.engine, 'per-op');
      assert.equal(fast.classIndex, slow.classIndex);
      fast.layers.forEach((l, i) => {
        const m = slow.layers[i].map;
        const scale = Math.max(...m.map(Math.abs), 1e-30);
        const worst = l.map.reduce((w, v, k) => Math.max(w, Math.abs(v - m[k])), 0);
        assert.ok(worst <= 1e-5 * scale, `${abandon}, ${l.name}: ${worst} vs scale ${scale}`);
      });
    }
    // the spec's abandonment (zero) is not reference mode: op by op
    assert.equal(runCascade(model, x, { mode: 'paper', variant: { abandon: 'zero' } }).engine, 'per-op');
  } finally {
    x.dispose();
    model.dispose();
  }
});

test('paper mode with abandon=keep on a model whose trunk end abandons neurons (a class-score layer): op by op', { skip }, async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(repoRoot, 'models/tiny-darknet/model.json'));
  const { tensor } = await prepareImage(model, path.join(repoRoot, 'assets/photos/chelsea.png'));
  try {
    const flow = runCascade(model, tensor, { mode: 'paper', variant: { abandon: 'keep' } });
    assert.equal(flow.engine, 'per-op');
    assert.ok(
      flow.layers.some((l) => l.solver?.some((s) => s.iterations > 0)),
      'the class selection at the trunk end is propagated by solves',
    );
  } finally {
    tensor.dispose();
    model.dispose();
  }
});
