/**
 * The channel weightings of similarity explanations (docs/similarity-weights-study.md) against
 * hand-computed closed forms and finite differences, their refusal when nothing is left to explain,
 * and the retrieval specificity metric on a synthetic embedder whose answer is worked out by hand.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage, imageSpecFor } from '../src/image/preprocess.js';
import { decompose, similarityGradient, DEFAULT_WEIGHTING, WEIGHTINGS, type Metric } from '../src/metrics/embedding-metric.js';
import { retrievalTarget } from '../src/similarity/targets.js';
import { explainSimilarity } from '../src/similarity/explain-similarity.js';
import { embed, embeddingTensorOf, SimilarityError } from '../src/similarity/embed.js';
import { makeEmbedder, retrievalSpecificity, type Embedder } from '../src/metrics/retrieval-faithfulness.js';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { rng } from './helpers/rng.js';

const close = (got: ArrayLike<number>, want: number[], tol = 1e-6, what = '') => {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
};

test('weightings, hand-computed: cosine with a dimension that takes away, euclidean, dot over two references', () => {
  // q = (2, −1, 2), r = (1, 2, 2), both of norm 3: q̂ = q/3, r̂ = r/3 → p = (2/9, −2/9, 4/9), s = 4/9
  const q = [2, -1, 2],
    r = [1, 2, 2];
  close(decompose(q, [r], 'cosine', 'signed').weights, [0.5, -0.5, 1], 1e-7, 'signed');
  close(decompose(q, [r], 'cosine', 'rectified').weights, [0.5, 0, 1], 1e-7, 'rectified');
  close(decompose(q, [r], 'cosine', 'minmax').weights, [2 / 3, 0, 1], 1e-7, 'minmax');
  // ∂(q̂·r̂)/∂q = (r̂ − (q̂·r̂) q̂)/‖q‖ = ((1/3, 2/3, 2/3) − (4/9)(2/3, −1/3, 2/3))/3 = (1, 22, 10)/81
  const g = decompose(q, [r], 'cosine', 'gradient');
  close(g.weights, [1 / 81, 22 / 81, 10 / 81], 1e-7, 'gradient');
  assert.equal(g.weighting, 'gradient');
  assert.ok(Math.abs(g.similarity - 4 / 9) < 1e-12, 'the similarity does not depend on the weighting');
  // euclidean, q = 0, r = (1, 0, 2): p = (−1, 0, −4), s = −5
  close(decompose([0, 0, 0], [[1, 0, 2]], 'euclidean', 'signed').weights, [-0.2, 0, -0.8], 1e-7, 'euclidean signed');
  close(decompose([0, 0, 0], [[1, 0, 2]], 'euclidean', 'rectified').weights, [0, 0, 0], 0, 'euclidean rectified: every p_d ≤ 0');
  close(decompose([0, 0, 0], [[1, 0, 2]], 'euclidean', 'gradient').weights, [2, 0, 4], 1e-7, 'euclidean gradient −2(q − r)');
  // dot, K = 2: p = ((1·1 + 1·3)/2, (2·0 + 2·4)/2) = (2, 4), s = 6; gradient = mean r = (2, 2)
  close(
    decompose(
      [1, 2],
      [
        [1, 0],
        [3, 4],
      ],
      'dot',
      'signed',
    ).weights,
    [1 / 3, 2 / 3],
    1e-7,
    'dot signed',
  );
  close(
    decompose(
      [1, 2],
      [
        [1, 0],
        [3, 4],
      ],
      'dot',
      'gradient',
    ).weights,
    [2, 2],
    1e-7,
    'dot gradient',
  );
  // euclidean, K = 2: −(2/2)((q − r1) + (q − r2)) with q = (1, 1), r1 = (0, 3), r2 = (2, 1) → −((1, −2) + (−1, 0)) = (0, 2)
  close(
    decompose(
      [1, 1],
      [
        [0, 3],
        [2, 1],
      ],
      'euclidean',
      'gradient',
    ).weights,
    [0, 2],
    1e-7,
    'euclidean K=2 gradient',
  );
  assert.throws(() => decompose(q, [r], 'cosine', 'bogus' as never), /unknown weighting 'bogus'/);
});

test("the default weighting is the study's choice, min–max, pinned to its closed form", () => {
  // docs/similarity-weights-study.md: the declared rule kept min–max. p/|s| = (0.5, −0.5, 1) (above) →
  // (p/|s| − min)/(max − min) = (1, 0, 1.5)/1.5
  assert.equal(DEFAULT_WEIGHTING, 'minmax');
  assert.deepEqual([...WEIGHTINGS], ['minmax', 'signed', 'rectified', 'gradient']);
  const dec = decompose([2, -1, 2], [[1, 2, 2]], 'cosine');
  assert.equal(dec.weighting, 'minmax');
  close(dec.weights, [2 / 3, 0, 1], 1e-7, 'default');
  // K = 2, euclidean: q = (1, 1), r1 = (0, 3), r2 = (2, 1) → p = −((1 + 1)/2, (4 + 0)/2) = (−1, −2), s = −3
  // → p/|s| = (−1/3, −2/3) → (1, 0)
  close(
    decompose(
      [1, 1],
      [
        [0, 3],
        [2, 1],
      ],
      'euclidean',
    ).weights,
    [1, 0],
    1e-7,
    'default, K = 2',
  );
});

test('the gradient weighting is ∂s/∂q: central differences of the mean similarity, every metric, K = 3', () => {
  const rand = rng(5);
  const vec = () => Array.from({ length: 7 }, () => rand() * 2);
  const q = vec();
  const refs = [vec(), vec(), vec()];
  const cos = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0) / Math.hypot(...a) / Math.hypot(...b);
  const sims: Record<Metric, (x: number[]) => number> = {
    cosine: (x) => refs.reduce((s, r) => s + cos(x, r), 0) / 3,
    dot: (x) => refs.reduce((s, r) => s + x.reduce((a, v, i) => a + v * r[i], 0), 0) / 3,
    euclidean: (x) => -refs.reduce((s, r) => s + x.reduce((a, v, i) => a + (v - r[i]) ** 2, 0), 0) / 3,
  };
  for (const metric of ['cosine', 'dot', 'euclidean'] as Metric[]) {
    const g = similarityGradient(q, refs, metric);
    const h = 1e-6;
    const numeric = q.map((_, d) => {
      const up = q.slice(),
        down = q.slice();
      up[d] += h;
      down[d] -= h;
      return (sims[metric](up) - sims[metric](down)) / (2 * h);
    });
    close(g, numeric, 1e-6 * Math.max(1, ...numeric.map(Math.abs)), metric);
  }
  // cosine is scale-free in q, so its gradient is orthogonal to q (Euler): S = Σ w_d q_d = 0 at q
  const g = similarityGradient(q, refs, 'cosine');
  assert.ok(Math.abs(g.reduce((s, v, i) => s + v * q[i], 0)) < 1e-12);
});

test('stationary points give exact zeros, and explainSimilarity refuses all-zero weights naming the weighting', async () => {
  assert.deepEqual(Array.from(similarityGradient([1, 2, 3], [[1, 2, 3]], 'euclidean')), [0, 0, 0], 'q = r');
  assert.deepEqual(Array.from(similarityGradient([0.3, 0.1, 0.7], [[0.6, 0.2, 1.4]], 'cosine')), [0, 0, 0], 'q ∥ r: only rounding is left');
  assert.ok(
    similarityGradient([0.3, 0.1, 0.7], [[0.6, 0.2, 1.5]], 'cosine').some((v) => v !== 0),
    'a small real angle is kept',
  );
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(PACKAGE_ROOT, 'test/fixtures/similarity/embedhead/model.onnx'));
  const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  try {
    const q = await embed(model, x);
    const before = tf.memory().numTensors;
    const other = retrievalTarget([{ embedding: q.map((v) => v + 0.5) }], 'euclidean');
    await assert.rejects(
      explainSimilarity(model, x, other, { weighting: 'rectified', mode: 'reference' }),
      (e: Error) => e instanceof SimilarityError && /rectified channel weights are all zero .*every contribution p_d = −\(q_d − r_d\)² is ≤ 0/.test(e.message),
    );
    await assert.rejects(
      explainSimilarity(model, x, retrievalTarget([{ embedding: q }], 'euclidean'), { weighting: 'gradient', mode: 'reference' }),
      /gradient channel weights are all zero .*stationary/,
    );
    const ok = await explainSimilarity(model, x, other, { weighting: 'gradient', mode: 'reference' });
    close(
      ok.similarity.weights,
      Array.from(q, () => 1),
      1e-5,
      'gradient −2(q − (q + 0.5)) = 1',
    );
    assert.equal(ok.similarity.weighting, 'gradient');
    assert.equal(tf.memory().numTensors, before, 'refusals and runs free what they allocate');
  } finally {
    x.dispose();
    model.dispose();
  }
});

/** A synthetic embedder: the embedding of a 1×n grey image is its pixel values (mean of R, G, B). */
function pixelEmbedder(values: number[]): Embedder & { calls: number } {
  const e = {
    height: 1,
    width: values.length,
    pixels: Float32Array.from(values.flatMap((v) => [v, v, v])),
    calls: 0,
    embed(images: Float32Array[]) {
      e.calls += images.length;
      return images.map((px) => Float32Array.from(values, (_, i) => (px[3 * i] + px[3 * i + 1] + px[3 * i + 2]) / 3));
    },
  };
  return e;
}

test('retrieval specificity, worked by hand on a pixel embedder (dot similarity, black substrate)', () => {
  // q = (4, 3, 2, 1); r* = e₂ (s = 3), others e₁ (s = 4) and e₄ (s = 1). The map deletes pixels 2, 3, 4, 1
  // (1-based), one per step: drops of r* 3, 3, 3, 3; mean drops of the others 0, 0, ½, (4 + 1)/2
  // → gaps 3, 3, 2.5, 0.5 → 9/4
  const emb = pixelEmbedder([4, 3, 2, 1]);
  const opts = { metric: 'dot' as const, steps: 4, substrate: new Float32Array(12) };
  const map = { map: Float32Array.from([0.1, 0.9, 0.5, 0.3]), height: 1, width: 4 };
  const rStar = [0, 1, 0, 0],
    others = [
      [1, 0, 0, 0],
      [0, 0, 0, 1],
    ];
  const a = retrievalSpecificity(emb, map, rStar, others, opts);
  assert.deepEqual(a.x, [0.25, 0.5, 0.75, 1]);
  assert.deepEqual(a.explainedDrop, [3, 3, 3, 3]);
  assert.deepEqual(a.othersDrop, [0, 0, 0.5, 2.5]);
  assert.equal(a.specificity, 9 / 4);
  assert.equal(a.explainedSimilarity, 3);
  assert.equal(a.relativeSpecificity, 3 / 4);
  assert.equal(emb.calls, 2 + 3, 'the image and the substrate once, then steps − 1 images');
  // the reversed map deletes 1, 4, 3, 2: gaps 0 − 2, 0 − 2.5, 0 − 2.5, 3 − 2.5 → −13/8
  const b = retrievalSpecificity(emb, { ...map, map: Float32Array.from([0.9, 0.1, 0.3, 0.5]) }, rStar, others, opts);
  assert.equal(b.specificity, -13 / 8);
  assert.equal(emb.calls, 5 + 3, 'the end points are cached per embedder');
  // two steps of two pixels: (4, 0, 0, 1) then 0 → gaps 3 and 0.5
  assert.equal(retrievalSpecificity(emb, map, rStar, others, { ...opts, steps: 2 }).specificity, 7 / 4);
  // a 1×2 map is upsampled to the 1×4 image (bilinear: 0, 0.25, 0.75, 1 → order 4, 3, 2, 1):
  // gaps 0 − ½, 0 − ½, 3 − ½, 3 − 2.5 → 1/2
  const up = retrievalSpecificity(emb, { map: Float32Array.from([0, 1]), height: 1, width: 2 }, rStar, others, opts);
  assert.equal(up.specificity, 1 / 2);
  assert.throws(() => retrievalSpecificity(emb, map, rStar, [], opts), /at least one other reference/);
  assert.throws(() => retrievalSpecificity(emb, map, rStar, others, { ...opts, steps: 0 }), /positive integer/);
});

test('makeEmbedder: the untouched image embeds as embed() does (3-channel and 1-channel models); no tensors left', async () => {
  await initBackend({ backend: 'cpu' });
  const cases = [
    { model: 'test/fixtures/similarity/embedhead/model.onnx', image: 'assets/photos/chelsea.png' },
    { model: 'models/protonet-omniglot/protonet-omniglot.onnx', image: 'assets/photos/coffee.png' },
  ];
  for (const c of cases) {
    const model = await loadModel(path.join(PACKAGE_ROOT, c.model));
    const file = path.join(PACKAGE_ROOT, c.image);
    assert.ok(fs.existsSync(file));
    const prepared = await prepareImage(model, file);
    try {
      const want = await embed(model, prepared.tensor);
      const before = tf.memory().numTensors;
      const e = makeEmbedder(model, prepared.rgb, imageSpecFor(model), { embeddingNode: embeddingTensorOf(model), batch: 2 });
      const [got, again, zero] = e.embed([e.pixels, e.pixels, new Float32Array(e.pixels.length)]);
      assert.equal(tf.memory().numTensors, before, `${c.model}: frees what it allocates`);
      const scale = Math.max(...Array.from(want, Math.abs));
      close(got, Array.from(want), 1e-4 * scale, c.model);
      assert.deepEqual(again, got, 'batches of 2 give the same rows');
      assert.ok(
        zero.some((v, i) => Math.abs(v - got[i]) > 1e-3 * scale),
        'another image embeds differently',
      );
    } finally {
      prepared.tensor.dispose();
      model.dispose();
    }
  }
});
