/**
 * The native (onnxruntime) convolution path against the tfjs one, which the other op tests check
 * against tfjs autodiff and PyTorch: forward without bias and input gradient for every geometry the
 * Conv rule takes (stride, asymmetric and over-sized pads, dilation, groups, depthwise with a
 * multiplier, batch > 1), the adjoint identity ⟨J x, u⟩ = ⟨x, Jᵀ u⟩, a whole model's logits and
 * gradients, and that the path frees what it allocates. Skips where onnxruntime-node is not installed.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { nativeStatus, withoutNative } from '../src/runtime/native.js';
import { convForward, convInputGrad, type ConvGeom } from '../src/ops/conv-core.js';
import { NativeConv } from '../src/ops/conv-native.js';
import { loadModel } from '../src/node/load.js';
import { forward, backward } from '../src/engine/execute.js';
import { assertClose, rand, useBackend } from './helpers/op-context.js';

const status = nativeStatus();
const skip = status.available ? false : `native kernels unavailable: ${status.reason}`;

// CI sets NAFLOW_REQUIRE_NATIVE=1: there a missing onnxruntime-node is a failure, not a skip
test('native kernels load where they are required', { skip: process.env.NAFLOW_REQUIRE_NATIVE === '1' ? false : 'NAFLOW_REQUIRE_NATIVE is not set' }, () => {
  assert.ok(status.available, `native kernels unavailable: ${status.reason}`);
});

test.before(async () => {
  await useBackend('cpu');
});

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  g: ConvGeom;
}
const geom = (s: number[], p: number[], d: number[] = [1, 1], group = 1): ConvGeom => ({
  strides: s as [number, number],
  pads: p as [number, number, number, number],
  dilations: d as [number, number],
  group,
});
const cases: Case[] = [
  { name: '3x3 s1 p1', x: [1, 7, 6, 3], w: [3, 3, 3, 5], g: geom([1, 1], [1, 1, 1, 1]) },
  { name: '3x3 s2 p1 (odd size: output_padding)', x: [1, 7, 8, 4], w: [3, 3, 4, 6], g: geom([2, 2], [1, 1, 1, 1]) },
  { name: '7x7 s2 p3 (ResNet stem)', x: [1, 16, 16, 3], w: [7, 7, 3, 8], g: geom([2, 2], [3, 3, 3, 3]) },
  { name: '1x1 s2 (projection shortcut)', x: [1, 9, 9, 4], w: [1, 1, 4, 8], g: geom([2, 2], [0, 0, 0, 0]) },
  { name: '3x3 asymmetric pads (TF SAME, stride 2)', x: [1, 8, 8, 3], w: [3, 3, 3, 4], g: geom([2, 2], [0, 0, 1, 1]) },
  { name: '3x3 dilation 2 p2', x: [1, 9, 9, 3], w: [3, 3, 3, 4], g: geom([1, 1], [2, 2, 2, 2], [2, 2]) },
  { name: '3x3 pads larger than the kernel reach (ConvTranspose path)', x: [1, 5, 5, 2], w: [3, 3, 2, 3], g: geom([1, 1], [3, 3, 3, 3]) },
  { name: 'grouped 3x3 (4 groups)', x: [1, 6, 6, 8], w: [3, 3, 2, 12], g: geom([1, 1], [1, 1, 1, 1], [1, 1], 4) },
  { name: 'depthwise 3x3 s2, multiplier 2', x: [1, 8, 7, 4], w: [3, 3, 1, 8], g: geom([2, 2], [1, 1, 1, 1], [1, 1], 4) },
  { name: 'batch of 3, 3x3 s1 p0', x: [3, 6, 6, 2], w: [3, 3, 2, 3], g: geom([1, 1], [0, 0, 0, 0]) },
];

for (const c of cases) {
  test(`native conv = tfjs conv: ${c.name}`, { skip }, () => {
    const x = rand(c.x, 11) as tf.Tensor4D;
    const w = rand(c.w, 12) as tf.Tensor4D;
    const native = new NativeConv(w, c.g);
    const yT = withoutNative(() => convForward(x, w, c.g));
    const yN = native.forward(x);
    assert.deepEqual(yN.shape, yT.shape);
    assertClose(yN.dataSync(), yT.dataSync(), 1e-5, 1e-6, `${c.name}: forward`);
    const u = rand(yT.shape, 13) as tf.Tensor4D;
    const dT = withoutNative(() => convInputGrad(u, c.x, c.w, c.g, undefined, 'b', w));
    const dN = native.inputGrad(u, c.x);
    assert.deepEqual(dN.shape, c.x);
    assertClose(dN.dataSync(), dT.dataSync(), 1e-5, 1e-6, `${c.name}: input gradient`);
    // the adjoint identity on the native pair itself
    const lhs = tf.sum(tf.mul(yN, u)).dataSync()[0];
    const rhs = tf.sum(tf.mul(x, dN)).dataSync()[0];
    assert.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.max(1, Math.abs(lhs)), `${c.name}: ⟨Jx, u⟩ ${lhs} vs ⟨x, Jᵀu⟩ ${rhs}`);
    native.dispose();
    tf.dispose([x, w, yT, yN, u, dT, dN]);
  });
}

test('a whole model (reduced-width ResNet-18 fixture): logits and input gradient agree native vs tfjs, no tensor leaks', { skip }, async () => {
  const model = await loadModel('test/fixtures/onnx/resnet18/model.onnx');
  const [n, h, w, c] = model.inputs[0].shape;
  const x = rand([Math.max(n, 1), h, w, c], 21);
  const run = () => {
    const rec = forward(model, x, { record: true });
    const out = rec.get(model.outputs[0]);
    const seed = tf.tidy(() => tf.cast(tf.oneHot([3], out.shape[1]!), 'float32'));
    const g = backward(model, rec, model.outputs[0], [model.inputs[0].name], seed);
    const res = { logits: out.dataSync().slice(), grad: g.get(model.inputs[0].name)!.dataSync().slice() };
    seed.dispose();
    for (const t of g.values()) t.dispose();
    rec.dispose();
    return res;
  };
  const tfjs = withoutNative(run);
  const native = run();
  assertClose(native.logits, tfjs.logits, 1e-4, 1e-5, 'logits');
  assertClose(native.grad, tfjs.grad, 1e-3, 1e-6, 'input gradient');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) run();
  assert.equal(tf.memory().numTensors, before, 'live tensors after 3 more native runs');
  x.dispose();
  model.dispose();
});
