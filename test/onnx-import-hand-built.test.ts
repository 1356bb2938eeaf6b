/**
 * ONNX importer on small models built by hand (test/helpers/onnx-model.ts): opset, empty-graph and
 * external-data errors, the NCHW → NHWC layout, shape arithmetic folding, best-effort import after an
 * unsupported op, Resize modes, the .npy round trip and the opset-18 input forms against closed forms.
 * NAFLOW_BACKEND=wasm runs them on the wasm backend (default: cpu), as in onnx-import.test.ts.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import { initBackend } from '../src/engine/backend.js';
import { forward } from '../src/engine/execute.js';
import { loadModel } from '../src/node/load.js';
import { importOnnx } from '../src/import/onnx.js';
import { encodeNpy, parseNpy } from '../src/node/npy-file.js';
import type { Graph } from '../src/ir/graph.js';
import { attr, encodeModel, minimalModel, T, tensorProto, valueInfo } from './helpers/onnx-model.js';

const { onnx } = onnxProto;

test.before(async () => {
  await initBackend({ backend: process.env.NAFLOW_BACKEND === 'wasm' ? 'wasm' : 'cpu' });
});

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
