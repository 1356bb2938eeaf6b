/**
 * The ops a user asked for, end to end: a CNN with ELU (α = 0.7), Softplus and SELU exported from
 * PyTorch the ordinary way (tools/smooth_activation_fixture.py) imports with every op supported,
 * predicts PyTorch's logits, back-propagates PyTorch's input gradient, and explains in both modes
 * with finite maps at every layer. (Each op: one rule file in src/ops/ and its own test; the importer
 * entries are one line each in the ONNX activation family.)
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { inspectGraph } from '../src/inspect.js';
import { backward, forward } from '../src/engine/execute.js';
import { runCascade } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { maxRelativeError } from './helpers/compare.js';

const dir = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'smooth-act');
const npy = (f: string) => npyToFloat32(readNpy(path.join(dir, f)));

test('ELU, Softplus and SELU from a PyTorch export: supported, PyTorch logits and input gradient, maps in both modes', async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(dir, 'model.onnx'));
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(npy('input.npy'), [1, 3, 16, 16]), [0, 2, 3, 1]));
  try {
    const report = inspectGraph(model.graph);
    assert.ok(report.allSupported, 'every op has a rule');
    assert.deepEqual(
      model.graph.nodes.filter((n) => ['Elu', 'Softplus', 'Selu'].includes(n.op)).map((n) => [n.op, n.attrs]),
      [
        ['Elu', { alpha: Math.fround(0.7) }],
        ['Softplus', {}],
        ['Selu', { alpha: 1.6732631921768188, gamma: 1.0507010221481323 }], // ONNX's float32 defaults
      ],
    );
    const before = tf.memory().numTensors;
    const out = model.graph.outputs[0];
    const inputName = model.graph.inputs[0].name;
    const record = forward(model, x, { record: true, outputs: [out] });
    const logits = record.get(out).dataSync();
    assert.ok(maxRelativeError(logits, npy('logits.npy')) < 1e-5, `logits: rel. error ${maxRelativeError(logits, npy('logits.npy'))}`);
    const top = 2; // the fixture's topClass
    const seed = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([top], 'int32'), 5), 'float32'));
    const grads = backward(model, record, out, [inputName], seed);
    const g = tf.tidy(() => tf.transpose(grads.get(inputName)!, [0, 3, 1, 2]).dataSync());
    const err = maxRelativeError(g, npy('grad.npy'));
    assert.ok(err < 1e-4, `input gradient: rel. error ${err}`);
    seed.dispose();
    for (const t of grads.values()) t.dispose();
    record.dispose();
    for (const mode of ['reference', 'paper'] as const) {
      const flow = runCascade(model, x, { mode });
      assert.equal(flow.classIndex, top);
      assert.equal(flow.layers.length, 6, `${mode}: a map after each conv and each activation`);
      for (const l of flow.layers) assert.ok(l.map.every(Number.isFinite) && l.map.some((v) => v !== 0), `${mode} ${l.name} (${l.op}): finite, not all zero`);
    }
    assert.equal(tf.memory().numTensors, before, 'frees what it allocates');
  } finally {
    x.dispose();
    model.dispose();
  }
});
