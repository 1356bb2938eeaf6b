/**
 * ConvNeXt end to end: a small torchvision ConvNeXt exported from PyTorch the ordinary way
 * (tools/convnext_fixture.py), at opset 13 (LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div, GELU
 * into Erf arithmetic: both recognised at import) and at opset 17 (LayerNormalization). Each form
 * imports with every op supported, gives PyTorch's logits and input gradient, reference-mode maps equal
 * to Σ_c ReLU(A ⊙ ∂S/∂A) computed from PyTorch's own activations and gradients (channels-last tensors
 * inside the blocks included), and paper-mode maps that are finite and not constant at every layer;
 * the two forms give the same maps.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { inspectGraph } from '../src/inspect.js';
import { backward, forward } from '../src/engine/execute.js';
import { runCascade, type AttentionFlow } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { maxRelativeError } from './helpers/compare.js';

const dir = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'convnext');
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const npy = (f: string) => npyToFloat32(readNpy(path.join(dir, f)));

const flows = new Map<string, Record<'reference' | 'paper', AttentionFlow>>();

for (const opset of ['13', '17'])
  test(`ConvNeXt, opset ${opset}: supported, PyTorch logits and input gradient, reference maps from PyTorch, paper maps finite`, async () => {
    await initBackend({ backend: 'cpu' });
    const model = await loadModel(path.join(dir, manifest.models[opset]));
    const [n, c, h, w] = manifest.input.shape;
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(npy('input.npy'), [n, c, h, w]), [0, 2, 3, 1]));
    try {
      assert.ok(inspectGraph(model.graph).allSupported, 'every op has a rule');
      const ops = model.graph.nodes.map((nd) => nd.op);
      assert.equal(ops.filter((o) => o === 'LayerNormalization').length, 9, 'every LayerNorm is one node');
      assert.equal(ops.filter((o) => o === 'Gelu').length, 4, 'every GELU is one node');
      assert.ok(!ops.includes('Transpose'), 'the channels-last permutes move no memory');

      const before = tf.memory().numTensors;
      const out = model.graph.outputs[0];
      const inputName = model.graph.inputs[0].name;
      const record = forward(model, x, { record: true, outputs: [out] });
      const logits = record.get(out).dataSync();
      const logitErr = maxRelativeError(logits, npy('logits.npy'));
      assert.ok(logitErr <= 1e-5, `logits: rel. error ${logitErr}`);
      const seed = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([manifest.topClass], 'int32'), logits.length), 'float32'));
      const grads = backward(model, record, out, [inputName], seed);
      const g = tf.tidy(() => tf.transpose(grads.get(inputName)!, [0, 3, 1, 2]).dataSync());
      const gradErr = maxRelativeError(g, npy('grad.npy'));
      assert.ok(gradErr <= 1e-4, `input gradient: rel. error ${gradErr}`);
      seed.dispose();
      for (const t of grads.values()) t.dispose();
      record.dispose();

      const reference = runCascade(model, x, { mode: 'reference', engine: 'per-op' });
      const paper = runCascade(model, x, { mode: 'paper' });
      assert.equal(tf.memory().numTensors, before, 'frees what it allocates');
      flows.set(opset, { reference, paper });
      assert.equal(reference.classIndex, manifest.topClass);
      assert.equal(reference.layers.at(-1)!.node, '/features/features.7/features.7.0/Add', 'the trunk ends before the pooled LayerNorm');
      for (const m of manifest.referenceMaps.maps) {
        const layer = reference.layers.find((l) => l.node === m.node);
        assert.ok(layer, `a map at ${m.node}`);
        assert.deepEqual(layer.shape.slice(0, 2), m.shape);
        const err = maxRelativeError(layer.map, npy(m.file));
        assert.ok(err <= 1e-5, `reference map at ${m.node} (${m.torchModule}): rel. error ${err}`);
      }
      for (const l of paper.layers) {
        const finite = l.map.every(Number.isFinite);
        const varies = l.map.some((v) => v !== l.map[0]) || l.map.length === 1;
        assert.ok(finite && varies && l.map.some((v) => v > 0), `paper ${l.node} (${l.op}): finite, not constant`);
      }
    } finally {
      x.dispose();
      model.dispose();
    }
  });

test('ConvNeXt: the decomposed (opset 13) and fused (opset 17) exports give the same maps in both modes', () => {
  const [a, b] = [flows.get('13'), flows.get('17')];
  assert.ok(a && b, 'both exports ran');
  for (const mode of ['reference', 'paper'] as const) {
    assert.deepEqual(
      a[mode].layers.map((l) => l.node),
      b[mode].layers.map((l) => l.node),
    );
    a[mode].layers.forEach((l, k) => {
      const err = maxRelativeError(l.map, b[mode].layers[k].map);
      assert.ok(err <= 1e-4, `${mode} ${l.node}: rel. difference ${err}`);
    });
  }
});

test("the import patterns' other forms: tanh GELU, LayerNorm without γ/β, a channels-last view flattened, a lone Erf", async () => {
  await initBackend({ backend: 'cpu' });
  const p = manifest.patterns;
  const model = await loadModel(path.join(dir, p.model));
  const [n, c, h, w] = p.input.shape;
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(npy(p.input.file), [n, c, h, w]), [0, 2, 3, 1]));
  try {
    assert.ok(inspectGraph(model.graph).allSupported);
    const nodes = model.graph.nodes;
    assert.deepEqual(
      nodes.filter((nd) => ['Gelu', 'LayerNormalization', 'Erf'].includes(nd.op)).map((nd) => [nd.op, nd.inputs.length, nd.attrs]),
      [
        ['Gelu', 1, { approximate: 'tanh' }],
        ['LayerNormalization', 1, { axis: 3, epsilon: Math.fround(1e-5) }],
        ['Erf', 1, {}],
      ],
    );
    assert.ok(!nodes.some((nd) => ['Tanh', 'Pow', 'Sqrt'].includes(nd.op)), 'no arithmetic left of the fused patterns');
    const out = model.graph.outputs[0];
    const record = forward(model, x, { record: true, outputs: [out] });
    const logits = record.get(out).dataSync();
    assert.ok(maxRelativeError(logits, npy(p.logits)) <= 1e-5, `logits: rel. error ${maxRelativeError(logits, npy(p.logits))}`);
    const seed = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([p.topClass], 'int32'), logits.length), 'float32'));
    const inputName = model.graph.inputs[0].name;
    const grads = backward(model, record, out, [inputName], seed);
    const g = tf.tidy(() => tf.transpose(grads.get(inputName)!, [0, 3, 1, 2]).dataSync());
    assert.ok(maxRelativeError(g, npy(p.grad)) <= 1e-4, `input gradient: rel. error ${maxRelativeError(g, npy(p.grad))}`);
    seed.dispose();
    for (const t of grads.values()) t.dispose();
    record.dispose();
  } finally {
    x.dispose();
    model.dispose();
  }
});
