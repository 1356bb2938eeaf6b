/**
 * Faithfulness and localisation metrics against closed forms: deletion/insertion AUC and average
 * drop on a hand-built model whose score is the mean grey value, hand-checked pointing/energy cases,
 * and the model-randomisation sanity check on Tiny Darknet.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { Model } from '../src/engine/model.js';
import { inferShapes } from '../src/engine/shapes.js';
import { GraphBuilder } from '../src/import/tfjs-common.js';
import { loadModel } from '../src/node/load.js';
import { imageSpecFor, prepareImage } from '../src/image/preprocess.js';
import { runCascade } from '../src/naflow/cascade.js';
import { confidenceChange, deletionInsertion, gaussianBlur, makeScorer, trapezoid } from '../src/metrics/faithfulness.js';
import { boxAreaShare, centreHit, energyInBoxes, pointingHit, type Box } from '../src/metrics/pointing.js';
import { randomizedModel } from '../src/metrics/sanity.js';
import { spearman } from '../src/metrics/rank.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL } from '../src/defaults.js';
import '../src/ops/index.js';

/** A model whose score is the mean of its 4×4 grey input: GlobalAveragePool → Reshape [N, 1]. */
function meanModel(): Model {
  const b = new GraphBuilder('test', 'mean-model');
  const x = b.addInput('x', [-1, 4, 4, 1]);
  const p = b.emit('gap', 'GlobalAveragePool', [x], {}, [-1, 1, 1, 1]);
  const y = b.emit('score', 'Reshape', [p], { shape: [-1, 1] }, [-1, 1]);
  const m = new Model(b.finish([y]), { inputSize: [4, 4], channels: 1, preprocess: 'raw255' });
  inferShapes(m);
  return m;
}

// grey pixels v_i = 10·i (i = 0…15), so the score of the image is mean(v) = 75
const grey = Uint8Array.from({ length: 48 }, (_, k) => 10 * Math.floor(k / 3));
const image = { data: grey, width: 4, height: 4 };
const spec = {
  size: [4, 4] as [number, number],
  channels: 1 as const,
  preprocess: 'raw255' as const,
  resize: 'squash' as const,
  interpolation: 'bilinear' as const,
};
const values = Float32Array.from({ length: 16 }, (_, i) => 10 * i);

test('deletion and insertion AUC equal their closed forms on a mean-grey model', async () => {
  await initBackend({ backend: 'cpu' });
  const model = meanModel();
  try {
    const scorer = makeScorer(model, image, spec, { classIndex: 0, score: 'logit' });
    assert.ok(Math.abs(scorer.score([scorer.pixels])[0] - 75) < 1e-4);
    const map = { map: values, height: 4, width: 4 };
    const del = deletionInsertion(scorer, map, 'deletion', { steps: 16, substrate: 'zero' });
    const ins = deletionInsertion(scorer, map, 'insertion', { steps: 16, substrate: 'zero' });
    // after k deletions of the brightest pixels: (1200 − Σ_{j<k} (150 − 10j)) / 16
    const delY = Array.from({ length: 17 }, (_, k) => (1200 - (150 * k - 5 * k * (k - 1))) / 16);
    const x = Array.from({ length: 17 }, (_, k) => k / 16);
    delY.forEach((v, k) => assert.ok(Math.abs(del.y[k] - v) < 1e-3, `deletion step ${k}: ${del.y[k]} vs ${v}`));
    assert.ok(Math.abs(del.auc - trapezoid(x, delY)) < 1e-4);
    // a linear score: deletion + insertion = the full score at every step, so the AUCs sum to 75
    ins.y.forEach((v, k) => assert.ok(Math.abs(v + del.y[k] - 75) < 1e-3));
    assert.ok(Math.abs(del.auc + ins.auc - 75) < 1e-3);
    // the saliency order that deletes the brightest pixels first is the best possible
    const worst = deletionInsertion(scorer, { map: values.map((v) => -v), height: 4, width: 4 }, 'deletion', { steps: 16, substrate: 'zero' });
    assert.ok(del.auc < worst.auc);
    // a 2×2 map is upsampled first: ranking by quadrant
    const coarse = deletionInsertion(scorer, { map: Float32Array.of(0, 1, 2, 3), height: 2, width: 2 }, 'deletion', { steps: 4, substrate: 'zero' });
    assert.ok(Math.abs(coarse.y[1] - (1200 - (100 + 110 + 140 + 150)) / 16) < 1e-3, `the bottom-right quadrant goes first: ${coarse.y[1]}`);
    // average drop: O = mean(v · v/150) = 51.67, Y = 75
    const c = confidenceChange(scorer, map);
    const O = values.reduce((a, v) => a + (v * v) / 150, 0) / 16;
    assert.ok(Math.abs(c.masked - O) < 1e-3 && Math.abs(c.drop - (75 - O) / 75) < 1e-5 && !c.increase);
  } finally {
    model.dispose();
  }
});

test('a scorer scores the image and each substrate once, however many maps it rates', async () => {
  await initBackend({ backend: 'cpu' });
  const model = meanModel();
  try {
    const scorer = makeScorer(model, image, spec, { classIndex: 0, score: 'logit' });
    const score = scorer.score.bind(scorer);
    let scored = 0;
    scorer.score = (images) => ((scored += images.length), score(images));
    const maps = [values, values.map((v) => -v), values.map((v, i) => (i % 2 ? v : 0))];
    const curves = maps.map((m) => {
      const map = { map: m, height: 4, width: 4 };
      return [
        deletionInsertion(scorer, map, 'deletion', { steps: 8, substrate: 'zero' }),
        deletionInsertion(scorer, map, 'insertion', { steps: 8, substrate: 'zero' }),
        confidenceChange(scorer, map),
      ] as const;
    });
    // per map 7 + 7 inner steps and 1 masked image; once: the image and the black substrate
    assert.equal(scored, 3 * (7 + 7 + 1) + 2);
    for (const [del, ins, c] of curves) {
      assert.equal(del.y.length, 9);
      assert.ok(Math.abs(del.y[0] - 75) < 1e-4 && Math.abs(del.y[8]) < 1e-4 && Math.abs(ins.y[0]) < 1e-4 && Math.abs(ins.y[8] - 75) < 1e-4);
      assert.ok(Math.abs(c.full - 75) < 1e-4);
    }
  } finally {
    model.dispose();
  }
});

test('the blur substrate leaves a constant image unchanged and conserves the mean', () => {
  const flat = new Float32Array(8 * 8 * 3).fill(42);
  assert.ok(gaussianBlur(flat, 8, 8).every((v) => Math.abs(v - 42) < 1e-4));
  const spike = new Float32Array(21 * 21 * 3);
  spike[(10 * 21 + 10) * 3] = 1;
  const b = gaussianBlur(spike, 21, 21);
  assert.ok(Math.abs(b.reduce((a, v) => a + v, 0) - 1) < 1e-5, 'an interior spike keeps its mass');
});

test('pointing game and energy pointing: hand-checked cases', () => {
  // 4×4 map on an 8×8 image, maximum in cell (row 1, col 2) → point (5, 3)
  const m = new Float32Array(16);
  m[1 * 4 + 2] = 1;
  const hitBox: Box = [4, 2, 6, 4];
  assert.equal(pointingHit(m, 4, 4, [hitBox], 8, 8), true);
  assert.equal(pointingHit(m, 4, 4, [[0, 0, 2, 2]], 8, 8), false);
  assert.equal(pointingHit(m, 4, 4, [[0, 0, 2, 2]], 8, 8, 3), true, 'within a 3-pixel tolerance');
  assert.equal(centreHit([[3, 3, 5, 5]], 8, 8), true);
  assert.equal(centreHit([[0, 0, 2, 2]], 8, 8), false);
  // all energy in one 8×8 map cell inside the box; a uniform map gives the box's area share
  const e = new Float32Array(64);
  e[3 * 8 + 5] = 1;
  assert.equal(energyInBoxes(e, 8, 8, [[5, 3, 6, 4]], 8, 8), 1);
  assert.equal(boxAreaShare([[0, 0, 4, 8]], 8, 8), 0.5);
  assert.equal(energyInBoxes(new Float32Array(64).fill(2), 8, 8, [[0, 0, 4, 8]], 8, 8), 0.5);
});

test('sanity check: randomising every layer of Tiny Darknet decorrelates the NAFlow maps (Spearman < 0.3)', async (t) => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  const random = randomizedModel(model, { seed: 1 });
  const prepared = await prepareImage(model, DEFAULT_IMAGE);
  try {
    const before = tf.memory().numTensors;
    const a = runCascade(model, prepared.tensor, { mode: 'paper' });
    const b = runCascade(random, prepared.tensor, { mode: 'paper', classIndex: a.classIndex });
    assert.equal(tf.memory().numTensors, before);
    const rho = a.layers.map((l, i) => spearman(l.map, b.layers[i].map));
    const mean = rho.reduce((s, v) => s + v, 0) / rho.length;
    t.diagnostic(`Spearman trained vs randomised, per layer: ${rho.map((r) => r.toFixed(2)).join(' ')}; mean ${mean.toFixed(3)}`);
    assert.ok(mean < 0.3, `mean rank correlation ${mean}`);
    // the original model is untouched: the same explanation again
    const again = runCascade(model, prepared.tensor, { mode: 'paper' });
    assert.deepEqual(again.layers.at(-1)!.map, a.layers.at(-1)!.map);
    assert.deepEqual(imageSpecFor(random), imageSpecFor(model));
  } finally {
    prepared.tensor.dispose();
    random.dispose();
    model.dispose();
  }
});
