/**
 * The method registry (src/methods): one list that the CLI, eval, the server's form and the viewer
 * iterate; ids with options; one result type; and the extension path — a method registered from
 * outside is run by the same code as the built-in ones.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { compareAtLayers, listMethods, methodLabel, parseMethodList, registerMethod, resolveMethod, runMethod, splitMethodIds } from '../src/methods/index.js';
import { camMethod, channelSum, pixelAttribution, xGradCamMap } from '../src/baselines/index.js';
import { runCascade } from '../src/naflow/cascade.js';
import { resolveVariant } from '../src/naflow/variant.js';
import { InputError, UsageError } from '../src/util/errors.js';
import { appHtml } from '../src/serve/app.js';
import { node, testModel } from './helpers/graph.js';

test.before(async () => {
  await initBackend({ backend: 'cpu' });
});

/** conv 3×3 (2 channels) → Relu → conv 1×1 (2 channels) → Relu → global average pool → Gemm (3 classes). */
function smallCnn() {
  const w1 = tf.randomNormal([3, 3, 3, 2], 0, 0.5, 'float32', 1);
  const w2 = tf.randomNormal([1, 1, 2, 2], 0, 0.5, 'float32', 2);
  const fc = tf.randomNormal([2, 3], 0, 1, 'float32', 3);
  const conv = (name: string, inputs: string[]) => node(name, 'Conv', inputs, { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 });
  return testModel(
    'small-cnn.test',
    [1, 6, 6, 3],
    [
      conv('c1', ['x', 'w1']),
      node('r1', 'Relu', ['c1']),
      node('c2', 'Conv', ['r1', 'w2'], { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }),
      node('r2', 'Relu', ['c2']),
      node('gap', 'GlobalAveragePool', ['r2']),
      node('flat', 'Flatten', ['gap'], { axis: 1 }),
      node('y', 'Gemm', ['flat', 'fc'], { alpha: 1, beta: 1 }),
    ],
    [
      ['w1', w1],
      ['w2', w2],
      ['fc', fc],
    ],
  );
}

test('the registry lists every built-in method once, in order, with a label and a description', () => {
  const ids = listMethods().map((m) => m.id);
  assert.deepEqual(ids, [
    'naflow',
    'naflow-ref',
    'gradcam',
    'gradcampp',
    'layercam',
    'hirescam',
    'xgradcam',
    'scorecam',
    'gradient',
    'guided-backprop',
    'deconvnet',
  ]);
  assert.deepEqual(
    listMethods({ comparable: true }).map((m) => m.id),
    ['gradcam', 'gradcampp', 'layercam', 'hirescam', 'xgradcam'],
    'the baselines offered beside NAFlow: one backward pass each',
  );
  assert.deepEqual(
    listMethods({ space: 'pixel' }).map((m) => m.id),
    ['gradient', 'guided-backprop', 'deconvnet'],
  );
  for (const m of listMethods()) {
    assert.ok(m.label && m.description.length > 20, `${m.id}: label and description`);
  }
  assert.equal(methodLabel('layercam'), 'LayerCAM');
  assert.equal(methodLabel('naflow:rho=1'), 'NAFlow (rho=1)');
  assert.equal(methodLabel('not-a-method'), 'not-a-method');
});

test('ids with options: split, resolved, and refused with a message naming the option', () => {
  assert.deepEqual(splitMethodIds('naflow, naflow:rho=0.3,unit=block,layercam,naflow:spec'), [
    'naflow',
    'naflow:rho=0.3,unit=block',
    'layercam',
    'naflow:spec',
  ]);
  const list = parseMethodList('naflow,naflow:rho=0.3,unit=block,layercam,layercam', '--methods');
  assert.deepEqual(
    list.map((m) => m.id),
    ['naflow', 'naflow:rho=0.3,unit=block', 'layercam'],
    'duplicates dropped',
  );
  assert.equal(list[1].label, 'NAFlow (rho=0.3,unit=block)');
  assert.throws(
    () => parseMethodList('layercam,magic', '--methods'),
    (e: unknown) => e instanceof UsageError && /--methods: unknown 'magic'; choose from naflow, naflow-ref, gradcam/.test((e as Error).message),
  );
  assert.throws(
    () => parseMethodList('', '--compare', { comparable: true }),
    /--compare: empty list; choose from gradcam, gradcampp, layercam, hirescam, xgradcam$/,
  );
  assert.throws(() => parseMethodList('naflow', '--compare', { comparable: true }), /--compare: unknown 'naflow'/, 'NAFlow is not a baseline of itself');
  assert.throws(
    () => resolveMethod('layercam:fast', '--methods'),
    (e: unknown) => e instanceof UsageError && /'layercam' takes no options/.test((e as Error).message),
  );
  assert.throws(
    () => resolveMethod('naflow:rho=-1', '--methods'),
    (e: unknown) => e instanceof InputError && /--methods: method 'naflow:rho=-1': rho must be a finite number ≥ 0/.test((e as Error).message),
  );
});

test('every method returns the one result type; NAFlow ids run the cascade with their configuration', () => {
  const model = smallCnn();
  const x = tf.randomUniform([1, 6, 6, 3], -1, 1, 'float32', 4);
  try {
    const before = tf.memory().numTensors;
    for (const m of listMethods()) {
      const r = runMethod(model, x, m.id, { classIndex: 1 });
      assert.equal(r.classIndex, 1, m.id);
      assert.ok(Number.isFinite(r.score), m.id);
      for (const l of r.layers) assert.equal(l.map.length, l.shape[0] * l.shape[1], `${m.id} ${l.name}`);
      if (m.space === 'pixel')
        assert.deepEqual(
          r.layers.map((l) => [l.name, l.shape]),
          [['input', [6, 6, 3]]],
          m.id,
        );
      else
        assert.deepEqual(
          r.layers.map((l) => l.name),
          ['c1', 'r1', 'c2', 'r2'],
          m.id,
        );
    }
    assert.equal(tf.memory().numTensors, before, 'every method frees what it allocates');
    // the pixel methods' map is pixelAttribution's
    assert.deepEqual(runMethod(model, x, 'guided-backprop').layers[0].map, pixelAttribution(model, x, 'guided-backprop').map);
    // naflow:<options> is paper mode with the spec changed by them; layers restricts the output, not the cascade
    const variant = runMethod(model, x, 'naflow:rho=1,maxIter=3', { layers: ['r2', 'c1'] });
    const direct = runCascade(model, x, { mode: 'paper', variant: resolveVariant('rho=1,maxIter=3') });
    assert.deepEqual(
      variant.layers.map((l) => l.name),
      ['c1', 'r2'],
      'shallow → deep, only those asked for',
    );
    assert.deepEqual(variant.layers[1].map, direct.layers[3].map);
    assert.deepEqual(
      runMethod(model, x, 'naflow-ref').layers.map((l) => l.map),
      runCascade(model, x, { mode: 'reference' }).layers.map((l) => l.map),
    );
  } finally {
    x.dispose();
    model.dispose();
  }
});

test('XGrad-CAM by hand: w_c = Σ G⊙A / Σ A, map = ReLU(Σ_c w_c A_c)', () => {
  // one row of two positions, two channels: A₀ = (1, 3), A₁ = (2, 0); G₀ = (1, 1), G₁ = (−1, 2)
  // w₀ = (1 + 3) / 4 = 1, w₁ = (−2 + 0) / 2 = −1 → Σ_c w_c A_c = (1 − 2, 3 − 0) = (−1, 3) → ReLU (0, 3)
  const a = tf.tensor4d([1, 2, 3, 0], [1, 1, 2, 2]);
  const g = tf.tensor4d([1, -1, 1, 2], [1, 1, 2, 2]);
  const map = xGradCamMap(a, g);
  const got = Array.from(map.dataSync());
  [a, g, map].forEach((t) => t.dispose());
  assert.deepEqual(
    got.map((v) => Math.round(v * 1e6) / 1e6),
    [0, 3],
  );
});

test('a method registered from outside runs through the same code: --compare, compareAtLayers, the server form', () => {
  // "Grad-CAM with absolute gradients": a formula, an id, a label — and nothing else changes
  registerMethod(
    camMethod({
      id: 'test-absgrad',
      label: 'Abs-Grad-CAM (test)',
      description: 'Grad-CAM with |G|: registered by a test',
      map: (a, g) => channelSum(tf.mul(a, tf.mean(tf.abs(g), [1, 2], true))),
    }),
  );
  assert.throws(() => registerMethod(camMethod({ id: 'test-absgrad', label: 'twice', description: 'twice', map: (a) => a })), /registered twice/);
  assert.ok(parseMethodList('test-absgrad', '--compare', { comparable: true }).length === 1, 'offered by --compare');
  assert.match(
    appHtml(),
    /<input type="checkbox" id="cmp-test-absgrad" value="test-absgrad"><label for="cmp-test-absgrad" title="Grad-CAM with \|G\|: registered by a test">Abs-Grad-CAM \(test\)<\/label>/,
  );
  const model = smallCnn();
  const x = tf.randomUniform([1, 6, 6, 3], -1, 1, 'float32', 5);
  try {
    const [cmp] = compareAtLayers(model, x, parseMethodList('test-absgrad', '--compare'), { classIndex: 2, layers: ['r1'] });
    assert.equal(cmp.method, 'test-absgrad');
    assert.equal(cmp.label, 'Abs-Grad-CAM (test)');
    assert.equal(cmp.classIndex, 2);
    assert.deepEqual(
      cmp.layers.map((l) => l.name),
      ['r1'],
    );
    assert.ok(cmp.layers[0].map.some((v) => v !== 0));
  } finally {
    x.dispose();
    model.dispose();
  }
});
