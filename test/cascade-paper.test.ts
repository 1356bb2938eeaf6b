/**
 * The cascade in paper mode (docs/spec.md §4–§5, real inverses) end to end:
 *
 * * a tiny hand-built graph (conv, batch norm, sigmoid, strided conv, tanh, a residual fork, a
 *   squeeze-excitation gate with a global average pool inside the trunk) where no neuron is abandoned:
 *   every BPFM equals its forward tensor, every map equals the reference-mode map;
 * * the ONNX fixtures (AlexNet, VGG16, ResNet-18, DenseNet-121, MobileNetV2, GoogLeNet, the op zoo) and
 *   the CIFAR ResNet-20 from ../shared/data (option-A shortcuts: strided Slice + channel Pad) on wasm:
 *   every map finite, every layer's kept share in (0, 1], LSMR statistics on every conv's input, no
 *   tensor leaked; layer counts, times, iterations and residuals go to the test diagnostics;
 * * a few of them again on cpu: the maps agree with wasm's.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import type { Model } from '../src/engine/model.js';
import { node, testModel } from './helpers/graph.js';
import { loadModel } from '../src/node/load.js';
import { runCascade, type AttentionFlow, type LayerFlow } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { decodeImage } from '../src/node/decode-image.js';
import '../src/ops/index.js';

const fixtures = path.join(PACKAGE_ROOT, 'test/fixtures/onnx');
const RESNET20 = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data', 'models', 'cifar-resnet', 'resnet20.onnx');
const CIFAR_CAT = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data', 'cifar10-test', 'cat', '0000.jpg');

/* ---- a tiny graph where nothing is abandoned ---- */

function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  });
}

function tinyModel(): Model {
  const c = (name: string, shape: number[], seed: number, lo = -1, hi = 1): [string, tf.Tensor] => [
    name,
    tf.tensor(
      seeded(
        shape.reduce((p, d) => p * d, 1),
        seed,
        lo,
        hi,
      ),
      shape,
    ),
  ];
  const constants = new Map<string, tf.Tensor>([
    c('w1', [3, 3, 2, 3], 1),
    c('b1', [3], 2),
    c('g', [3], 3, 0.5, 1.5),
    c('be', [3], 4),
    c('mu', [3], 5),
    c('var', [3], 6, 0.5, 1.5),
    c('w2', [3, 3, 3, 4], 7),
    c('w3', [1, 1, 4, 4], 8),
    c('W', [4, 5], 9),
    c('bW', [5], 10),
  ]);
  const conv = (strides: number, pads: number) => ({ strides: [strides, strides], pads: [pads, pads, pads, pads], dilations: [1, 1], group: 1 });
  const m = testModel(
    'cascade-paper.test',
    [1, 6, 6, 2],
    [
      node('c1', 'Conv', ['x', 'w1', 'b1'], conv(1, 1)),
      node('bn1', 'BatchNormalization', ['c1', 'g', 'be', 'mu', 'var'], { epsilon: 1e-5 }),
      node('s1', 'Sigmoid', ['bn1']),
      node('c2', 'Conv', ['s1', 'w2'], conv(2, 1)),
      node('t2', 'Tanh', ['c2']),
      node('c3', 'Conv', ['t2', 'w3'], conv(1, 0)),
      node('a3', 'Add', ['c3', 't2']),
      node('se_pool', 'GlobalAveragePool', ['a3']),
      node('se_gate', 'Sigmoid', ['se_pool']),
      node('m', 'Mul', ['a3', 'se_gate']),
      node('gap', 'GlobalAveragePool', ['m']),
      node('flat', 'Flatten', ['gap'], { axis: 1 }),
      node('logits', 'Gemm', ['flat', 'W', 'bW'], { alpha: 1, beta: 1 }),
    ],
    constants,
  );
  return m;
}

test('paper mode: where nothing is abandoned, every BPFM equals its forward tensor', async () => {
  await initBackend({ backend: 'cpu' });
  const model = tinyModel();
  const x = tf.tensor4d(seeded(72, 11), [1, 6, 6, 2]);
  const before = tf.memory().numTensors;
  const checked: string[] = [];
  const flow = runCascade(model, x, {
    inspectTensors: (name, { a, b, g }) => {
      assert.ok(g, `${name}: has an importance tensor`);
      const gz = tf.tidy(() => tf.sum(tf.cast(tf.equal(g, 0), 'float32')).dataSync()[0]);
      assert.equal(gz, 0, `${name}: nothing abandoned (G ≠ 0 everywhere)`);
      const av = a.dataSync(),
        bv = b.dataSync();
      let diff = 0,
        scale = 0;
      av.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(v - bv[i]));
        scale = Math.max(scale, Math.abs(v));
      });
      assert.ok(diff <= 1e-6 * scale, `${name}: B equals A (max diff ${diff})`);
      checked.push(name);
    },
  });
  const ref = runCascade(model, x, { mode: 'reference' });
  assert.equal(tf.memory().numTensors, before, 'the cascade frees what it allocates');
  assert.deepEqual(checked.sort(), ['a3', 'bn1', 'c1', 'c2', 'c3', 'm', 's1', 'se_gate', 'se_pool', 't2']);
  assert.equal(flow.trunkEnd, 'm');
  for (const l of flow.layers) {
    assert.equal(l.kept, 1, `${l.name}: kept`);
    const r = ref.layers.find((q) => q.name === l.name)!;
    l.map.forEach((v, i) => assert.ok(Math.abs(v - r.map[i]) <= 1e-6 * (1 + Math.abs(r.map[i])), `${l.name}: map = reference map`));
  }
  // the conv inputs were "solved" without iterations: B_out = A_out short-cuts to A_in
  for (const name of ['s1', 't2']) {
    const st = flow.layers.find((l) => l.name === name)!.solver;
    assert.ok(
      st?.some((s) => s.method === 'lsmr' && s.iterations === 0),
      `${name}: LSMR stats`,
    );
  }
  x.dispose();
  model.dispose();
});

/* ---- ONNX fixtures and ResNet-20 ---- */

interface Subject {
  name: string;
  skip?: string;
  load(): Promise<{ model: Model; x: tf.Tensor; trunkEnd?: string }>;
}

function fixture(name: string, trunkEnd?: string): Subject {
  return {
    name,
    load: async () => {
      const dir = path.join(fixtures, name);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      const model = await loadModel(path.join(dir, manifest.model));
      const input = npyToFloat32(readNpy(path.join(dir, manifest.input.file)));
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(input, manifest.input.shape), [0, 2, 3, 1]));
      return { model, x, trunkEnd };
    },
  };
}

const resnet20: Subject = {
  name: 'cifar-resnet20',
  skip: fs.existsSync(RESNET20) && fs.existsSync(CIFAR_CAT) ? undefined : `shared data not found (${RESNET20})`,
  load: async () => {
    const model = await loadModel(RESNET20);
    const img = await decodeImage(CIFAR_CAT, { resize: { size: [32, 32] } });
    const mean = [0.485, 0.456, 0.406],
      std = [0.229, 0.224, 0.225];
    const x = tf.tensor4d(
      Float32Array.from(img.data, (p, i) => (p / 255 - mean[i % 3]) / std[i % 3]),
      [1, 32, 32, 3],
    );
    return { model, x };
  },
};

const SUBJECTS: Subject[] = [
  fixture('alexnet'),
  fixture('vgg16'),
  fixture('resnet18'),
  fixture('densenet121'),
  fixture('mobilenet_v2'),
  fixture('googlenet'),
  // the op zoo's head (self-attention MatMuls) is not a chain of head ops: name the trunk end
  fixture('opzoo', '/maxpool2/MaxPool_output_0'),
  resnet20,
];

interface Run {
  flow: AttentionFlow;
  ms: number;
  summary: string;
}

/** Run paper mode once (after a warm-up in reference mode) and check the invariants. */
async function runPaper(s: Subject, backend: 'cpu' | 'wasm'): Promise<Run> {
  await initBackend({ backend });
  const { model, x, trunkEnd } = await s.load();
  try {
    runCascade(model, x, { mode: 'reference', trunkEnd }); // warm-up (kernels, prepared weights)
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const flow = runCascade(model, x, { mode: 'paper', trunkEnd });
    const ms = performance.now() - t0;
    assert.equal(tf.memory().numTensors, before, `${s.name}: the cascade frees what it allocates`);

    const byName = new Map(flow.layers.map((l) => [l.name, l]));
    for (const l of flow.layers) {
      assert.ok(l.map.every(Number.isFinite), `${s.name} ${l.name}: map finite`);
      assert.ok(l.kept > 0 && l.kept <= 1, `${s.name} ${l.name}: kept ${l.kept} in (0, 1]`);
      for (const st of l.solver ?? []) assert.ok(Number.isFinite(st.damping) && st.damping >= 0, `${s.name} ${l.name}: damping`);
    }
    // every conv inside the trunk whose input is not the image ran LSMR for that input
    const convs = model.graph.nodes.filter((n) => n.op === 'Conv' && byName.has(n.outputs[0]) && byName.has(n.inputs[0]));
    assert.ok(convs.length > 0, `${s.name}: convs in the trunk`);
    const its: number[] = [],
      res: number[] = [];
    for (const n of convs) {
      const st = byName.get(n.inputs[0])!.solver ?? [];
      assert.ok(
        st.some((q) => q.method === 'lsmr'),
        `${s.name}: LSMR statistics for the input of ${n.name}`,
      );
    }
    for (const l of flow.layers)
      for (const st of l.solver ?? [])
        if (st.method === 'lsmr') {
          assert.ok(
            st.iterations >= 0 && Number.isFinite(st.relResidual) && st.relResidual <= 1 + 1e-6,
            `${s.name} ${l.name}: LSMR residual ${st.relResidual}`,
          );
          its.push(st.iterations);
          res.push(st.relResidual);
        }
    const sorted = res.slice().sort((p, q) => p - q);
    const total = its.reduce((p, q) => p + q, 0);
    const summary =
      `${s.name} [${backend}]: ${flow.layers.length} layers, paper mode ${ms.toFixed(0)} ms, ${its.length} LSMR solves, ` +
      `iterations mean ${(total / its.length).toFixed(1)} (min ${Math.min(...its)}, max ${Math.max(...its)}, total ${total}), ` +
      `rel. residual median ${sorted[sorted.length >> 1].toExponential(2)} max ${sorted[sorted.length - 1].toExponential(2)}, ` +
      `min kept ${Math.min(...flow.layers.map((l) => l.kept)).toFixed(3)}`;
    return { flow, ms, summary };
  } finally {
    x.dispose();
    model.dispose();
  }
}

const wasmFlows = new Map<string, AttentionFlow>();

for (const s of SUBJECTS) {
  test(`paper mode end to end on wasm: ${s.name}`, { skip: s.skip }, async (t) => {
    const run = await runPaper(s, 'wasm');
    wasmFlows.set(s.name, run.flow);
    t.diagnostic(run.summary);
  });
}

for (const name of ['resnet18', 'googlenet', 'opzoo']) {
  test(`paper mode on cpu agrees with wasm: ${name}`, async (t) => {
    const s = SUBJECTS.find((q) => q.name === name)!;
    const run = await runPaper(s, 'cpu');
    t.diagnostic(run.summary);
    const w: AttentionFlow | undefined = wasmFlows.get(name);
    assert.ok(w, 'the wasm run happened first');
    assert.equal(run.flow.layers.length, w.layers.length);
    assert.equal(run.flow.classIndex, w.classIndex);
    // different summation orders, and LSMR may stop an iteration earlier or later: 1e-3 of the map's max
    for (const [i, l] of run.flow.layers.entries()) {
      const o: LayerFlow = w.layers[i];
      assert.equal(l.name, o.name);
      let diff = 0,
        scale = 0;
      o.map.forEach((v, k) => {
        diff = Math.max(diff, Math.abs(v - l.map[k]));
        scale = Math.max(scale, Math.abs(v));
      });
      assert.ok(diff <= 1e-3 * scale + 1e-6, `${name} ${l.name}: cpu vs wasm map diff ${diff} (max ${scale})`);
    }
  });
}
