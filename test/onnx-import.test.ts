/**
 * ONNX importer against PyTorch reference fixtures (test/fixtures/onnx/<model>/, see the README there):
 * logits, inner activations and gradients (d logits[top] / d input and / d inner tensors), plus the
 * CIFAR ResNet-20 from shared/ (option-A shortcuts must fold to canonical ops) and error cases.
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
import onnxProto from 'onnx-proto';
import { initBackend } from '../src/engine/backend.js';
import { forward, backward } from '../src/engine/execute.js';
import { loadModel, importGraph } from '../src/node/load.js';
import { importOnnx } from '../src/import/onnx.js';
import { readNpy, npyToFloat32, encodeNpy, parseNpy } from '../src/node/npy-file.js';
import type { Graph } from '../src/ir/graph.js';

const { onnx } = onnxProto;

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
    assert.match(e.message, /not a valid ONNX model/);
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

// ------------------------------------------------------------------ small hand-built models

const T = onnx.TensorProto.DataType;

function tensorProto(name: string, dims: number[], values: number[], dataType = T.FLOAT) {
  const p = onnx.TensorProto.create({ name, dims, dataType });
  if (dataType === T.FLOAT) p.floatData = values;
  else if (dataType === T.INT64) p.int64Data = values;
  else p.int32Data = values;
  return p;
}

function valueInfo(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: T.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function attr(name: string, v: number | number[] | string) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  return Number.isInteger(v) ? onnx.AttributeProto.create({ name, type: A.INT, i: v }) : onnx.AttributeProto.create({ name, type: A.FLOAT, f: v });
}

function encodeModel(opset: number, nodes: object[], inits: object[], inputs: object[], outputs: object[]): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'naflow-test',
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs },
  });
  return onnx.ModelProto.encode(m).finish();
}

function minimalModel(opset: number): Uint8Array {
  return encodeModel(
    opset,
    [onnx.NodeProto.create({ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] })],
    [],
    [valueInfo('x', [1, 2, 4, 4])],
    [valueInfo('y', [1, 2, 4, 4])],
  );
}

function lrnModel(): Uint8Array {
  return encodeModel(
    13,
    [
      onnx.NodeProto.create({ name: 'relu', opType: 'Relu', input: ['x'], output: ['r'] }),
      onnx.NodeProto.create({ name: 'my_lrn', opType: 'LRN', input: ['r'], output: ['y'], attribute: [attr('size', 3)] }),
    ],
    [],
    [valueInfo('x', [1, 4, 4, 4])],
    [valueInfo('y', [1, 4, 4, 4])],
  );
}

test('unsupported opsets, empty graphs and external data give specific errors', () => {
  assert.throws(() => importOnnx(minimalModel(9), 'm9.onnx'), /m9\.onnx: ONNX opset 9 is not supported/);
  assert.throws(() => importOnnx(minimalModel(19), 'm19.onnx'), /opset 19 is not supported/);
  const empty = encodeModel(13, [], [], [valueInfo('x', [1, 2])], [valueInfo('x', [1, 2])]);
  assert.throws(() => importOnnx(empty, 'empty.onnx'), /empty\.onnx: the ONNX graph has no nodes/);
  const noGraph = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ version: 13 }] })).finish();
  assert.throws(() => importOnnx(noGraph, 'nog.onnx'), /nog\.onnx: the ONNX model has no graph/);
  const ext = onnx.TensorProto.create({
    name: 'w',
    dims: [2],
    dataType: T.FLOAT,
    dataLocation: 1,
    externalData: [{ key: 'location', value: 'w.bin' }],
  });
  const extModel = encodeModel(
    13,
    [onnx.NodeProto.create({ name: 'a', opType: 'Add', input: ['x', 'w'], output: ['y'] })],
    [ext],
    [valueInfo('x', [1, 2])],
    [valueInfo('y', [1, 2])],
  );
  assert.throws(() => importOnnx(extModel, 'ext.onnx'), /ext\.onnx: .*'w'.*external data.*w\.bin/);
});

test('layout: NCHW graph → NHWC storage with remapped axes and converted constants', () => {
  // x [N,4,3,3] → Conv(w [6,4,1,1]) → Concat(axis 1, with x... ) → Add([6+4,1,1] const) → ReduceMean(axes [3], keepdims 0)
  //   → Reshape([0,-1]) → Gemm(transB) → y
  const w = Array.from({ length: 24 }, (_, i) => (i % 7) - 3);
  const c = Array.from({ length: 10 }, (_, i) => i / 10);
  const g = Array.from({ length: 5 * 30 }, (_, i) => ((i * 13) % 11) - 5);
  const bytes = encodeModel(
    13,
    [
      onnx.NodeProto.create({ name: 'conv', opType: 'Conv', input: ['x', 'w'], output: ['c'], attribute: [attr('pads', [0, 0, 0, 0])] }),
      onnx.NodeProto.create({ name: 'cat', opType: 'Concat', input: ['c', 'x'], output: ['cat'], attribute: [attr('axis', 1)] }),
      onnx.NodeProto.create({ name: 'add', opType: 'Add', input: ['cat', 'k'], output: ['a'] }),
      onnx.NodeProto.create({ name: 'mean', opType: 'ReduceMean', input: ['a'], output: ['m'], attribute: [attr('axes', [3]), attr('keepdims', 0)] }),
      onnx.NodeProto.create({ name: 'flat', opType: 'Reshape', input: ['m', 'shape'], output: ['f'] }),
      onnx.NodeProto.create({ name: 'fc', opType: 'Gemm', input: ['f', 'gw'], output: ['y'], attribute: [attr('transB', 1)] }),
    ],
    [tensorProto('w', [6, 4, 1, 1], w), tensorProto('k', [10, 1, 1], c), tensorProto('shape', [2], [0, -1], T.INT64), tensorProto('gw', [5, 30], g)],
    [valueInfo('x', ['N', 4, 3, 3])],
    [valueInfo('y', ['N', 5])],
  );
  const graph: Graph = importOnnx(bytes, 'layout.onnx');
  try {
    assert.deepEqual(graph.inputs, [{ name: 'x', shape: [-1, 3, 3, 4], dtype: 'float32' }]);
    const byName = new Map(graph.nodes.map((n) => [n.name, n]));
    const conv = byName.get('conv')!;
    assert.deepEqual(graph.constants.get(conv.inputs[1])!.shape, [1, 1, 4, 6]);
    assert.deepEqual((byName.get('cat')!.attrs as { axis: number }).axis, 3);
    assert.deepEqual(graph.constants.get(byName.get('add')!.inputs[1])!.shape, [1, 1, 1, 10]);
    // ReduceMean over W without keepdims: NHWC leaves [N,H,C], ONNX wants [N,C,H] → an order transpose
    assert.deepEqual((byName.get('mean')!.attrs as { axes: number[] }).axes, [2]);
    const order = graph.nodes.find((n) => n.outputs.includes('m'))!;
    assert.equal(order.op, 'Transpose');
    assert.deepEqual((order.attrs as { perm: number[] }).perm, [0, 2, 1]);
    assert.deepEqual((byName.get('flat')!.attrs as { shape: number[] }).shape, [-1, 30]);
    assert.deepEqual(graph.constants.get(byName.get('fc')!.inputs[1])!.shape, [30, 5]);
  } finally {
    for (const t of graph.constants.values()) t.dispose();
  }
});

test('shape arithmetic on a symbolic batch folds; integer ops on activations are rejected', () => {
  // y = x.view(x.size(0), -1): Shape → Gather → Unsqueeze → Concat → Reshape
  const viewModel = encodeModel(
    13,
    [
      onnx.NodeProto.create({ name: 'shape', opType: 'Shape', input: ['x'], output: ['sh'] }),
      onnx.NodeProto.create({ name: 'gather', opType: 'Gather', input: ['sh', 'i0'], output: ['n'], attribute: [attr('axis', 0)] }),
      onnx.NodeProto.create({ name: 'unsq', opType: 'Unsqueeze', input: ['n', 'ax0'], output: ['nu'] }),
      onnx.NodeProto.create({ name: 'cat', opType: 'Concat', input: ['nu', 'm1'], output: ['tgt'], attribute: [attr('axis', 0)] }),
      onnx.NodeProto.create({ name: 'view', opType: 'Reshape', input: ['x', 'tgt'], output: ['y'] }),
    ],
    [tensorProto('i0', [], [0], T.INT64), tensorProto('ax0', [1], [0], T.INT64), tensorProto('m1', [1], [-1], T.INT64)],
    [valueInfo('x', ['batch', 2, 3, 4])],
    [valueInfo('y', ['batch', 24])],
  );
  const g = importOnnx(viewModel, 'view.onnx');
  try {
    assert.deepEqual(
      g.nodes.map((n) => n.op),
      ['Transpose', 'Reshape'],
    );
    assert.deepEqual((g.nodes[1].attrs as { shape: number[] }).shape, [-1, 24]);
    assert.deepEqual(g.values.get('y')?.shape, [-1, 24]);
  } finally {
    for (const t of g.constants.values()) t.dispose();
  }
  const eqModel = encodeModel(
    13,
    [onnx.NodeProto.create({ name: 'eq', opType: 'Equal', input: ['x', 'z'], output: ['y'] })],
    [tensorProto('z', [], [0])],
    [valueInfo('x', [1, 2, 3, 4])],
    [valueInfo('y', [1, 2, 3, 4])],
  );
  assert.throws(() => importOnnx(eqModel, 'eq.onnx'), /eq\.onnx: node 'eq' \(Equal\): computes integer\/shape values from activations/);
});

test('after an unsupported op the import goes on best-effort (shapes may be unknown)', () => {
  const bytes = encodeModel(
    13,
    [
      onnx.NodeProto.create({ name: 'lrn', opType: 'LRN', input: ['x'], output: ['l'], attribute: [attr('size', 3)] }),
      onnx.NodeProto.create({ name: 'conv', opType: 'Conv', input: ['l', 'w'], output: ['c'] }),
      onnx.NodeProto.create({ name: 'shape', opType: 'Shape', input: ['c'], output: ['s'] }),
      onnx.NodeProto.create({ name: 'flat', opType: 'Flatten', input: ['c'], output: ['y'] }),
    ],
    [tensorProto('w', [2, 4, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8])],
    [valueInfo('x', [1, 4, 3, 3])],
    [valueInfo('y', [1, 18])],
  );
  const g = importOnnx(bytes, 'lrn.onnx');
  try {
    assert.deepEqual(
      g.nodes.map((n) => `${n.name}:${n.op}`),
      ['lrn:LRN', 'conv:Conv', 'shape:Shape', 'flat:Flatten'],
    );
    assert.equal(g.nodes[0].sourceOp, 'LRN');
  } finally {
    for (const t of g.constants.values()) t.dispose();
  }
});

test('resize: an ONNX nearest mode with no naflow equivalent is an error, not a silent mismatch', () => {
  const bytes = encodeModel(
    13,
    [
      onnx.NodeProto.create({
        name: 'up',
        opType: 'Resize',
        input: ['x', 'roi', 'scales'],
        output: ['y'],
        attribute: [attr('mode', 'nearest'), attr('coordinate_transformation_mode', 'half_pixel'), attr('nearest_mode', 'floor')],
      }),
    ],
    [tensorProto('roi', [0], []), tensorProto('scales', [4], [1, 1, 1.5, 1.5])],
    [valueInfo('x', [1, 2, 6, 6])],
    [valueInfo('y', [1, 2, 9, 9])],
  );
  assert.throws(() => importOnnx(bytes, 'rs.onnx'), /rs\.onnx: node 'up' \(Resize\): nearest resize .* no equivalent/);
});

test('npy: write/read round trip', () => {
  const data = Float32Array.from([1, -2.5, 3.25, 0, 1e-8, -7]);
  const bytes = encodeNpy(data, [2, 3]);
  assert.equal((bytes.length - data.byteLength) % 64, 0);
  const back = parseNpy(bytes);
  assert.equal(back.dtype, 'float32');
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(Array.from(back.data as Float32Array), Array.from(data));
  assert.throws(() => parseNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])), /not a \.npy file/);
});

test('opset 18 forms (ReduceMean axes input, Pad with axes input) run and match a closed form', async () => {
  await initBackend({ backend: 'cpu' });
  // x [1,2,2,2] (NCHW) → Pad(pads [1,1] on axis 3 only, constant 0) → ReduceMean(axes input [2,3], keepdims 1) → y [1,2,1,1]
  const x = [1, 2, 3, 4, 5, 6, 7, 8];
  const bytes = encodeModel(
    18,
    [
      onnx.NodeProto.create({ name: 'pad', opType: 'Pad', input: ['x', 'pads', '', 'axes'], output: ['p'], attribute: [attr('mode', 'constant')] }),
      onnx.NodeProto.create({ name: 'mean', opType: 'ReduceMean', input: ['p', 'raxes'], output: ['y'], attribute: [attr('keepdims', 1)] }),
    ],
    [tensorProto('pads', [2], [1, 1], T.INT64), tensorProto('axes', [1], [3], T.INT64), tensorProto('raxes', [2], [2, 3], T.INT64)],
    [valueInfo('x', [1, 2, 2, 2])],
    [valueInfo('y', [1, 2, 1, 1])],
  );
  const file = path.join(os.tmpdir(), `naflow-opset18-${process.pid}.onnx`);
  fs.writeFileSync(file, bytes);
  const model = await loadModel(file);
  try {
    // NHWC input: channel c of pixel (h, w) is x[c*4 + h*2 + w]
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(x, [1, 2, 2, 2]), [0, 2, 3, 1]));
    const rec = forward(model, nhwc);
    // each channel: 4 values padded with 4 zeros along W (2×4 cells) → mean = sum / 8
    assert.deepEqual(Array.from(rec.outputs[0].dataSync()), [(1 + 2 + 3 + 4) / 8, (5 + 6 + 7 + 8) / 8]);
    rec.dispose();
    nhwc.dispose();
  } finally {
    model.dispose();
    fs.rmSync(file, { force: true });
  }
});
