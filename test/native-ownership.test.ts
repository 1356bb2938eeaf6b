/**
 * A Model owns the native sessions compiled for its weights: the Conv fast path registers their
 * cleanup with the weight's owner (runtime/native.ts), so disposing the Model frees them without the
 * engine knowing the ops' caches. Skips where onnxruntime-node is not installed.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeStatus, setNativeCacheOwner } from '../src/runtime/native.js';
import { nativeConvFor, type NativeConv } from '../src/ops/conv-native.js';
import type { ConvGeom } from '../src/ops/conv-core.js';
import { loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';
import { rand, useBackend } from './helpers/op-context.js';

const status = nativeStatus();
const skip = status.available ? false : `native kernels unavailable: ${status.reason}`;
const GEOM: ConvGeom = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
const sessionsOf = (c: NativeConv) => (c as unknown as { sessions: Map<string, unknown> }).sessions.size;

test.before(async () => {
  await useBackend('cpu');
});

test("a weight's native sessions are freed by the cleanup registered with its owner, once", { skip }, () => {
  const w = rand([3, 3, 2, 4], 5);
  const cleanups: Array<() => void> = [];
  setNativeCacheOwner(w, { onDispose: (fn) => cleanups.push(fn) });
  const conv = nativeConvFor(w, GEOM)!;
  assert.ok(conv, 'a native conv for a 3×3 weight');
  assert.equal(nativeConvFor(w, GEOM), conv, 'cached per weight and geometry');
  nativeConvFor(w, { ...GEOM, pads: [0, 0, 0, 0] });
  assert.equal(cleanups.length, 1, 'one cleanup per weight, whatever the geometries');
  const x = rand([1, 5, 5, 2], 6);
  conv.forward(x as tf.Tensor4D).dispose();
  assert.equal(sessionsOf(conv), 1);
  cleanups[0]();
  assert.equal(sessionsOf(conv), 0, 'sessions disposed');
  assert.notEqual(nativeConvFor(w, GEOM), conv, 'a fresh native conv after the cleanup');
  tf.dispose([w, x]);
});

test("disposing a Model frees the native sessions of its convolutions' weights", { skip }, async () => {
  const model = await loadModel('test/fixtures/onnx/resnet18/model.onnx');
  const [n, h, w, c] = model.inputs[0].shape;
  const x = rand([Math.max(n, 1), h, w, c], 21);
  forward(model, x).dispose();
  const convs = model.graph.nodes
    .filter((node) => node.op === 'Conv' && model.graph.constants.has(node.inputs[1]))
    .map((node) => nativeConvFor(model.graph.constants.get(node.inputs[1]), node.attrs as unknown as ConvGeom)!)
    .filter((conv) => conv !== undefined);
  assert.ok(convs.length > 0 && convs.every((conv) => sessionsOf(conv) > 0), 'the forward pass compiled native sessions');
  model.dispose();
  assert.ok(
    convs.every((conv) => sessionsOf(conv) === 0),
    'all freed by Model.dispose',
  );
  x.dispose();
});
