/**
 * An ONNX model exported with symbolic height and width (tools/dynamic_hw_fixture.py): refused with a
 * message that says what to do, and run at the model card's inputSize — with PyTorch's logits there.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import { forward } from '../src/engine/execute.js';
import { loadModel } from '../src/node/load.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { runCascade } from '../src/naflow/cascade.js';

const dir = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'dynamic-hw');
const file = path.join(dir, 'model.onnx');

test('symbolic height/width: refused without a size, run at the card inputSize with PyTorch logits', async () => {
  await initBackend({ backend: 'cpu' });
  await assert.rejects(loadModel(file), /symbolic dimension 2 \('height'\); .*give the model card's inputSize \[height, width\]/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-dynamic-hw-'));
  try {
    const card = path.join(tmp, 'model.naflow.json');
    fs.writeFileSync(card, JSON.stringify({ inputSize: [20, 24] }));
    const model = await loadModel(file, { card });
    try {
      assert.deepEqual(model.graph.inputs[0].shape.slice(1), [20, 24, 3], 'NHWC at the card size');
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(readNpy(path.join(dir, 'input.npy'))), [1, 3, 20, 24]), [0, 2, 3, 1]));
      const out = model.graph.outputs[0];
      const rec = forward(model, x, { outputs: [out] });
      const got = rec.get(out).dataSync();
      const want = npyToFloat32(readNpy(path.join(dir, 'logits.npy')));
      want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-5, `logit ${i}: ${got[i]} vs ${v}`));
      rec.dispose();
      const flow = runCascade(model, x, { mode: 'reference' });
      assert.deepEqual(flow.layers[0].shape, [20, 24, 6]);
      x.dispose();
    } finally {
      model.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
