/**
 * The core entry on its own (no Node adapter loaded): a model imported from its files' bytes and an
 * image given as decoded RGB explain exactly as the Node entry's loadModel(path) + explain(path) do,
 * and what needs a host (native kernels, decoding a path) says so. The Node entry is loaded only at
 * the end, for the reference.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as core from '../src/core.js';

const MODEL_DIR = 'models/tiny-darknet';

function tinyDarknetFiles(): core.ModelFiles {
  const main = new Uint8Array(fs.readFileSync(path.join(MODEL_DIR, 'model.json')));
  const siblings: Record<string, Uint8Array> = {};
  for (const f of fs.readdirSync(MODEL_DIR)) if (f.startsWith('group')) siblings[f] = new Uint8Array(fs.readFileSync(path.join(MODEL_DIR, f)));
  return core.modelFilesFromBytes('tiny-darknet/model.json', main, siblings);
}

test('the core alone: no native provider and no image decoder until a host registers them', async () => {
  assert.deepEqual(core.nativeStatus().available, false);
  assert.match(core.nativeStatus().reason!, /no native kernels are registered/);
  await core.initBackend({ backend: 'cpu' });
  const model = core.importModel(tinyDarknetFiles());
  try {
    await assert.rejects(
      core.explain(model, 'assets/photos/chelsea.png'),
      (e: Error) => e instanceof core.ImageError && /no image decoder is installed/.test(e.message),
    );
    const wrongSize = { data: new Uint8Array(10 * 10 * 3), width: 10, height: 10 };
    await assert.rejects(core.explain(model, wrongSize), /decoded RGB of 10×10 given; the model takes 224×224/);
  } finally {
    model.dispose();
  }
});

test('a model from bytes and RGB pixels explain as loadModel(path) and explain(path) do', async () => {
  await core.initBackend({ backend: 'cpu' });
  const card = core.validateCard(JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.naflow.json'), 'utf8')), 'model.naflow.json');
  const fromBytes = core.importModel(tinyDarknetFiles(), { card });
  // the reference: the Node entry (registers onnxruntime-node and sharp from here on)
  const node = await import('../src/index.js');
  const spec = core.imageSpecFor(fromBytes);
  const { size, resize, resizeShorter, interpolation } = spec;
  const rgb = await node.decodeImage('assets/photos/chelsea.png', { resize: { size, resize, interpolation, ...(resizeShorter ? { resizeShorter } : {}) } });
  const fromPath = await node.loadModel(path.join(MODEL_DIR, 'model.json'), { sigmaCache: false });
  try {
    const a = await core.explain(fromBytes, { data: rgb.data, width: rgb.width, height: rgb.height });
    const b = await node.explain(fromPath, 'assets/photos/chelsea.png');
    assert.equal(a.classIndex, b.classIndex);
    assert.equal(a.layers.length, b.layers.length);
    assert.ok(a.layers.length > 10, `${a.layers.length} layers`);
    for (let i = 0; i < a.layers.length; i++) assert.deepEqual(a.layers[i].map, b.layers[i].map, `layer ${i} (${a.layers[i].name})`);
  } finally {
    fromBytes.dispose();
    fromPath.dispose();
  }
});
