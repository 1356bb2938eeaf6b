/**
 * σ_max kept across processes (src/node/sigma-cache.ts): a model's first paper-mode explanation writes
 * one file named by the model's sha256 when the model is disposed; a later load reads its values instead
 * of running the power iterations (shown by planting other values in the file: the solver reports
 * them), gives the same maps, ignores a corrupt file, and writes nothing with NAFLOW_CACHE=0.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { runCascade, type AttentionFlow } from '../src/naflow/cascade.js';
import { modelSha256 } from '../src/node/hash.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL } from '../src/defaults.js';
import { prepareImage } from '../src/image/preprocess.js';

const sigmas = (f: AttentionFlow) =>
  f.layers
    .flatMap((l) => l.solver ?? [])
    .filter((s) => s.method === 'lsmr' && s.iterations > 0)
    .map((s) => s.sigmaMax);

async function explainOnce(): Promise<AttentionFlow> {
  const model = await loadModel(DEFAULT_MODEL);
  const x = (await prepareImage(model, DEFAULT_IMAGE)).tensor;
  try {
    return runCascade(model, x, { mode: 'paper', variant: { abandon: 'zero', unit: 'op' } });
  } finally {
    x.dispose();
    model.dispose();
  }
}

test('σ_max cache file: written once, read back instead of recomputed, corrupt files ignored, off with NAFLOW_CACHE=0', async () => {
  await initBackend({ backend: 'wasm' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-cache-'));
  const saved = { dir: process.env.NAFLOW_CACHE_DIR, off: process.env.NAFLOW_CACHE };
  process.env.NAFLOW_CACHE_DIR = dir;
  delete process.env.NAFLOW_CACHE;
  try {
    const file = path.join(dir, `sigma-${modelSha256(DEFAULT_MODEL)}.json`);
    const first = await explainOnce();
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
    assert.ok(Object.keys(stored).length >= 15, 'one σ_max per least-squares operator of Tiny Darknet');
    assert.deepEqual(Object.values(stored).sort(), [...new Set(sigmas(first))].sort(), 'the file holds the σ_max the solves used');
    const second = await explainOnce();
    assert.deepEqual(
      second.layers.map((l) => [...l.map]),
      first.layers.map((l) => [...l.map]),
      'the same maps from the cached σ_max',
    );
    // planted values are what the solver uses: the power iterations did not run again
    fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.keys(stored).map((k) => [k, 2 * stored[k]]))));
    const planted = await explainOnce();
    assert.deepEqual(
      sigmas(planted),
      sigmas(first).map((s) => 2 * s),
    );
    fs.writeFileSync(file, '{ not json');
    assert.deepEqual(sigmas(await explainOnce()), sigmas(first), 'a corrupt file is recomputed');
    assert.ok(JSON.parse(fs.readFileSync(file, 'utf8')), 'and rewritten');
    fs.rmSync(file);
    process.env.NAFLOW_CACHE = '0';
    await explainOnce();
    assert.equal(fs.existsSync(file), false, 'NAFLOW_CACHE=0 writes no file');
  } finally {
    if (saved.dir === undefined) delete process.env.NAFLOW_CACHE_DIR;
    else process.env.NAFLOW_CACHE_DIR = saved.dir;
    if (saved.off === undefined) delete process.env.NAFLOW_CACHE;
    else process.env.NAFLOW_CACHE = saved.off;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
