/**
 * The model hash that names the σ_max cache file and is recorded in eval-config.json and flow.json
 * (src/node/hash.ts): an ONNX file's sha256 as `sha256sum` computes it; a tfjs model's over model.json
 * followed by its weight files in manifest order, so retrained weights under the same model.json
 * change it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelSha256 } from '../src/node/hash.js';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';

const read = (file: string): Uint8Array => {
  const b = fs.readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};
const sha = (...parts: Uint8Array[]) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

test('modelSha256: an ONNX file is hashed as a whole, a tfjs model as model.json plus its weight files', () => {
  const onnx = path.join(PACKAGE_ROOT, 'test/fixtures/onnx/vgg16/model.onnx');
  assert.equal(modelSha256(onnx), sha(read(onnx)));

  const dir = fs.statSync(DEFAULT_MODEL).isDirectory() ? DEFAULT_MODEL : path.dirname(DEFAULT_MODEL);
  const json = read(path.join(dir, 'model.json'));
  const weights = (JSON.parse(new TextDecoder().decode(json)).weightsManifest as Array<{ paths: string[] }>).flatMap((g) => g.paths);
  assert.ok(weights.length >= 1, 'the bundled model has weight files');
  const want = sha(json, ...weights.map((w) => read(path.join(dir, w))));
  assert.equal(modelSha256(DEFAULT_MODEL), want);

  // one changed weight byte changes the hash; model.json is the same file
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-hash-'));
  try {
    fs.copyFileSync(path.join(dir, 'model.json'), path.join(copy, 'model.json'));
    for (const w of weights) fs.copyFileSync(path.join(dir, w), path.join(copy, w));
    assert.equal(modelSha256(path.join(copy, 'model.json')), want);
    const first = path.join(copy, weights[0]);
    const bytes = read(first).slice();
    bytes[0] ^= 1;
    fs.writeFileSync(first, bytes);
    assert.notEqual(modelSha256(path.join(copy, 'model.json')), want);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
