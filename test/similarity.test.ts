/**
 * Similarity-metric models (docs/spec.md §6): the channel-wise decomposition (closed forms), the weights, the
 * decision targets (hand-checked cases), and the Jacobian step against PyTorch's gradient on a fixture
 * embedding network with a projection head (tools/similarity_fixtures.py).
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
import { loadModel } from '../src/node/load.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { contributionWeights, decompose, similarity, topDimensions, type Metric } from '../src/metrics/embedding-metric.js';
import { knnTarget, prototypeTarget, retrievalTarget } from '../src/similarity/targets.js';
import { explainSimilarity } from '../src/similarity/explain-similarity.js';
import { embed, readLabelledFolder, SimilarityError } from '../src/similarity/embed.js';
import { buildBank, loadBank, saveBank } from '../src/similarity/bank.js';
import { spearman } from '../src/metrics/rank.js';
import { DEFAULT_MODEL } from '../src/defaults.js';
import { rng } from './helpers/rng.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(repoRoot, 'test/fixtures/similarity/embedhead');
const photos = path.join(repoRoot, 'assets/photos');

/** Independent closed forms of the three similarities, written out with plain loops. */
function closedForm(q: number[], r: number[], metric: Metric): number {
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
  if (metric === 'dot') return dot(q, r);
  if (metric === 'euclidean') return -q.reduce((s, v, i) => s + (v - r[i]) ** 2, 0);
  return dot(q, r) / Math.sqrt(dot(q, q) * dot(r, r));
}

test('Σ_d p_d equals the similarity for every metric (closed form, K = 1 and K = 3)', () => {
  const rand = rng(11);
  const vec = () => Array.from({ length: 9 }, () => rand());
  const q = vec();
  const refs = [vec(), vec(), vec()];
  for (const metric of ['cosine', 'dot', 'euclidean'] as Metric[]) {
    for (const K of [1, 3]) {
      const dec = decompose(q, refs.slice(0, K), metric);
      const want = refs.slice(0, K).reduce((s, r) => s + closedForm(q, r, metric), 0) / K;
      const sumP = dec.contributions.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sumP - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${metric} K=${K}: Σp ${sumP} vs ${want}`);
      assert.ok(Math.abs(dec.similarity - want) <= 1e-12 * Math.max(1, Math.abs(want)));
      if (K === 1) assert.ok(Math.abs(similarity(q, refs[0], metric) - want) <= 1e-12 * Math.max(1, Math.abs(want)));
      const w = Array.from(dec.weights);
      assert.ok(Math.min(...w) === 0 && Math.max(...w) === 1, `${metric}: weights span [0, 1]`);
    }
  }
});

test('channel weights: a hand-checked case, sign handling and the constant case', () => {
  // q = (1, 0), r = (1, 1): q̂ = (1, 0), r̂ = (1/√2, 1/√2) → p = (1/√2, 0), s = 1/√2 → w = (1, 0)
  const dec = decompose([1, 0], [[1, 1]], 'cosine');
  assert.ok(Math.abs(dec.contributions[0] - Math.SQRT1_2) < 1e-15 && dec.contributions[1] === 0);
  assert.deepEqual(Array.from(dec.weights), [1, 0]);
  // euclidean: p = −(q − r)²: the dimension that agrees most gets 1
  const e = decompose([0, 0, 0], [[1, 0, 2]], 'euclidean');
  assert.deepEqual(
    Array.from(e.contributions, (v) => v || 0),
    [-1, 0, -4],
  );
  assert.deepEqual(Array.from(e.weights), [0.75, 1, 0]);
  assert.deepEqual(
    topDimensions(e, 2).map((t) => t.dim),
    [1, 0],
  );
  assert.deepEqual(Array.from(contributionWeights([0.2, 0.2, 0.2], 0.6)), [1, 1, 1]);
  assert.deepEqual(Array.from(contributionWeights([0, 0], 0)), [1, 1]);
});

test('targets decide as hand-checked: retrieval top-1, nearest prototype, weighted k-NN', () => {
  const f = (...v: number[]) => Float32Array.from(v);
  const q = f(1, 0);
  const r = retrievalTarget(
    [
      { embedding: f(0, 1), file: 'a' },
      { embedding: f(1, 0.1), file: 'b' },
      { embedding: f(-1, 0), file: 'c' },
    ],
    'cosine',
  ).decide(q);
  assert.equal(r.label, 'b');
  assert.deepEqual(
    r.candidates.map((c) => c.file),
    ['b', 'a', 'c'],
  );
  // prototypes: class x = mean((2,0),(0,0)) = (1,0) → distance 0; class y = (3,3)
  const p = prototypeTarget([
    { label: 'y', embeddings: [f(3, 3)] },
    { label: 'x', embeddings: [f(2, 0), f(0, 0)] },
  ]).decide(q);
  assert.equal(p.label, 'x');
  assert.equal(p.classIndex, 1);
  assert.deepEqual(Array.from(p.references[0].embedding), [1, 0]);
  assert.deepEqual(
    p.candidates.map((c) => c.score),
    [-13, 0],
  );
  // k-NN, k = 3, τ = 1: neighbours (cos) 1.0 'a', 0.8 'b', 0.6 'b' → votes a: e^1 = 2.718, b: e^0.8 + e^0.6 = 4.048 → 'b'
  const bank = {
    embeddings: [f(1, 0), f(0.8, 0.6), f(0.6, 0.8), f(-1, 0)],
    itemLabels: [0, 1, 1, 0],
    labels: ['a', 'b'],
  };
  const k = knnTarget(bank, { k: 3, temperature: 1 }).decide(q);
  assert.equal(k.label, 'b');
  assert.equal(k.references.length, 2, 'the k nearest with the predicted label');
  assert.ok(Math.abs(k.candidates[0].score - (Math.exp(0.8) + Math.exp(0.6))) < 1e-6);
  // with τ = 0.07 the single nearest dominates
  assert.equal(knnTarget(bank, { k: 3 }).decide(q).label, 'a');
  assert.throws(() => knnTarget(bank).decide(f(1, 0, 0)), /3 dimensions but the memory bank has 2/);
  assert.throws(() => prototypeTarget([{ label: 'e', embeddings: [] }]), SimilarityError);
});

test('the Jacobian step equals PyTorch: G_K = (∂q/∂A_K)ᵀ w through pooling, Linear, BatchNorm1d, ReLU, Linear (≤ 1e-4)', async () => {
  await initBackend({ backend: 'cpu' });
  const manifest = JSON.parse(fs.readFileSync(path.join(fixture, 'manifest.json'), 'utf8'));
  const model = await loadModel(path.join(fixture, manifest.model));
  const xArr = readNpy(path.join(fixture, manifest.input));
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(xArr), xArr.shape as [number, number, number, number]), [0, 2, 3, 1]));
  const w = npyToFloat32(readNpy(path.join(fixture, manifest.weights)));
  const wantQ = npyToFloat32(readNpy(path.join(fixture, manifest.embedding)));
  const wantG = npyToFloat32(readNpy(path.join(fixture, manifest.gradTrunk)));
  try {
    const q = await embed(model, x);
    const qErr = Math.max(...Array.from(q, (v, i) => Math.abs(v - wantQ[i])));
    assert.ok(qErr <= 1e-5 * Math.max(...Array.from(wantQ, Math.abs)), `embedding error ${qErr}`);
    // a 'dot' reference r = w / q makes p_d = w_d exactly, so the weights are the fixture's w
    const ref = Float32Array.from(q, (v, i) => w[i] / v);
    for (const mode of ['paper', 'reference'] as const) {
      let g: Float32Array | undefined;
      const before = tf.memory().numTensors;
      const res = await explainSimilarity(model, x, retrievalTarget([{ embedding: ref }], 'dot'), {
        mode,
        inspectTensors: (name, t) => {
          if (name === manifest.trunkTensor) g = new Float32Array(t.g!.dataSync());
        },
      });
      assert.equal(tf.memory().numTensors, before, `${mode}: frees what it allocates`);
      assert.equal(res.trunkEnd, manifest.trunkTensor, 'the trunk ends at the pooling input');
      const wErr = Math.max(...Array.from(res.similarity.weights, (v, i) => Math.abs(v - w[i])));
      assert.ok(wErr < 1e-5, `weights reproduce w (${wErr})`);
      assert.ok(g, 'G at the trunk end');
      let diff = 0,
        scale = 0;
      wantG.forEach((v, i) => ((diff = Math.max(diff, Math.abs(v - g![i]))), (scale = Math.max(scale, Math.abs(v)))));
      assert.ok(scale > 0 && diff / scale <= 1e-4, `${mode}: G_K rel. error ${diff / scale}`);
      assert.ok(Math.abs(res.decision.score - manifest.S) <= 1e-4 * Math.abs(manifest.S), `S = Σ w_d q_d: ${res.decision.score} vs ${manifest.S}`);
      assert.equal(res.layers.at(-1)!.name, manifest.trunkTensor);
    }
  } finally {
    x.dispose();
    model.dispose();
  }
});

test('retrieval with Tiny Darknet (paper mode): another reference changes the map, the same reference reproduces it', async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const ref = async (file: string) => ({ embedding: await embed(model, path.join(photos, file)), file });
    const query = path.join(photos, 'chelsea.png');
    const coffee = await ref('coffee.png');
    const astronaut = await ref('astronaut.png');
    const run = (r: typeof coffee) => explainSimilarity(model, query, retrievalTarget([r], 'cosine'), { mode: 'paper' });
    const a = await run(coffee);
    const before = tf.memory().numTensors;
    const a2 = await run(coffee);
    const b = await run(astronaut);
    assert.equal(tf.memory().numTensors, before, 'live tensors unchanged over repeated calls');
    assert.equal(a.trunkEnd, b.trunkEnd);
    for (let i = 0; i < a.layers.length; i++) assert.deepEqual(a2.layers[i].map, a.layers[i].map, `same reference, layer ${i}: identical`);
    // The image-resolution map at the end of the cascade (measured 0.68; the deepest map barely moves,
    // 0.998: min–max weights keep every channel's weight near the middle, see docs/similarity.md)
    const rho = spearman(a.layers[0].map, b.layers[0].map);
    assert.ok(rho < 0.9, `another reference changes the shallowest map (Spearman ${rho.toFixed(3)})`);
    assert.equal(a.similarity.topDimensions.length, 10);
    assert.notDeepEqual(
      a.similarity.topDimensions.map((t) => t.dim),
      b.similarity.topDimensions.map((t) => t.dim),
    );
  } finally {
    model.dispose();
  }
});

test('labelled folders and banks: clear errors for empty classes and for a bank of another model', async () => {
  await initBackend({ backend: 'cpu' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-sim-'));
  try {
    assert.throws(() => readLabelledFolder(path.join(tmp, 'missing'), 'support folder'), /support folder .*missing: no such folder/);
    assert.throws(() => readLabelledFolder(tmp, 'support folder'), /no class sub-folders/);
    fs.mkdirSync(path.join(tmp, 'cats'));
    fs.mkdirSync(path.join(tmp, 'dogs'));
    fs.copyFileSync(path.join(photos, 'chelsea.png'), path.join(tmp, 'cats', 'chelsea.png'));
    assert.throws(() => readLabelledFolder(tmp, 'support folder'), /class 'dogs' has no images/);
    fs.copyFileSync(path.join(photos, 'coffee.png'), path.join(tmp, 'dogs', 'not-a-dog.png'));
    const modelFile = path.join(fixture, 'model.onnx');
    const model = await loadModel(modelFile);
    const bankFile = path.join(tmp, 'bank.json');
    try {
      const bank = await buildBank(model, modelFile, tmp);
      assert.deepEqual(bank.labels, ['cats', 'dogs']);
      assert.equal(bank.dim, 16);
      saveBank(bank, bankFile);
      const back = loadBank(bankFile, { modelFile });
      assert.deepEqual(back.embeddings, bank.embeddings);
      assert.deepEqual(back.itemLabels, [0, 1]);
    } finally {
      model.dispose();
    }
    const other = path.join(repoRoot, 'test/fixtures/onnx/resnet18/model.onnx');
    assert.throws(() => loadBank(bankFile, { modelFile: other }), /was built with another model .*rebuild it with naflow bank build/);
    fs.writeFileSync(path.join(tmp, 'junk.json'), '{"format":"x"}');
    assert.throws(() => loadBank(path.join(tmp, 'junk.json')), /not a naflow bank/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
