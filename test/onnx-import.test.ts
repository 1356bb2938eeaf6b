/**
 * ONNX importer against PyTorch reference fixtures (test/fixtures/onnx/<model>/, see the README there):
 * logits, inner activations and gradients (d logits[top] / d input and / d inner tensors), plus the
 * CIFAR ResNet-20 from shared/ (option-A shortcuts must fold to canonical ops) and error cases on files
 * (small hand-built models: onnx-import-hand-built.test.ts).
 *
 * Tolerances: forward values max|a−b| / max|b| ≤ 1e-4, gradients ≤ 1e-3.
 * NAFLOW_ONNX_FIXTURES=alexnet,opzoo limits the fixture models (they all run by default);
 * NAFLOW_BACKEND=wasm runs them on the wasm backend (default: cpu).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { forward, backward } from '../src/engine/execute.js';
import { loadModel, importGraph } from '../src/node/load.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { lrnModel, minimalModel } from './helpers/onnx-model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// compiled to dist/test/: the repository root is two levels up; from test/ (ts-node style) one
const repoRoot = fs.existsSync(path.join(here, '..', 'package.json')) ? path.resolve(here, '..') : path.resolve(here, '..', '..');
const fixturesDir = path.join(repoRoot, 'test', 'fixtures', 'onnx');
const sharedDir = path.resolve(repoRoot, '../shared');

const CANONICAL = new Set([
  'Conv',
  'ConvTranspose',
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Concat',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'ReduceMean',
  'Gemm',
  'MatMul',
  'Flatten',
  'Reshape',
  'Transpose',
  'Slice',
  'Pad',
  'Resize',
  'Dropout',
  'Identity',
  'Softmax',
]);

interface Manifest {
  name: string;
  opset: number;
  model: string;
  input: { name: string; shape: number[]; file: string };
  logits: { name: string; file: string; shape: number[] };
  topClass: number;
  gradInput: string;
  inner: Array<{ label: string; tensor: string; op: string; shape: number[]; value: string; grad: string }>;
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'element count');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

const toNCHW = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t.clone());

function fixtureDirs(): string[] {
  if (!fs.existsSync(fixturesDir)) return [];
  const only = process.env.NAFLOW_ONNX_FIXTURES?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return fs
    .readdirSync(fixturesDir)
    .filter((d) => fs.existsSync(path.join(fixturesDir, d, 'manifest.json')))
    .filter((d) => !only || only.includes(d))
    .sort();
}

test.before(async () => {
  await initBackend({ backend: process.env.NAFLOW_BACKEND === 'wasm' ? 'wasm' : 'cpu' });
});

const dirs = fixtureDirs();
if (!dirs.length) test('ONNX fixtures', (t) => t.skip(`no fixtures under ${fixturesDir}`));

for (const dir of dirs) {
  test(`fixture ${dir}: logits, inner values and gradients match PyTorch`, async () => {
    const base = path.join(fixturesDir, dir);
    const man = JSON.parse(fs.readFileSync(path.join(base, 'manifest.json'), 'utf8')) as Manifest;
    const model = await loadModel(path.join(base, man.model));
    const report: string[] = [];
    try {
      const graph = model.graph;
      for (const n of graph.nodes) assert.ok(CANONICAL.has(n.op), `node '${n.name}' has non-canonical op '${n.op}'`);
      const inputNpy = readNpy(path.join(base, man.input.file));
      tf.tidy(() => {
        const xNCHW = tf.tensor(npyToFloat32(inputNpy), inputNpy.shape);
        const x = xNCHW.rank === 4 ? tf.transpose(xNCHW, [0, 2, 3, 1]) : xNCHW;
        const innerNames = man.inner.map((i) => i.tensor);
        const rec = forward(model, { [man.input.name]: x }, { record: true });
        try {
          const logits = rec.get(man.logits.name);
          const ref = readNpy(path.join(base, man.logits.file));
          assert.deepEqual(logits.shape, ref.shape, 'logits shape');
          const le = relErr(logits.dataSync(), npyToFloat32(ref));
          report.push(`logits ${le.toExponential(2)}`);
          assert.ok(le <= 1e-4, `${dir}: logits rel err ${le}`);
          for (const inner of man.inner) {
            const v = toNCHW(rec.get(inner.tensor));
            const e = relErr(v.dataSync(), npyToFloat32(readNpy(path.join(base, inner.value))));
            report.push(`${inner.label} value ${e.toExponential(2)}`);
            assert.ok(e <= 1e-4, `${dir}: inner '${inner.tensor}' value rel err ${e}`);
          }
          const seed = tf.cast(tf.oneHot([man.topClass], logits.shape[1] as number), 'float32');
          const grads = backward(model, rec, man.logits.name, [man.input.name, ...innerNames], seed);
          try {
            const gIn = toNCHW(grads.get(man.input.name)!);
            const ge = relErr(gIn.dataSync(), npyToFloat32(readNpy(path.join(base, man.gradInput))));
            report.push(`grad input ${ge.toExponential(2)}`);
            assert.ok(ge <= 1e-3, `${dir}: input gradient rel err ${ge}`);
            for (const inner of man.inner) {
              const g = toNCHW(grads.get(inner.tensor)!);
              const e = relErr(g.dataSync(), npyToFloat32(readNpy(path.join(base, inner.grad))));
              report.push(`${inner.label} grad ${e.toExponential(2)}`);
              assert.ok(e <= 1e-3, `${dir}: gradient w.r.t. '${inner.tensor}' rel err ${e}`);
            }
          } finally {
            for (const g of grads.values()) g.dispose();
          }
        } finally {
          rec.dispose();
        }
      });
    } finally {
      model.dispose();
      console.log(`# ${dir}: ${report.join(', ')}`);
    }
  });
}

test('resnet20.onnx (CIFAR, option-A shortcuts) folds to canonical ops', async (t) => {
  const file = path.join(sharedDir, 'data', 'models', 'cifar-resnet', 'resnet20.onnx');
  if (!fs.existsSync(file)) {
    t.skip(`${file} is absent`);
    return;
  }
  const model = await loadModel(file);
  try {
    const g = model.graph;
    const counts = new Map<string, number>();
    for (const n of g.nodes) counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
    assert.equal(counts.get('BatchNormalization'), 19);
    assert.equal(counts.get('Conv'), 19);
    for (const op of counts.keys()) assert.ok(CANONICAL.has(op), `non-canonical op '${op}' left in the graph`);
    assert.deepEqual(g.inputs[0].shape, [-1, 32, 32, 3]);
    // the shortcut pads are channel pads on NHWC tensors
    const pads = g.nodes.filter((n) => n.op === 'Pad');
    assert.equal(pads.length, 2);
    for (const p of pads)
      assert.deepEqual((p.attrs as { pads: number[][] }).pads.slice(0, 3), [
        [0, 0],
        [0, 0],
        [0, 0],
      ]);
    const y = tf.tidy(() => {
      const rec = forward(model, tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1));
      const out = rec.get('logits').clone();
      rec.dispose();
      return out;
    });
    assert.deepEqual(y.shape, [2, 10]);
    assert.ok(Array.from(y.dataSync()).every(Number.isFinite));
    y.dispose();
  } finally {
    model.dispose();
  }
});

// ------------------------------------------------------------------ errors

function tmpFile(name: string, bytes: Uint8Array): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-onnx-'));
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

test('a truncated ONNX file is rejected with a message naming the file', async () => {
  const src = dirs.length ? path.join(fixturesDir, dirs[0], 'model.onnx') : path.join(sharedDir, 'data/models/cifar-resnet/resnet20.onnx');
  const bytes = fs.existsSync(src) ? new Uint8Array(fs.readFileSync(src)) : minimalModel(13);
  const f = tmpFile('truncated.onnx', bytes.slice(0, Math.floor(bytes.length / 2)));
  await assert.rejects(loadModel(f), (e: Error) => {
    assert.ok(e.message.includes(f), e.message);
    assert.match(e.message, /not a valid ONNX model: the file is truncated or is not ONNX/);
    return true;
  });
});

test('a non-model file (image bytes) is rejected with a message naming the file', async () => {
  for (const [name, head] of [
    ['photo.jpg', [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01]],
    ['image.onnx', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52]],
  ] as Array<[string, number[]]>) {
    const f = tmpFile(name, Uint8Array.from(head));
    await assert.rejects(loadModel(f), (e: Error) => {
      assert.ok(e.message.includes(f), e.message);
      assert.match(e.message, /not a valid ONNX model/);
      return true;
    });
  }
});

test('an unsupported op is kept at import and rejected at load, naming file, node and op', async () => {
  let file = path.join(repoRoot, 'test', 'fixtures', 'bad', 'unknown-op.onnx');
  let node = 'unsupported_einsum_node';
  let op = 'Einsum';
  if (!fs.existsSync(file)) {
    file = tmpFile('lrn.onnx', lrnModel());
    node = 'my_lrn';
    op = 'LRN';
  }
  // import keeps it (so `naflow inspect` can list it)
  const g = importGraph(file);
  const kept = g.nodes.find((n) => n.name === node);
  assert.ok(kept, `node '${node}' kept`);
  assert.equal(kept.op, op);
  for (const t of g.constants.values()) t.dispose();
  await assert.rejects(loadModel(file), (e: Error) => {
    assert.ok(e.message.includes(file), e.message);
    assert.ok(e.message.includes(node), e.message);
    assert.ok(e.message.includes(op), e.message);
    return true;
  });
});
