/**
 * tfjs weight reading: dtypes, quantization (uint8/uint16 affine, float16), multi-group/multi-shard
 * manifests, and errors that name the file (missing shard, short shard, bad JSON). Backend: cpu.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { readTfjsArtifacts } from '../src/node/load.js';
import { loadModel } from '../src/node/load.js';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-tfjs-weights-'));
}

/** float32 → IEEE half bits (round to nearest; test values are exactly representable). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >> 16) & 0x8000;
  const exp = ((u >> 23) & 0xff) - 127 + 15;
  const mant = (u >> 13) & 0x3ff;
  if (v === 0) return sign;
  if (exp <= 0) return sign | ((0x400 | mant) >> (1 - exp));
  return sign | (exp << 10) | mant;
}

function bytes(...parts: ArrayBufferView[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.byteLength, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
    o += p.byteLength;
  }
  return out;
}

test('decodes float32, int32, bool, uint8/uint16 affine and float16 weights across groups and shards', () => {
  const dir = tmpdir();
  const f32 = new Float32Array([1.5, -2.25, 3, 0.125, 7, -8]);
  const i32 = new Int32Array([1, -2, 3]);
  const b = new Uint8Array([1, 0, 1, 1]);
  const u8 = new Uint8Array([0, 1, 255, 128]);
  const u16 = new Uint16Array([0, 2, 65535]);
  const u8i = new Uint8Array([3, 5]);
  const halfVals = [0.5, -1.25, 65504, 6.103515625e-5, 0, -0];
  const f16 = new Uint16Array(halfVals.map(toHalf));
  // group 1 (two shards, split mid-weight) and group 2 (one shard)
  const g1 = bytes(f32, i32, b);
  fs.writeFileSync(path.join(dir, 'g1-1.bin'), g1.subarray(0, 10));
  fs.writeFileSync(path.join(dir, 'g1-2.bin'), g1.subarray(10));
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'g2.bin'), bytes(u8, u16, f16, u8i));
  const json = {
    format: 'graph-model',
    modelTopology: { node: [] },
    weightsManifest: [
      {
        paths: ['g1-1.bin', 'g1-2.bin'],
        weights: [
          { name: 'f32', shape: [2, 3], dtype: 'float32' },
          { name: 'i32', shape: [3], dtype: 'int32' },
          { name: 'b', shape: [2, 2], dtype: 'bool' },
        ],
      },
      {
        paths: ['sub/g2.bin'],
        weights: [
          { name: 'u8', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'u16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: 2 } },
          { name: 'f16', shape: [6], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
          { name: 'u8i', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 2, original_dtype: 'int32' } },
        ],
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  const { modelJson, weights } = readTfjsArtifacts(path.join(dir, 'model.json'));
  try {
    assert.equal((modelJson as { format?: unknown }).format, 'graph-model');
    assert.deepEqual([...weights.keys()], ['f32', 'i32', 'b', 'u8', 'u16', 'f16', 'u8i']);
    const get = (n: string) => weights.get(n)!;
    assert.deepEqual(get('f32').shape, [2, 3]);
    assert.deepEqual(Array.from(get('f32').dataSync()), Array.from(f32));
    assert.equal(get('i32').dtype, 'int32');
    assert.deepEqual(Array.from(get('i32').dataSync()), [1, -2, 3]);
    assert.equal(get('b').dtype, 'bool');
    assert.deepEqual(Array.from(get('b').dataSync()), [1, 0, 1, 1]);
    const near = (got: ArrayLike<number>, want: number[]) =>
      want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 1e-6 * Math.max(1, Math.abs(w)), `${got[i]} vs ${w}`));
    near(get('u8').dataSync(), [-1, -0.5, 126.5, 63]);
    near(get('u16').dataSync(), [2, 2.002, 67.535]);
    assert.deepEqual(
      Array.from(get('f16').dataSync()),
      halfVals.map((v) => (Object.is(v, -0) ? -0 : v)),
    );
    assert.equal(get('u8i').dtype, 'int32');
    assert.deepEqual(Array.from(get('u8i').dataSync()), [6, 10]);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
});

function writeLayersJson(dir: string, paths: string[], weights: object[]): string {
  const file = path.join(dir, 'model.json');
  const layers = [{ name: 'in', class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 2, 2, 1] }, inbound_nodes: [] }];
  fs.writeFileSync(
    file,
    JSON.stringify({
      modelTopology: { class_name: 'Model', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['in', 0, 0]] } },
      weightsManifest: [{ paths, weights }],
    }),
  );
  return file;
}

test('a missing shard is named, and nothing leaks', async () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), new Uint8Array(8));
  const file = writeLayersJson(dir, ['group1-shard1of2.bin', 'group1-shard2of2.bin'], [{ name: 'w', shape: [4], dtype: 'float32' }]);
  const before = tf.memory().numTensors;
  assert.throws(() => readTfjsArtifacts(file), /weight shard 'group1-shard2of2\.bin' is missing/);
  await assert.rejects(loadModel(file), (e: Error) => {
    assert.match(e.message, /group1-shard2of2\.bin/);
    assert.ok(e.message.includes(file), 'names the model file');
    return true;
  });
  assert.equal(tf.memory().numTensors, before);
});

test('a shard shorter than the manifest says is named', () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'a.bin'), new Uint8Array(16));
  fs.writeFileSync(path.join(dir, 'b.bin'), new Uint8Array(4));
  const file = writeLayersJson(
    dir,
    ['a.bin', 'b.bin'],
    [
      { name: 'w1', shape: [4], dtype: 'float32' },
      { name: 'w2', shape: [4], dtype: 'float32' },
    ],
  );
  const before = tf.memory().numTensors;
  assert.throws(() => readTfjsArtifacts(file), /weight shard 'b\.bin' is shorter than the manifest says: .*20 bytes but its weights need 32/);
  assert.equal(tf.memory().numTensors, before);

  // a truncated middle shard (converter shards are equal-sized except the last)
  const dir2 = tmpdir();
  fs.writeFileSync(path.join(dir2, 's1.bin'), new Uint8Array(8));
  fs.writeFileSync(path.join(dir2, 's2.bin'), new Uint8Array(4));
  fs.writeFileSync(path.join(dir2, 's3.bin'), new Uint8Array(4));
  const file2 = writeLayersJson(dir2, ['s1.bin', 's2.bin', 's3.bin'], [{ name: 'w', shape: [5], dtype: 'float32' }]);
  assert.throws(() => readTfjsArtifacts(file2), /weight shard 's2\.bin' is shorter/);
});

test('bad JSON and unsupported dtypes name the file', async () => {
  const dir = tmpdir();
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, '{"modelTopology": {');
  assert.throws(
    () => readTfjsArtifacts(file),
    (e: Error) => e.message.startsWith(`${file}: not valid JSON`),
  );
  await assert.rejects(loadModel(file), /not valid JSON/);

  const dir2 = tmpdir();
  fs.writeFileSync(path.join(dir2, 'w.bin'), new Uint8Array(8));
  const file2 = writeLayersJson(dir2, ['w.bin'], [{ name: 's', shape: [1], dtype: 'string' }]);
  assert.throws(() => readTfjsArtifacts(file2), /model\.json: weight 's' has dtype 'string'/);
});
