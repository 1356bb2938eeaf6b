/**
 * The library's explain(): an image path in, the decision with the card's label and id, one map per
 * trunk layer shallow → deep, and every tensor freed (live count unchanged over repeated calls).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { explain } from '../src/naflow/explain.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL } from '../src/defaults.js';

test('explain() on the bundled model and photo frees what it allocates', async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const first = await explain(model, DEFAULT_IMAGE, { mode: 'reference' }); // warms σ caches and kernels
    const before = tf.memory().numTensors;
    for (const mode of ['reference', 'paper', 'reference'] as const) {
      const flow = await explain(model, DEFAULT_IMAGE, { mode });
      assert.equal(flow.decision.label, 'Egyptian cat');
      assert.equal(flow.decision.id, 'n02124075');
      assert.equal(flow.layers.length, first.layers.length);
      assert.deepEqual(flow.layers[0].shape, [224, 224, 16], 'shallow → deep');
      assert.deepEqual(flow.layers.at(-1)!.shape, [14, 14, 1000]);
      assert.equal(flow.image?.width, 224);
      assert.equal(tf.memory().numTensors, before, `live tensors after ${mode} mode`);
    }
  } finally {
    model.dispose();
  }
});
