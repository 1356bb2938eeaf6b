/**
 * Image decoding and preprocessing on images synthesised here with sharp, checking exact pixel values.
 *
 * Tolerances: lossless inputs (PNG, lossless WebP) without resampling must decode bit-exactly; the
 * normalised float32 values are compared with the double-precision formula to 1e-6 absolute
 * (float32 rounding of values up to ~3); alpha compositing to ±1 (libvips rounds the premultiplied
 * value); JPEG (lossy) to ±3 per channel on a flat colour.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { decodeImage, looksLikeImageFile, luminance } from '../src/node/decode-image.js';
import { imageSpecFor, normalisePixels, prepareImage, type ImageModelLike } from '../src/image/preprocess.js';
import type { LoadedCard } from '../src/model/card.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-image-test-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// 4 wide × 2 high, row-major RGB
const PIX4x2 = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [10, 20, 30],
  [0, 0, 0],
  [255, 255, 255],
  [128, 64, 32],
  [1, 2, 3],
];
const RGB4x2 = Uint8Array.from(PIX4x2.flat());

async function writeRaw(
  file: string,
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  fmt: 'png' | 'jpeg' | 'webp' = 'png',
): Promise<string> {
  const p = path.join(tmp, file);
  let s = sharp(Buffer.from(data), { raw: { width, height, channels } });
  if (channels <= 2) s = s.toColourspace('b-w'); // else sharp writes a 3-channel file
  s = fmt === 'png' ? s.png() : fmt === 'jpeg' ? s.jpeg({ quality: 95 }) : s.webp({ lossless: true });
  await s.toFile(p);
  return p;
}

function model(shape: number[], card: LoadedCard = {}, name = 'x'): ImageModelLike {
  return { card, inputs: [{ name, shape, dtype: 'float32' }], graph: { source: 'toy.onnx' } };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: got ${actual[i]}, want ${expected[i]} ± ${tol}`);
}

test.before(async () => {
  await initBackend({ backend: 'cpu' });
});

test('4×2 PNG decodes bit-exactly, and each preset normalises as documented', async () => {
  const f = await writeRaw('rgb4x2.png', RGB4x2, 4, 2, 3);
  const img = await decodeImage(f);
  assert.equal(img.width, 4);
  assert.equal(img.height, 2);
  assert.equal(img.format, 'png');
  assert.deepEqual([...img.data], [...RGB4x2]);

  close(normalisePixels(img, 3, 'raw255'), [...RGB4x2], 0, 'raw255');
  close(
    normalisePixels(img, 3, 'unit'),
    [...RGB4x2].map((v) => v / 255),
    1e-6,
    'unit',
  );
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  close(
    normalisePixels(img, 3, 'imagenet'),
    [...RGB4x2].map((v, i) => (v / 255 - mean[i % 3]) / std[i % 3]),
    1e-6,
    'imagenet',
  );
  // spot values: red pixel R channel = (1 − 0.485)/0.229, black pixel B channel = −0.406/0.225
  const inet = normalisePixels(img, 3, 'imagenet');
  assert.ok(Math.abs(inet[0] - 2.2489082969) < 1e-6);
  assert.ok(Math.abs(inet[4 * 3 + 2] - -1.8044444444) < 1e-6);
  const custom = { scale: 2, mean: [10, 20, 30] as [number, number, number], std: [2, 4, 5] as [number, number, number] };
  close(
    normalisePixels(img, 3, custom),
    [...RGB4x2].map((v, i) => (v * 2 - custom.mean[i % 3]) / custom.std[i % 3]),
    1e-6,
    'custom',
  );
  close(
    normalisePixels(img, 3, { scale: 1, mean: [100], std: [50] }),
    [...RGB4x2].map((v) => (v - 100) / 50),
    1e-6,
    'custom 1-value',
  );
});

test('prepareImage: card size equal to the image is an identity resize; tensor is float32 NHWC [1,H,W,C]', async () => {
  const f = await writeRaw('rgb4x2b.png', RGB4x2, 4, 2, 3);
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    const p = await prepareImage(model([1, 2, 4, 3], { inputSize: [2, 4], preprocess: 'unit', interpolation }), f);
    assert.deepEqual(p.tensor.shape, [1, 2, 4, 3]);
    assert.equal(p.tensor.dtype, 'float32');
    close(
      await p.tensor.data(),
      [...RGB4x2].map((v) => v / 255),
      1e-6,
      `tensor ${interpolation}`,
    );
    assert.deepEqual([...p.rgb.data], [...RGB4x2]);
    p.tensor.dispose();
  }
});

test('centre crop keeps the middle of the image; squash keeps everything', async () => {
  const f = await writeRaw('rgb4x2c.png', RGB4x2, 4, 2, 3);
  // 4×2 → 2×2: cover scale 1, crop columns 1 and 2
  const crop = await decodeImage(f, { resize: { size: [2, 2], resize: 'center-crop' } });
  assert.equal(crop.width, 2);
  assert.equal(crop.height, 2);
  assert.deepEqual([...crop.data], [...PIX4x2[1], ...PIX4x2[2], ...PIX4x2[5], ...PIX4x2[6]]);
  // a flat image stays flat under both kernels, whatever the scale
  const flat = new Uint8Array(10 * 6 * 3);
  for (let i = 0; i < flat.length; i += 3) flat.set([200, 100, 50], i);
  const ff = await writeRaw('flat.png', flat, 10, 6, 3);
  for (const interpolation of ['bilinear', 'bicubic'] as const)
    for (const [h, w] of [
      [3, 5],
      [12, 7],
      [6, 10],
    ] as const) {
      const sq = await decodeImage(ff, { resize: { size: [h, w], resize: 'squash', interpolation } });
      assert.equal(sq.width, w);
      assert.equal(sq.height, h);
      for (let i = 0; i < sq.data.length; i += 3) assert.deepEqual([...sq.data.subarray(i, i + 3)], [200, 100, 50], `${interpolation} ${h}x${w}`);
    }
  // centre crop of a 10×6 image to 4×4: resize 6→4 rows (10→6.67 cols), then crop
  const cc = await decodeImage(ff, { resize: { size: [4, 4], resize: 'center-crop' } });
  assert.equal(cc.width, 4);
  assert.equal(cc.height, 4);
});

test('gray PNG is replicated to RGB for 3-channel models and kept exact for 1-channel models', async () => {
  const gray = Uint8Array.from([0, 17, 128, 255, 3, 99]);
  const f = await writeRaw('gray3x2.png', gray, 3, 2, 1);
  const meta = await sharp(f).metadata();
  assert.equal(meta.channels, 1, 'fixture is a 1-channel PNG');
  const img = await decodeImage(f);
  assert.equal(img.wasGray, true);
  assert.deepEqual(
    [...img.data],
    [...gray].flatMap((g) => [g, g, g]),
  );
  const p3 = await prepareImage(model([1, 2, 3, 3], { preprocess: 'raw255' }), f);
  close(
    await p3.tensor.data(),
    [...gray].flatMap((g) => [g, g, g]),
    0,
    'gray→RGB',
  );
  p3.tensor.dispose();
  const p1 = await prepareImage(model([1, 2, 3, 1], { preprocess: 'raw255' }), f);
  assert.deepEqual(p1.tensor.shape, [1, 2, 3, 1]);
  close(await p1.tensor.data(), [...gray], 1e-4, 'gray→1 channel');
  p1.tensor.dispose();
});

test('RGB → luminance (BT.601) for 1-channel models', async () => {
  const f = await writeRaw('rgb4x2d.png', RGB4x2, 4, 2, 3);
  const p = await prepareImage(model([1, 2, 4, 1], { preprocess: 'unit' }), f);
  const want = PIX4x2.map(([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b) / 255);
  close(await p.tensor.data(), want, 1e-6, 'luminance');
  assert.ok(Math.abs(want[0] - 0.299) < 1e-12);
  // the RGB pixels for overlays are kept
  assert.deepEqual([...p.rgb.data], [...RGB4x2]);
  p.tensor.dispose();
  close(luminance({ data: Uint8Array.from([10, 10, 10]), width: 1, height: 1 }), [10], 1e-5, 'gray luminance');
  // imagenet preset on 1 channel: averaged mean/std
  const q = await prepareImage(model([1, 2, 4, 1], { preprocess: 'imagenet' }), f);
  const m = (0.485 + 0.456 + 0.406) / 3;
  const s = (0.229 + 0.224 + 0.225) / 3;
  close(
    await q.tensor.data(),
    want.map((y) => (y - m) / s),
    1e-6,
    'luminance imagenet',
  );
  q.tensor.dispose();
});

test('RGBA PNG: composited onto white, alpha dropped', async () => {
  // 3×1: opaque red, fully transparent blue, half-transparent black
  const rgba = Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 128]);
  const f = await writeRaw('rgba3x1.png', rgba, 3, 1, 4);
  const img = await decodeImage(f);
  assert.equal(img.hadAlpha, true);
  assert.equal(img.data.length, 9);
  close(img.data.subarray(0, 6), [255, 0, 0, 255, 255, 255], 0, 'opaque / transparent');
  const half = 255 * (1 - 128 / 255); // black over white at alpha 128/255 = 127
  close(img.data.subarray(6, 9), [half, half, half], 1, 'half alpha');
  // gray + alpha
  const ga = Uint8Array.from([50, 255, 50, 0]);
  const g = await writeRaw('ga2x1.png', ga, 2, 1, 2);
  const gi = await decodeImage(g);
  assert.deepEqual([...gi.data], [50, 50, 50, 255, 255, 255]);
});

test('JPEG and lossless WebP decode; EXIF orientation is applied', async () => {
  const flat = new Uint8Array(16 * 8 * 3);
  for (let i = 0; i < flat.length; i += 3) flat.set([40, 160, 220], i);
  const j = await writeRaw('flat.jpg', flat, 16, 8, 3, 'jpeg');
  const ji = await decodeImage(j);
  assert.equal(ji.format, 'jpeg');
  for (let i = 0; i < ji.data.length; i += 3) close(ji.data.subarray(i, i + 3), [40, 160, 220], 3, 'jpeg flat');
  const w = await writeRaw('rgb4x2.webp', RGB4x2, 4, 2, 3, 'webp');
  const wi = await decodeImage(w);
  assert.equal(wi.format, 'webp');
  assert.deepEqual([...wi.data], [...RGB4x2]);
  // orientation 6 (rotate 90° clockwise to display): stored 4×2 → shown 2×4
  const rot = path.join(tmp, 'rot.jpg');
  await sharp(Buffer.from(flat), { raw: { width: 16, height: 8, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toFile(rot);
  const ri = await decodeImage(rot);
  assert.equal(ri.width, 8);
  assert.equal(ri.height, 16);
  assert.equal(ri.originalWidth, 8);
  assert.equal(ri.originalHeight, 16);
  // decoding from bytes works too
  const fromBytes = await decodeImage(new Uint8Array(fs.readFileSync(w)), { name: 'mem.webp' });
  assert.deepEqual([...fromBytes.data], [...RGB4x2]);
});

test('size and channels come from the card, else from the declared input shape', () => {
  const a = imageSpecFor(model([1, 32, 48, 3]));
  assert.deepEqual(a.size, [32, 48]);
  assert.equal(a.channels, 3);
  assert.equal(a.preprocess, 'unit');
  assert.equal(a.resize, 'squash');
  assert.equal(a.interpolation, 'bilinear');
  const b = imageSpecFor(model([-1, -1, -1, 3], { inputSize: [64, 64], resize: 'center-crop', interpolation: 'bicubic', preprocess: 'imagenet' }));
  assert.deepEqual(b.size, [64, 64]);
  assert.equal(b.resize, 'center-crop');
  assert.equal(b.interpolation, 'bicubic');
  const c = imageSpecFor(model([-1, 28, 28, -1], { channels: 1 }));
  assert.equal(c.channels, 1);
});

test('errors: not an image, missing file, bad channel count, unknown size, non-image input', async () => {
  const txt = path.join(tmp, 'notes.png');
  fs.writeFileSync(txt, 'this is not an image\n');
  await assert.rejects(decodeImage(txt), (e: Error) => {
    assert.match(e.message, /notes\.png: not a decodable image \(JPEG, PNG or WebP\): /);
    return true;
  });
  const empty = path.join(tmp, 'empty.jpg');
  fs.writeFileSync(empty, '');
  await assert.rejects(decodeImage(empty), /empty\.jpg: not a decodable image \(JPEG, PNG or WebP\): the file is empty/);
  await assert.rejects(decodeImage(path.join(tmp, 'nope.png')), /nope\.png: no such file/);
  await assert.rejects(decodeImage(tmp), /is a directory/);

  assert.throws(
    () => imageSpecFor(model([1, 224, 224, 4], {}, 'pixel_values')),
    /toy\.onnx: model input 'pixel_values' has 4 channels \(shape \[1, 224, 224, 4\], NHWC\); an image gives 1 \(grayscale\) or 3 \(RGB\) channels/,
  );
  assert.throws(() => imageSpecFor(model([1, 224, 224, 2])), /has 2 channels/);
  assert.throws(() => imageSpecFor(model([1, 224, 224, 1], { channels: 3 })), /card says channels 3 but model input 'x' has 1 channels/);
  assert.throws(
    () => imageSpecFor(model([-1, -1, -1, 3])),
    /model input 'x' has shape \[\?, \?, \?, 3\] \(NHWC\) with unknown height\/width and no 'inputSize'.*toy\.naflow\.json/,
  );
  assert.throws(() => imageSpecFor(model([1, 784])), /model input 'x' has shape \[1, 784\], not an image input/);
  assert.throws(
    () => imageSpecFor(model([1, 32, 32, 3], { inputSize: [64, 64] })),
    /input size \[64, 64\] \(model card\) differs from model input 'x' shape \[1, 32, 32, 3\]/,
  );
  assert.throws(
    () => imageSpecFor(model([1, 8, 8, 3], { preprocess: { scale: 1, mean: [1, 2], std: [1] } as never })),
    /preprocess\.mean must be 1 or 3 numbers/,
  );
  assert.throws(() => imageSpecFor(model([1, 8, 8, 3], { preprocess: { scale: 1, mean: [0], std: [0] } })), /std must be 1 or 3 non-zero/);
});

test('image file extensions', () => {
  assert.equal(looksLikeImageFile('a/b/Cat.JPG'), true);
  assert.equal(looksLikeImageFile('x.webp'), true);
  assert.equal(looksLikeImageFile('model.onnx'), false);
  assert.equal(looksLikeImageFile('model.json'), false);
});

test('no tensors leak from prepareImage', async () => {
  const f = await writeRaw('rgb4x2e.png', RGB4x2, 4, 2, 3);
  const before = tf.memory().numTensors;
  const p = await prepareImage(model([1, 2, 4, 3]), f);
  assert.equal(tf.memory().numTensors, before + 1);
  p.tensor.dispose();
  assert.equal(tf.memory().numTensors, before);
});
