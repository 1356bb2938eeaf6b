/**
 * A card's `"resize": "center-crop", "resizeShorter": S`: the shorter side to S, then the centre
 * [H, W], as torchvision's Resize(S) + CenterCrop([H, W]).
 *
 * References: torchvision 0.14 on PIL images (tools/resize_crop_fixture.py → test/fixtures/resize-crop/),
 * and a hand-checked crop where the resize is the identity. Tolerances: geometry (resized size, crop
 * offsets) exact; where S equals the shorter side the resize is the identity and the crop must be
 * bit-exact; otherwise libvips' and PIL's anti-aliased bilinear resamplers differ by rounding, so values
 * agree to ≤ 3 levels per channel and ≤ 0.5 on average (measured: ≤ 2 and ≤ 0.15), while the same crop
 * one pixel off differs from torchvision by ≥ 8 levels on average (measured ≥ 11; checked below, so the
 * tolerance tells a misplaced crop).
 */
import '../src/node/register.js';
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage, shorterSideTo } from '../src/node/decode-image.js';
import { displayImage, imageSpecFor, prepareImage, type ImageModelLike, type ImageSpec } from '../src/image/preprocess.js';
import { CardError, validateCard, type LoadedCard } from '../src/model/card.js';
import { framingOf, ImageError, type DecodedImage } from '../src/image/rgb.js';
import { framedBoxes } from '../src/eval/run.js';
import type { Box } from '../src/metrics/pointing.js';
import { PACKAGE_ROOT } from '../src/defaults.js';

const FIX = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'resize-crop');
interface Case {
  resizeShorter: number;
  size: [number, number];
  resized: [number, number];
  left: number;
  top: number;
  data: number[];
}
const manifest = JSON.parse(fs.readFileSync(path.join(FIX, 'manifest.json'), 'utf8')) as { images: Record<string, Case[]> };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-resize-crop-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function model(shape: number[], card: LoadedCard = {}): ImageModelLike {
  return { card, inputs: [{ name: 'x', shape, dtype: 'float32' }], graph: { source: 'toy.onnx' } };
}

/** Mean and max absolute difference of two equally long byte arrays. */
function diff(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.length, max };
}

test('resizeShorter + centre crop matches torchvision Resize(S) + CenterCrop([H, W]) (geometry exact, values within the resamplers)', async () => {
  let cases = 0;
  for (const [file, list] of Object.entries(manifest.images)) {
    const src = path.join(FIX, file);
    const { width, height } = await sharp(src).metadata();
    for (const c of list) {
      const what = `${file} S=${c.resizeShorter} crop ${c.size.join('×')}`;
      assert.deepEqual(shorterSideTo(width!, height!, c.resizeShorter), c.resized, `${what}: resized size`);
      const got = await decodeImage(src, { resize: { size: c.size, resize: 'center-crop', resizeShorter: c.resizeShorter, interpolation: 'bilinear' } });
      assert.deepEqual([got.width, got.height], [c.size[1], c.size[0]], what);
      const d = diff(got.data, c.data);
      if (c.resized[0] === width && c.resized[1] === height) assert.equal(d.max, 0, `${what}: identity resize, the crop is exact`);
      assert.ok(d.max <= 3 && d.mean <= 0.5, `${what}: |Δ| max ${d.max}, mean ${d.mean.toFixed(2)}`);
      // the same crop one pixel to the right (or down, where there is no room) is told apart
      const [rw, rh] = c.resized;
      const shift = c.left + 1 + c.size[1] <= rw ? { left: c.left + 1, top: c.top } : { left: c.left, top: c.top + 1 };
      const off = await sharp(src)
        .resize({ width: rw, height: rh, fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
        .extract({ ...shift, width: c.size[1], height: c.size[0] })
        .removeAlpha()
        .raw()
        .toBuffer();
      assert.ok(diff(off, c.data).mean >= 8, `${what}: a crop one pixel off is ${diff(off, c.data).mean.toFixed(2)} levels away`);
      cases++;
    }
  }
  assert.equal(cases, 5);
});

test('centre-crop offsets round half to even, as torchvision: 7×4 with S 4 and crop 2×2 keeps columns 2–3, rows 1–2', async () => {
  const w = 7;
  const h = 4;
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([10 * x, 50 * y, 7], 3 * (y * w + x));
  const f = path.join(tmp, 'seven-by-four.png');
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(f);
  // (7 − 2)/2 = 2.5 → 2 (Math.round would give 3); (4 − 2)/2 = 1
  const got = await decodeImage(f, { resize: { size: [2, 2], resize: 'center-crop', resizeShorter: 4 } });
  assert.deepEqual([...got.data], [20, 50, 7, 30, 50, 7, 20, 100, 7, 30, 100, 7]);
  // a crop larger than the resized image is refused, naming the file
  await assert.rejects(decodeImage(f, { resize: { size: [5, 5], resize: 'center-crop', resizeShorter: 4 } }), /seven-by-four\.png: resizeShorter 4 is smaller/);
});

test('card: resizeShorter must be an integer, with center-crop, no smaller than inputSize', () => {
  const ok = validateCard({ inputSize: [224, 224], resize: 'center-crop', resizeShorter: 256 }, 'm.naflow.json');
  assert.equal(ok.resizeShorter, 256);
  for (const [card, want] of [
    [{ resize: 'center-crop', resizeShorter: 255.5 }, /field 'resizeShorter' must be a positive integer/],
    [{ resize: 'center-crop', resizeShorter: '256' }, /field 'resizeShorter' must be a positive integer/],
    [{ resizeShorter: 256 }, /field 'resizeShorter' must be given only with "resize": "center-crop" \(resize is "squash"\)/],
    [{ resize: 'squash', resizeShorter: 256 }, /only with "resize": "center-crop"/],
    [{ inputSize: [224, 300], resize: 'center-crop', resizeShorter: 256 }, /at least the larger side of inputSize \[224, 300\]/],
  ] as const)
    assert.throws(
      () => validateCard(card, 'm.naflow.json'),
      (e: Error) => e instanceof CardError && /^m\.naflow\.json: /.test(e.message) && want.test(e.message),
      JSON.stringify(card),
    );
});

test('imageSpecFor: the card’s resizeShorter goes with its centre crop; an overriding resize mode drops it', () => {
  const card: LoadedCard = { resize: 'center-crop', resizeShorter: 256, cardPath: 'm.naflow.json' };
  const a = imageSpecFor(model([1, 224, 224, 3], card));
  assert.equal(a.resize, 'center-crop');
  assert.equal(a.resizeShorter, 256);
  const b = imageSpecFor(model([1, 224, 224, 3], card), { resize: 'squash' });
  assert.equal(b.resize, 'squash');
  assert.equal(b.resizeShorter, undefined);
  const c = imageSpecFor(model([1, 224, 224, 3], card), { resize: 'center-crop' });
  assert.equal(c.resizeShorter, undefined, 'center-crop asked for without resizeShorter: the shorter side to the crop');
  assert.equal(imageSpecFor(model([1, 224, 224, 3], card), { resizeShorter: 288 }).resizeShorter, 288);
  // the size comes from the model's shape here, so only imageSpecFor can tell it is too small
  assert.throws(
    () => imageSpecFor(model([1, 300, 300, 3], card)),
    (e: Error) =>
      e instanceof ImageError &&
      /m\.naflow\.json: resizeShorter 256 must be an integer at least the larger side of the input size \[300, 300\]/.test(e.message),
  );
});

test('prepareImage and displayImage frame the photo as the card says', async () => {
  // 40×20, left half black, right half white: a squash keeps both halves, a crop of the centre too,
  // but resizeShorter 32 then a 16×16 crop keeps the middle 16 of 64 columns (half black, half white)
  const w = 40;
  const h = 20;
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.fill(x < w / 2 ? 0 : 255, 3 * (y * w + x), 3 * (y * w + x) + 3);
  const f = path.join(tmp, 'halves.png');
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(f);
  const m = model([1, 16, 16, 3], { resize: 'center-crop', resizeShorter: 32, preprocess: 'raw255' });
  const p = await prepareImage(m, f);
  const row = Array.from({ length: 16 }, (_, x) => p.rgb.data[3 * (8 * 16 + x)]);
  p.tensor.dispose();
  assert.deepEqual(
    row.map((v) => (v < 128 ? 0 : 1)),
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
  );
  // shown at 64 pixels: the crop scales with it (resizeShorter 128, crop 64)
  const shown = await displayImage(f, imageSpecFor(m), 64);
  assert.deepEqual([shown.width, shown.height], [64, 64]);
  assert.equal(shown.data[3 * (32 * 64 + 20)], 0);
  assert.equal(shown.data[3 * (32 * 64 + 44)], 255);
});

test('framingOf follows the decoder: torchvision geometry with resizeShorter, sharp’s cover within a pixel without', async () => {
  for (const [file, list] of Object.entries(manifest.images)) {
    const { width, height } = await sharp(path.join(FIX, file)).metadata();
    for (const c of list)
      assert.deepEqual(framingOf(width!, height!, { size: c.size, resize: 'center-crop', resizeShorter: c.resizeShorter }), {
        resized: c.resized,
        left: c.left,
        top: c.top,
      });
  }
  assert.deepEqual(framingOf(451, 300, { size: [224, 224], resize: 'squash' }), { resized: [224, 224], left: 0, top: 0 });
  // cover: 451×300 → 337×224 (scale 224/300); sharp cuts from column 57 (its crop differs from
  // resize-to-337 + extract at 57 by 0.25 levels on average, at 56 by 6.2: checked on chelsea.png)
  assert.deepEqual(framingOf(451, 300, { size: [224, 224], resize: 'center-crop' }), { resized: [337, 224], left: 57, top: 0 });
});

test('eval’s boxes follow the crop: scaled, shifted by the crop offset, clipped, dropped when cut away', () => {
  const image = { originalWidth: 400, originalHeight: 300 } as DecodedImage;
  const spec = (o: Partial<ImageSpec>): ImageSpec => ({ size: [224, 224], channels: 3, preprocess: 'unit', resize: 'squash', interpolation: 'bilinear', ...o });
  const boxes: Box[] = [
    [0, 0, 100, 300], // the left quarter
    [0, 0, 40, 30], // a corner the crop cuts away
    [150, 100, 250, 200], // the middle
  ];
  // squash: the formula eval always used, x·W/bw
  assert.deepEqual(framedBoxes(boxes, [400, 300], image, spec({})), [
    [0, 0, 56, 224],
    [0, 0, 22.4, 22.4],
    [84, 74.66666666666667, 140, 149.33333333333334],
  ]);
  // resizeShorter 256: 400×300 → 341×256, crop from (58, 16); x scale 341/400, y scale 256/300
  const sx = 341 / 400;
  const sy = 256 / 300;
  const got = framedBoxes(boxes, [400, 300], image, spec({ resize: 'center-crop', resizeShorter: 256 }));
  assert.equal(got.length, 2, 'the corner box is cut away');
  const want = [
    [0, 0, 100 * sx - 58, 224],
    [150 * sx - 58, 100 * sy - 16, 250 * sx - 58, 200 * sy - 16],
  ];
  got.forEach((b, i) => b.forEach((v, j) => assert.ok(Math.abs(v - want[i][j]) < 1e-9, `box ${i}[${j}]: ${v} vs ${want[i][j]}`)));
  // boxes given in another frame (e.g. boxes_227 of a 400×300 file) are scaled from that frame
  const from227 = framedBoxes([[0, 0, 227, 227]], [227, 227], image, spec({ resize: 'center-crop', resizeShorter: 256 }));
  assert.deepEqual(from227, [[0, 0, 224, 224]]);
});
