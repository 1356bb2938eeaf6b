/**
 * CAM baselines (src/baselines) against pytorch-grad-cam (fixtures from tools/gradcam_fixtures.py,
 * commit 084273b3f30b54ad0c64cf8020a4337d979a66e0) on the VGG16 and ResNet-18 ONNX fixtures.
 *
 * Comparison: both sides RAW — pytorch-grad-cam's per-layer cam max(get_cam_image(A, G), 0) captured
 * before its scale_cam_image (min-max normalisation + resize), against naflow's raw maps. Tolerance:
 * max|a−b| / max|b| ≤ 1e-4. Where the reference map is identically zero (ReLU of an all-negative
 * Grad-CAM sum), naflow's must be zero too (≤ 1e-6 of the same layer's LayerCAM scale); Grad-CAM's signed
 * sum before the ReLU is also compared, so those layers are checked as well.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { runCascade } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { camFlow, channelSum, pixelAttribution, scoreCamFlow, type PixelMethod } from '../src/baselines/index.js';
import { listMethods, runMethod } from '../src/methods/index.js';

/** The CAMs of the method registry (the baselines offered beside NAFlow) and its pixel-space methods. */
const CAMS = listMethods({ comparable: true }).map((m) => m.id);
const PIXEL_METHODS = listMethods({ space: 'pixel' }).map((m) => m.id as PixelMethod);
import { explainSimilarity, similaritySeed } from '../src/similarity/explain-similarity.js';
import { retrievalTarget } from '../src/similarity/targets.js';
import { node, testModel } from './helpers/graph.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const onnxDir = path.join(repoRoot, 'test/fixtures/onnx');
const camDir = path.join(repoRoot, 'test/fixtures/gradcam');

function relErr(got: Float32Array, want: Float32Array): { diff: number; scale: number } {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  want.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - got[i]));
    scale = Math.max(scale, Math.abs(v));
  });
  return { diff, scale };
}

async function load(name: string) {
  await initBackend({ backend: 'cpu' });
  const dir = path.join(onnxDir, name);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const model = await loadModel(path.join(dir, manifest.model));
  const input = npyToFloat32(readNpy(path.join(dir, manifest.input.file)));
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(input, manifest.input.shape), [0, 2, 3, 1]));
  return { model, x, manifest };
}

for (const name of ['vgg16', 'resnet18']) {
  test(`CAM baselines equal pytorch-grad-cam's raw per-layer maps (${name})`, async () => {
    const { model, x } = await load(name);
    const cams = JSON.parse(fs.readFileSync(path.join(camDir, name, 'manifest.json'), 'utf8'));
    const tensors: string[] = cams.layers.map((l: { tensor: string }) => l.tensor);
    const before = tf.memory().numTensors;
    const flows = Object.fromEntries(CAMS.map((m) => [m, runMethod(model, x, m, { layers: tensors })]));
    assert.equal(tf.memory().numTensors, before, 'camFlow frees what it allocates');
    const errors: string[] = [];
    for (const layer of cams.layers) {
      const lc = flows.layercam.layers.find((l) => l.name === layer.tensor)!;
      const lcScale = Math.max(...lc.map);
      for (const method of CAMS) {
        const flow = flows[method];
        assert.equal(flow.classIndex, cams.topClass);
        const got = flow.layers.find((l) => l.name === layer.tensor);
        assert.ok(got, `${method}: a map for ${layer.tensor}`);
        assert.deepEqual(got!.shape, layer.shape);
        const want = npyToFloat32(readNpy(path.join(camDir, name, layer.maps[method])));
        const { diff, scale } = relErr(got!.map, want);
        errors.push(`${method}/${layer.label}: ${scale > 0 ? (diff / scale).toExponential(2) : `abs ${diff.toExponential(2)} (zero ref)`}`);
        if (scale > 0) assert.ok(diff / scale <= 1e-4, `${name} ${method} ${layer.label}: rel. error ${diff / scale}`);
        else assert.ok(diff <= 1e-6 * lcScale, `${name} ${method} ${layer.label}: reference is zero, naflow max ${diff}`);
      }
    }
    // Grad-CAM before its ReLU (pins the all-negative layers down too)
    const signed = camFlow(model, x, (a, g) => channelSum(tf.mul(a, tf.mean(g, [1, 2], true))), { layers: tensors });
    for (const layer of cams.layers) {
      const got = signed.layers.find((l) => l.name === layer.tensor)!;
      const want = npyToFloat32(readNpy(path.join(camDir, name, layer.gradcamSigned)));
      const { diff, scale } = relErr(got.map, want);
      errors.push(`gradcam-signed/${layer.label}: ${(diff / scale).toExponential(2)}`);
      assert.ok(scale > 0 && diff / scale <= 1e-4, `${name} signed Grad-CAM ${layer.label}: rel. error ${diff / scale}`);
    }
    console.log(`${name}: ${errors.join(', ')}`);
    x.dispose();
    model.dispose();
  });
}

for (const name of ['vgg16', 'resnet18']) {
  test(`Score-CAM equals pytorch-grad-cam's ScoreCAM raw maps (${name}; batched forward passes, ≤ 1e-4)`, async () => {
    const { model, x } = await load(name);
    const cams = JSON.parse(fs.readFileSync(path.join(camDir, name, 'manifest.json'), 'utf8'));
    const tensors: string[] = cams.layers.map((l: { tensor: string }) => l.tensor);
    const before = tf.memory().numTensors;
    const flow = scoreCamFlow(model, x, { layers: tensors, batch: 16 });
    assert.equal(tf.memory().numTensors, before, 'scoreCamFlow frees what it allocates');
    assert.equal(flow.classIndex, cams.topClass);
    for (const layer of cams.layers) {
      const got = flow.layers.find((l) => l.name === layer.tensor)!;
      const want = npyToFloat32(readNpy(path.join(camDir, name, layer.maps.scorecam)));
      const { diff, scale } = relErr(got.map, want);
      assert.ok(scale > 0 && diff / scale <= 1e-4, `${name} Score-CAM ${layer.label}: rel. error ${diff / scale}`);
    }
    x.dispose();
    model.dispose();
  });
}

test('camFlow covers the same tensors, in the same order, as runCascade; LayerCAM = reference mode at post-ReLU tensors', async () => {
  for (const name of ['vgg16', 'resnet18']) {
    const { model, x } = await load(name);
    const ref = runCascade(model, x, { mode: 'reference' });
    const before = tf.memory().numTensors;
    const lc = runMethod(model, x, 'layercam');
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(
      lc.layers.map((l) => l.name),
      ref.layers.map((l) => l.name),
    );
    assert.equal(lc.classIndex, ref.classIndex);
    assert.ok(Math.abs(lc.score - ref.score) <= 1e-6 * Math.max(1, Math.abs(ref.score)));
    const ops = new Map(ref.layers.map((l) => [l.name, l.op]));
    let compared = 0;
    let worst = 0;
    for (const [i, layer] of lc.layers.entries()) {
      // post-ReLU (and max-pool of post-ReLU) tensors have A ≥ 0, where Σ_c A⊙ReLU(G) = Σ_c ReLU(A⊙G)
      if (!['Relu', 'MaxPool'].includes(ops.get(layer.name)!)) continue;
      const { diff, scale } = relErr(layer.map, ref.layers[i].map);
      if (scale === 0) continue;
      worst = Math.max(worst, diff / scale);
      compared++;
    }
    assert.ok(compared >= 5, `${name}: compared ${compared} post-ReLU tensors`);
    assert.ok(worst <= 1e-5, `${name}: LayerCAM vs reference mode rel. error ${worst}`);
    console.log(`${name}: LayerCAM = reference mode on ${compared} post-ReLU/MaxPool tensors, worst rel. error ${worst.toExponential(2)}`);
    x.dispose();
    model.dispose();
  }
});

test('camFlow leaves the live tensor count unchanged over repeated calls, and validates its arguments', async () => {
  const { model, x } = await load('resnet18');
  const before = tf.memory().numTensors;
  for (let k = 0; k < 3; k++) for (const m of CAMS) runMethod(model, x, m, { classIndex: k });
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => runMethod(model, x, 'gradcam', { classIndex: 1000 }), /out of range/);
  assert.throws(() => runMethod(model, x, 'gradcam', { layers: ['nope'] }), /not a rank-4 trunk tensor/);
  assert.throws(() => runMethod(model, x, 'nope'), /unknown method 'nope'/);
  assert.equal(tf.memory().numTensors, before, 'errors free what they allocated');
  const custom = camFlow(model, x, (a, g) => tf.sum(tf.mul(a, g), -1), { layers: ['/maxpool/MaxPool_output_0'] });
  assert.equal(custom.layers.length, 1);
  assert.equal(custom.layers[0].map.length, 16 * 16);
  x.dispose();
  model.dispose();
});

test('Score-CAM gives the same map in batches of 16 as one masked input at a time (Tiny Darknet, 16-channel layer)', async () => {
  await initBackend({ backend: 'wasm' });
  const { loadModel: load2 } = await import('../src/node/load.js');
  const { prepareImage } = await import('../src/image/preprocess.js');
  const { DEFAULT_MODEL, DEFAULT_IMAGE } = await import('../src/defaults.js');
  const model = await load2(DEFAULT_MODEL);
  // the photo squashed, as the bundled card did when this test was written: with the card's centre crop
  // every masked input of this layer scores below the baseline and the map is all zero (nothing to compare)
  const { tensor } = await prepareImage(model, DEFAULT_IMAGE, { resize: 'squash' });
  try {
    const layers = ['leaky_re_lu_1'];
    const one = scoreCamFlow(model, tensor, { layers, batch: 1 });
    const sixteen = scoreCamFlow(model, tensor, { layers, batch: 16 });
    assert.ok(Math.max(...one.layers[0].map) > 0, 'a map that is not all zero');
    const { diff, scale } = relErr(sixteen.layers[0].map, one.layers[0].map);
    assert.ok(scale > 0 && diff / scale <= 1e-5, `rel. error ${diff / scale}`);
    assert.deepEqual(one.layers[0].shape, [224, 224, 16]);
  } finally {
    tensor.dispose();
    model.dispose();
  }
});

test('Guided Backprop and Deconvnet: hand-checked on conv 1×1 → ReLU → conv 1×1, and equal the gradient without rectifiers', async () => {
  await initBackend({ backend: 'cpu' });
  const { GraphBuilder } = await import('../src/import/tfjs-common.js');
  const { Model } = await import('../src/engine/model.js');
  const { inferShapes } = await import('../src/engine/shapes.js');
  const { pixelAttribution } = await import('../src/baselines/guided.js');
  await import('../src/ops/index.js');
  const build = (relu: boolean) => {
    const b = new GraphBuilder('test', 'guided');
    const x = b.addInput('x', [1, 1, 1, 2]);
    // h = x·W1 with W1[:, 0] = (1, 1), W1[:, 1] = (1, −2); score = h'·(−1, 3)
    const w1 = b.addConst('w1', tf.tensor4d([1, 1, 1, -2], [1, 1, 2, 2]));
    const w2 = b.addConst('w2', tf.tensor4d([-1, 3], [1, 1, 2, 1]));
    const conv = (i: string, w: string, co: number, n: string) =>
      b.emit(n, 'Conv', [i, w], { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }, [1, 1, 1, co]);
    let h = conv(x, w1, 2, 'c1');
    if (relu) h = b.emit('relu', 'Relu', [h], {}, [1, 1, 1, 2]);
    const s = b.emit('score', 'Reshape', [conv(h, w2, 1, 'c2')], { shape: [1, 1] }, [1, 1]);
    const m = new Model(b.finish([s]), {});
    inferShapes(m);
    return m;
  };
  const model = build(true);
  const x = tf.tensor4d([1, 1], [1, 1, 1, 2]);
  try {
    // forward: h = (2, −1) → ReLU (2, 0) → score −2; ∂S/∂h' = (−1, 3)
    const g = pixelAttribution(model, x, 'gradient');
    assert.equal(g.score, -2);
    assert.deepEqual(Array.from(g.gradient), [-1, -1]); // (−1, 0)·W1ᵀ
    assert.deepEqual(Array.from(pixelAttribution(model, x, 'guided-backprop').gradient), [0, 0]); // ReLU(−1, 3)·(1, 0)
    assert.deepEqual(Array.from(pixelAttribution(model, x, 'deconvnet').gradient), [3, -6]); // ReLU(−1, 3)·W1ᵀ
    assert.deepEqual(Array.from(pixelAttribution(model, x, 'deconvnet').map), [9]);
    const linear = build(false);
    const before = tf.memory().numTensors;
    for (const m of ['gradient', 'guided-backprop', 'deconvnet'] as const)
      assert.deepEqual(Array.from(pixelAttribution(linear, x, m).gradient), [2, -7], `${m} without rectifiers is the gradient`);
    assert.equal(tf.memory().numTensors, before);
    linear.dispose();
  } finally {
    x.dispose();
    model.dispose();
  }
});

/**
 * Targets are shared with NAFlow. A similarity model explained through its target S = Σ_d w_d q_d
 * (w held fixed) is, by construction, the same computation as the embedding model followed by a linear
 * head with weights w explained for its single output: every baseline and NAFlow must give the same
 * maps (≤ 1e-5 relative) and the same explained value. Checked for a flat embedding (GAP → Flatten →
 * Gemm) and for a feature-map embedding that the similarity pools.
 */
for (const pooled of [false, true]) {
  test(`baselines take NAFlow's targets: a similarity equals the embedding model with its weights as a linear head (${pooled ? 'pooled feature map' : 'flat embedding'})`, async () => {
    await initBackend({ backend: 'cpu' });
    let seed = pooled ? 40 : 20;
    const rnd = (shape: number[], scale = 0.5) => tf.randomNormal(shape, 0, scale, 'float32', seed++);
    const conv = (s: number) => ({ strides: [s, s], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 });
    const trunk = [
      node('c1', 'Conv', ['x', 'w1', 'b1'], conv(1)),
      node('r1', 'Relu', ['c1']),
      node('c2', 'Conv', ['r1', 'w2', 'b2'], conv(2)),
      node('r2', 'Relu', ['c2']),
    ];
    const pool = [node('gap', 'GlobalAveragePool', ['r2']), node('flat', 'Flatten', ['gap'], { axis: 1 })];
    const embeddingNodes = pooled ? trunk : [...trunk, ...pool, node('q', 'Gemm', ['flat', 'wq'], { alpha: 1, beta: 1 })];
    const weights: Array<[string, tf.Tensor]> = [
      ['w1', rnd([3, 3, 3, 4])],
      ['b1', rnd([4], 0.2)],
      ['w2', rnd([3, 3, 4, 6])],
      ['b2', rnd([6], 0.2)],
      ['wq', rnd([6, 5])],
    ];
    const embedding = testModel('similarity-target.test', [1, 8, 8, 3], embeddingNodes, weights);
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 7);
    let head: ReturnType<typeof testModel> | undefined;
    try {
      const reference = Float32Array.from({ length: pooled ? 6 : 5 }, (_, i) => Math.sin(3 * i + 1));
      const before = tf.memory().numTensors;
      const sim = await explainSimilarity(embedding, x, retrievalTarget([{ embedding: reference }], 'cosine'), { mode: 'paper', compare: CAMS });
      assert.equal(tf.memory().numTensors, before, 'explainSimilarity with baselines frees what it allocates');
      const w = sim.similarity.weights;
      assert.ok(w.includes(0) && w.includes(1) && w.some((v) => v > 0 && v < 1), 'weights spread over [0, 1]');
      const target = similaritySeed(w);
      // the same network with w as a one-output linear head
      const tail = pooled ? [...pool, node('s', 'Gemm', ['flat', 'ws'], { alpha: 1, beta: 1 })] : [node('s', 'Gemm', ['q', 'ws'], { alpha: 1, beta: 1 })];
      head = testModel(
        'linear-head.test',
        [1, 8, 8, 3],
        [...embeddingNodes, ...tail],
        [...weights.map(([k, t]): [string, tf.Tensor] => [k, t.clone()]), ['ws', tf.tensor2d(w, [w.length, 1])]],
      );
      const close = (got: Float32Array, want: Float32Array, what: string) => {
        const { diff, scale } = relErr(got, want);
        assert.ok(scale > 0 && diff <= 1e-5 * scale, `${what}: rel. error ${diff / scale}`);
      };
      const sameValue = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `${what}: ${got} vs ${want}`);
      const naflow = runCascade(head, x, { mode: 'paper' });
      sameValue(sim.decision.score, naflow.score, 'NAFlow: S');
      assert.deepEqual(
        sim.layers.map((l) => l.name),
        naflow.layers.map((l) => l.name),
      );
      sim.layers.forEach((l, i) => close(l.map, naflow.layers[i].map, `NAFlow ${l.name}`));
      CAMS.forEach((m, k) => {
        const want = runMethod(head!, x, m);
        const direct = runMethod(embedding, x, m, { target });
        for (const got of [sim.compare[k], direct]) {
          sameValue(got.score, want.score, `${m}: S`);
          assert.deepEqual(
            got.layers.map((l) => l.name),
            want.layers.map((l) => l.name),
          );
          got.layers.forEach((l, i) => close(l.map, want.layers[i].map, `${m} ${l.name}`));
        }
      });
      const scoreWant = scoreCamFlow(head, x);
      const scoreGot = scoreCamFlow(embedding, x, { target });
      sameValue(scoreGot.score, scoreWant.score, 'Score-CAM: S');
      scoreGot.layers.forEach((l, i) => close(l.map, scoreWant.layers[i].map, `Score-CAM ${l.name}`));
      for (const m of PIXEL_METHODS) close(pixelAttribution(embedding, x, m, { target }).gradient, pixelAttribution(head, x, m).gradient, m);
      assert.throws(() => runMethod(embedding, x, 'gradcam', { target: () => tf.ones([1, 2]) }), /seed of shape \[1, 2\].*must be equal/);
    } finally {
      x.dispose();
      embedding.dispose();
      head?.dispose();
    }
  });
}
