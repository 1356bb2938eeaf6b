/**
 * Rendering: normalisation, bilinear resize, colour maps, blending, and the sharp-based composers.
 *
 * Tolerances: normalised and resized float32 values are compared with hand-computed values to 1e-6
 * absolute (float32 rounding of values up to ~25); colour tables and blends are integers and must
 * match exactly; GIF frames are palette-quantised, so decoded solid colours are checked to ±8 per
 * channel; strip/GIF sizes, frame counts and delays must match exactly.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import {
  colorAt,
  colorbar,
  colorize,
  colormapLut,
  globalRange,
  heatmap,
  lutIndex,
  mapRange,
  normalizeMap,
  normalizeMaps,
  overlay,
  renderFlow,
  renderLayer,
  resizeBilinear,
  type RawMap,
} from '../src/render/index.js';
import { captionSupport, flowGif, flowStrip, layerCaption, writePng, type Tile } from '../src/node/compose.js';

const close = (actual: ArrayLike<number>, expected: number[], tol: number, what: string) => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}] = ${actual[i]} expected ${expected[i]} ±${tol}`);
  }
};
const raw = (h: number, w: number, v: number[]): RawMap => ({ map: Float32Array.from(v), height: h, width: w });

// ---------------------------------------------------------------------------------------------
// Normalisation

test('per-layer normalisation: (m − min) / (max − min + 1e-10)', () => {
  close(normalizeMap(Float32Array.from([1, 2, 3, 5])), [0, 0.25, 0.5, 1], 1e-6, 'n');
  close(normalizeMap(Float32Array.from([-2, 0, 2])), [0, 0.5, 1], 1e-6, 'negative');
  // tiny ranges are not blown up to 1 by the epsilon only when the range is comparable to it
  close(normalizeMap(Float64Array.from([0, 1e-10])), [0, 0.5], 1e-6, 'range ≈ eps');
  assert.deepEqual(mapRange([3, NaN, -1, Infinity]), { min: -1, max: 3 });
});

test('constant, empty and non-finite maps give zeros, never NaN', () => {
  for (const v of [
    [7, 7, 7, 7],
    [0, 0],
    [NaN, NaN],
    [Infinity, -Infinity],
  ]) {
    const n = normalizeMap(Float32Array.from(v));
    assert.ok(
      n.every((x) => x === 0),
      `${v} → ${Array.from(n)}`,
    );
  }
  close(normalizeMap(Float32Array.from([NaN, 1, 3])), [0, 0, 1], 1e-6, 'NaN entry → 0');
  const [a] = normalizeMaps([raw(2, 2, [5, 5, 5, 5])], 'layer');
  assert.deepEqual(Array.from(a!.map), [0, 0, 0, 0]);
});

test('global normalisation uses one min/max over all layers', () => {
  const maps = [raw(1, 2, [0, 1]), raw(1, 2, [2, 4]), raw(1, 1, [3])];
  assert.deepEqual(globalRange(maps), { min: 0, max: 4 });
  const g = normalizeMaps(maps, 'global');
  close(g[0]!.map, [0, 0.25], 1e-6, 'layer 0');
  close(g[1]!.map, [0.5, 1], 1e-6, 'layer 1');
  close(g[2]!.map, [0.75], 1e-6, 'layer 2');
  const l = normalizeMaps(maps, 'layer');
  close(l[0]!.map, [0, 1], 1e-6, 'per-layer 0');
  close(l[1]!.map, [0, 1], 1e-6, 'per-layer 1');
  close(l[2]!.map, [0], 0, 'per-layer 2 (constant)');
  assert.deepEqual(Array.from(maps[1]!.map), [2, 4], 'inputs untouched');
  // explicit range: values outside are clamped into [0, 1]
  close(normalizeMap([-1, 0, 2, 9], { min: 0, max: 2 }), [0, 0, 1, 1], 1e-6, 'clamped');
  assert.throws(() => normalizeMaps([raw(2, 2, [1, 2, 3])]), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Resize (OpenCV INTER_LINEAR convention: half-pixel centres, edge clamp)

test('bilinear 2×2 → 4×4, hand-computed', () => {
  // source x of output columns: −0.25 (→ 0), 0.25, 0.75, 1.25 (→ 1)
  const out = resizeBilinear([0, 1, 2, 3], 2, 2, 4, 4);
  close(out, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3], 1e-6, '2x2→4x4');
});

test('bilinear 3×2 → 4×5 (unequal scales) and 3×3 → 2×2 (down), hand-computed', () => {
  // x: scale 2/5, src −0.3→0, 0.1, 0.5, 0.9, 1.3→1;  y: scale 3/4, src −0.125→0, 0.625, 1.375, 2.125→2
  const out = resizeBilinear([0, 1, 4, 9, 16, 25], 3, 2, 4, 5);
  close(out, [0, 0.1, 0.5, 0.9, 1, 2.5, 2.85, 4.25, 5.65, 6, 8.5, 9.15, 11.75, 14.35, 15, 16, 16.9, 20.5, 24.1, 25], 1e-5, '3x2→4x5');
  // scale 1.5: src 0.25 and 1.75 on both axes; f(y, x) = 3y + x is linear so it is reproduced exactly
  close(resizeBilinear([0, 1, 2, 3, 4, 5, 6, 7, 8], 3, 3, 2, 2), [1, 2.5, 5.5, 7], 1e-6, '3x3→2x2');
  close(resizeBilinear([1, 2, 3], 1, 3, 1, 3), [1, 2, 3], 0, 'identity');
  close(resizeBilinear([4], 1, 1, 2, 3), [4, 4, 4, 4, 4, 4], 0, '1x1 → constant');
  assert.throws(() => resizeBilinear([1, 2, 3], 2, 2, 4, 4), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Colour maps

// cv2.applyColorMap(np.arange(256, dtype=np.uint8), cv2.COLORMAP_JET) from OpenCV 4.6.0, as RGB.
const OPENCV_JET_HEX =
  '00008000008400008800008c00009000009400009800009c0000a00000a40000a80000ac0000b00000b40000b80000bc' +
  '0000c00000c40000c80000cc0000d00000d40000d80000dc0000e00000e40000e80000ec0000f00000f40000f80000fc' +
  '0000ff0004ff0008ff000cff0010ff0014ff0018ff001cff0020ff0024ff0028ff002cff0030ff0034ff0038ff003cff' +
  '0040ff0044ff0048ff004cff0050ff0054ff0058ff005cff0060ff0064ff0068ff006cff0070ff0074ff0078ff007cff' +
  '0080ff0084ff0088ff008cff0090ff0094ff0098ff009cff00a0ff00a4ff00a8ff00acff00b0ff00b4ff00b8ff00bcff' +
  '00c0ff00c4ff00c8ff00ccff00d0ff00d4ff00d8ff00dcff00e0ff00e4ff00e8ff00ecff00f0ff00f4ff00f8ff00fcff' +
  '02fffe06fffa0afff60efff212ffee16ffea1affe61effe222ffde26ffda2affd62effd232ffce36ffca3affc63effc2' +
  '42ffbe46ffba4affb64effb252ffae56ffaa5affa65effa262ff9e66ff9a6aff966eff9272ff8e76ff8a7aff867eff82' +
  '82ff7e86ff7a8aff768eff7292ff6e96ff6a9aff669eff62a2ff5ea6ff5aaaff56aeff52b2ff4eb6ff4abaff46beff42' +
  'c2ff3ec6ff3acaff36ceff32d2ff2ed6ff2adaff26deff22e2ff1ee6ff1aeaff16eeff12f2ff0ef6ff0afaff06feff01' +
  'fffc00fff800fff400fff000ffec00ffe800ffe400ffe000ffdc00ffd800ffd400ffd000ffcc00ffc800ffc400ffc000' +
  'ffbc00ffb800ffb400ffb000ffac00ffa800ffa400ffa000ff9c00ff9800ff9400ff9000ff8c00ff8800ff8400ff8000' +
  'ff7c00ff7800ff7400ff7000ff6c00ff6800ff6400ff6000ff5c00ff5800ff5400ff5000ff4c00ff4800ff4400ff4000' +
  'ff3c00ff3800ff3400ff3000ff2c00ff2800ff2400ff2000ff1c00ff1800ff1400ff1000ff0c00ff0800ff0400ff0000' +
  'fc0000f80000f40000f00000ec0000e80000e40000e00000dc0000d80000d40000d00000cc0000c80000c40000c00000' +
  'bc0000b80000b40000b00000ac0000a80000a40000a000009c00009800009400009000008c0000880000840000800000' +
  '';

test('jet equals OpenCV COLORMAP_JET byte for byte', () => {
  const lut = colormapLut('jet');
  assert.equal(Buffer.from(lut).toString('hex'), OPENCV_JET_HEX);
  // and follows the piecewise-linear definition c(i) = 255·clamp(1.5 − |4i/255 − k|), k = 3, 2, 1, to ±0.5
  for (let i = 0; i < 256; i++) {
    [3, 2, 1].forEach((k, c) => {
      const v = 255 * Math.min(1, Math.max(0, 1.5 - Math.abs((4 * i) / 255 - k)));
      assert.ok(Math.abs(lut[i * 3 + c]! - v) <= 0.5 + 1e-9, `jet[${i}][${c}] = ${lut[i * 3 + c]} vs ${v}`);
    });
  }
});

test('jet values at t = 0, 0.25, 0.5, 0.75, 1 (index floor(255 t), as np.uint8(255 * x))', () => {
  assert.equal(lutIndex(0.5), 127);
  assert.equal(lutIndex(1), 255);
  assert.equal(lutIndex(1.5), 255);
  assert.equal(lutIndex(-1), 0);
  assert.equal(lutIndex(NaN), 0);
  assert.deepEqual(colorAt('jet', 0), [0, 0, 128]); // dark blue
  assert.deepEqual(colorAt('jet', 0.25), [0, 124, 255]); // index 63
  assert.deepEqual(colorAt('jet', 0.5), [126, 255, 130]); // index 127
  assert.deepEqual(colorAt('jet', 128 / 255), [130, 255, 126]);
  assert.deepEqual(colorAt('jet', 0.75), [255, 128, 0]); // index 191
  assert.deepEqual(colorAt('jet', 1), [128, 0, 0]); // dark red
  assert.deepEqual(colorAt('jet', 32 / 255), [0, 0, 255]);
  assert.deepEqual(colorAt('jet', 96 / 255), [2, 255, 254]);
});

test('turbo, viridis and gray endpoints and middles', () => {
  assert.deepEqual(colorAt('turbo', 0), [48, 18, 59]);
  assert.deepEqual(colorAt('turbo', 128 / 255), [164, 252, 60]);
  assert.deepEqual(colorAt('turbo', 1), [122, 4, 3]);
  assert.deepEqual(colorAt('viridis', 0), [68, 1, 84]);
  assert.deepEqual(colorAt('viridis', 128 / 255), [33, 145, 140]);
  assert.deepEqual(colorAt('viridis', 1), [253, 231, 37]);
  assert.deepEqual(colorAt('gray', 0), [0, 0, 0]);
  assert.deepEqual(colorAt('gray', 0.5), [127, 127, 127]);
  assert.deepEqual(colorAt('gray', 1), [255, 255, 255]);
  for (const name of ['jet', 'turbo', 'viridis', 'gray'] as const) assert.equal(colormapLut(name).length, 768);
  assert.throws(() => colormapLut('nope' as never), RangeError);
});

test('colorize maps each value through the table', () => {
  assert.deepEqual(Array.from(colorize([0, 1, 0.5], 'jet')), [0, 0, 128, 128, 0, 0, 126, 255, 130]);
  assert.deepEqual(Array.from(colorize([0.2], 'gray')), [51, 51, 51]);
});

test('colorbar runs from high (top) to low (bottom)', () => {
  const v = colorbar('jet', { length: 10, thickness: 2 });
  assert.equal(v.width, 2);
  assert.equal(v.height, 10);
  assert.deepEqual(Array.from(v.data.subarray(0, 3)), [128, 0, 0]);
  assert.deepEqual(Array.from(v.data.subarray(v.data.length - 3)), [0, 0, 128]);
  const h = colorbar('gray', { length: 3, thickness: 1, orientation: 'horizontal' });
  assert.deepEqual(Array.from(h.data), [0, 0, 0, 128, 128, 128, 255, 255, 255]);
});

// ---------------------------------------------------------------------------------------------
// Blending

test('overlay = clamp(round(0.4·colour + 0.8·image)), configurable', () => {
  const colour = [255, 0, 100, 1, 3, 4];
  const image = [255, 10, 200, 1, 0, 0];
  // 306 → 255; 8; 200; 1.2 → 1; 1.2 → 1; 1.6 → 2
  assert.deepEqual(Array.from(overlay(colour, image)), [255, 8, 200, 1, 1, 2]);
  assert.deepEqual(Array.from(overlay([100, 200], [100, 200], { alpha: 0.5, beta: 0.5 })), [100, 200]);
  assert.deepEqual(Array.from(overlay([10, 200], [10, 200], { alpha: 1, beta: 1, gamma: -30 })), [0, 255]);
  assert.throws(() => overlay([1, 2, 3], [1, 2]), RangeError);
});

test('renderLayer: normalise → resize → jet → blend', () => {
  const image = { data: new Uint8Array(4 * 4 * 3).fill(100), width: 4, height: 4 };
  const map = raw(2, 2, [10, 20, 30, 40]); // normalised 0, 1/3, 2/3, 1
  const out = renderLayer(map, image);
  assert.equal(out.width, 4);
  assert.equal(out.height, 4);
  const px = (x: number, y: number) => Array.from(out.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
  // (0,0): t = 0 → jet (0,0,128): 0.4·(0,0,128) + 80 = (80, 80, 131.2)
  assert.deepEqual(px(0, 0), [80, 80, 131]);
  // (3,3): t = 1 → jet (128,0,0): (131.2, 80, 80)
  assert.deepEqual(px(3, 3), [131, 80, 80]);
  // (1,0): t = 0.25·(1/3) = 1/12 → index 21 → jet (0,0,212): (80, 80, 164.8)
  assert.deepEqual(colorAt('jet', 1 / 12), [0, 0, 212]);
  assert.deepEqual(px(1, 0), [80, 80, 165]);
  // global range: the same map against [0, 80] stays in the blue half
  const g = renderLayer(map, image, { normalize: 'global', range: { min: 0, max: 80 } });
  assert.ok(g.data[15 * 3 + 2]! > g.data[15 * 3]!, 'global: deepest pixel is bluish');
  assert.throws(() => renderLayer(map, image, { normalize: 'global' }), RangeError);
  assert.throws(() => renderLayer(map, { ...image, width: 5 }), RangeError);
  // renderFlow with 'global' computes the shared range
  const flow = renderFlow([map, raw(1, 2, [0, 80])], image, { normalize: 'global' });
  assert.deepEqual(Array.from(flow[0]!.data), Array.from(g.data));
  // float32(1/3) = 0.33333334 → 255·t = 85.0000017 → index 85 (np.uint8(255 * np.float32(1/3)) is 85 too)
  const h = heatmap(map, { colormap: 'gray' });
  assert.deepEqual(Array.from(h.data), [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
});

test('renderLayer matches the reference pipeline (NumPy float32 + OpenCV 4.6) pixel for pixel', () => {
  // Golden output of: cam = m − min; cam /= cam.max() + 1e-10; cam = cv2.resize(cam, (16, 12));
  // heat = cv2.applyColorMap(np.uint8(255 * cam), COLORMAP_JET); out = 0.4·heat + 0.8·img (BGR),
  // converted to 8 bits as cv2.imwrite does; shown here as RGB.
  const m = Float32Array.from([
    0.0000015132773, 0.089248896, 0.07515156, 0.7931538, 0.20672552, 0.9833629, 0.003617253, 1.7961769, 0.24226725, 0.3849891, 0.23994523, 0.12736833,
    0.011112164, 0.86577076, 0.00085566915, 0.48344654, 1.8069128, 0.20941219, 3.6146479, 1.6629076,
  ]);
  const W = 16;
  const H = 12;
  const img = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) img[(y * W + x) * 3 + c] = (x * 16 + y * 3 + c * 50) % 256;
  }
  const golden =
    '0028830d35901a429e264eae335bbe4068cd4d75d85a82e5668efe739bff80bb698dd5769acd83a60286b30e80c01b8d' +
    '022a860f37921c44a12951b1365ec1426acf4f77da5c84e76991ff769eff82be6c8fd7789ccf85a90489b61182c21e8f' +
    '052dad123aba1e46bd2b53c03860c5456ddd527afe5e92ff6ba8ff78b3ff85be6e92c67b9ec888ab068ab8138bc52098' +
    '0746bd1452ca214ad72e56d13a62c7476fea5492ff61caff6edeff7aceff87bf7094bc79a1c982ae098aba1694c722a1' +
    '0a6dc0167acc2366d93058e03d65ca4a72f856b6ff74f1ff86feff7dea668ac07396be6aa3cb7bb00b8dbd189eca25ab' +
    '0c52c2195fcf2657dc325ad93f67ce4c74f15997ff66ccff72e1ff7fd2688cc67599c17fa60186b20e8abf1a92cc279f' +
    '0e3ac41b46d12850d5355dd3426ad24e76e85b83ff6898ff75aeff82bd6b8ecb789bd384a80390b5108ac21d86022a93' +
    '1139ae1e46ba2a52c4375fce446cd65179df5e86e76a92f1779fff84ac6991d17a9eea87aa0c94b71289c41f7a042c87' +
    '133bba2048c62d55de3a6af04685fc5386ff6088ff6d95ff7aa2ff86dd7099ff77c2ff67ad6596ba46a3c62db0063abc' +
    '163ec6224ad22f6ce53c96f249c1ff56baff62a1ff6f97ff7caeff89ff72edff28ffff26fd704bd27d90c96eb2097abf' +
    '1843ce2550db3286e83ec2f46fd9de62e6ff65c5ff729aff7ec668beff42fee21bed0028ff3335ff8047ee8c922e999f' +
    '1a46d02752dd3489ea41c4f772dce065e8ff67c7ff749cff81c96ac0ff45ffe41eef022aff3637ff824a238f95309ca2' +
    '';
  const out = renderLayer({ map: m, height: 4, width: 5 }, { data: img, width: W, height: H });
  assert.equal(Buffer.from(out.data).toString('hex'), golden);
});

// ---------------------------------------------------------------------------------------------
// Composition with sharp

const solid = (w: number, h: number, rgb: [number, number, number], caption?: string): Tile => {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return { rgb: data, width: w, height: h, caption };
};
const COLOURS: Array<[number, number, number]> = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
  [0, 255, 255],
];

test('flowStrip without captions: grid size, tile placement, decodable PNG', async () => {
  const tiles = COLOURS.map((c) => solid(40, 40, c));
  const png = await flowStrip(tiles, { columns: 3, gap: 4, captions: false });
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 3 * 40 + 4 * 4);
  assert.equal(meta.height, 2 * 40 + 3 * 4);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
  assert.deepEqual(at(1, 1), [255, 255, 255], 'background');
  assert.deepEqual(at(4 + 20, 4 + 20), [255, 0, 0], 'tile 0');
  assert.deepEqual(at(4 + 2 * 44 + 20, 4 + 20), [0, 0, 255], 'tile 2');
  assert.deepEqual(at(4 + 44 + 20, 4 + 44 + 20), [0, 255, 255], 'tile 4 (row 2, column 2)');
  // tiles are fitted into tileSize boxes
  const small = await flowStrip([solid(20, 10, [9, 9, 9])], { tileSize: 30, gap: 0, captions: false });
  const sm = await sharp(small).metadata();
  assert.deepEqual([sm.width, sm.height], [30, 30]);
});

test('flowStrip with captions draws text under each tile (needs a font)', async (t) => {
  if (!(await captionSupport())) {
    t.skip('no usable font (fontconfig found none); captions are left out');
    return;
  }
  const tiles = COLOURS.map((c, i) => solid(64, 64, c, layerCaption(i, `features/conv${i}/Relu`, [56, 56, 64])));
  const png = await flowStrip(tiles, { columns: 5, gap: 4, captions: 'auto' });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 5 * 64 + 6 * 4);
  assert.ok(info.height > 64 + 8, 'caption bars add height');
  // dark text pixels below tile 0
  let ink = 0;
  for (let y = 4 + 64; y < info.height; y++) {
    for (let x = 4; x < 4 + 64; x++) if (data[(y * info.width + x) * 3]! < 100) ink++;
  }
  assert.ok(ink > 20, `caption ink pixels: ${ink}`);
});

test('flowGif: frame count, frame size, delays, and frame content', async () => {
  const frames = COLOURS.slice(0, 4).map((c) => solid(16, 12, c));
  const gif = await flowGif(frames, { delayMs: 100, captions: false });
  const meta = await sharp(gif, { animated: true }).metadata();
  assert.equal(meta.format, 'gif');
  assert.equal(meta.pages, 4);
  assert.equal(meta.width, 16);
  assert.equal(meta.pageHeight, 12);
  assert.deepEqual(meta.delay, [100, 100, 100, 100]);
  assert.equal(meta.loop, 0);
  const { data } = await sharp(gif, { page: 2 }).raw().toBuffer({ resolveWithObject: true });
  close(Array.from(data.subarray(0, 3)), [0, 0, 255], 8, 'frame 2 colour');
  // captions (when a font exists) add a bar under each frame; per-frame delays
  const withCaps = await flowGif(
    frames.map((f, i) => ({ ...f, caption: `#${i}` })),
    { delayMs: [100, 200, 300, 400], size: 24 },
  );
  const m2 = await sharp(withCaps, { animated: true }).metadata();
  assert.equal(m2.pages, 4);
  assert.equal(m2.width, 24);
  assert.ok(m2.pageHeight! >= 24);
  assert.deepEqual(m2.delay, [100, 200, 300, 400]);
});

test('writePng writes a decodable file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-render-'));
  try {
    const file = path.join(dir, 'a.png');
    await writePng(file, solid(5, 3, [1, 2, 3]).rgb, 5, 3);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [5, 3, 3]);
    assert.deepEqual(Array.from(data.subarray(0, 3)), [1, 2, 3]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('layerCaption: index, short name, shape', () => {
  assert.equal(layerCaption(3, 'features/conv2/Relu', [56, 56, 64]), '#3 Relu\n56×56×64');
  assert.equal(layerCaption(0, 'conv1'), '#0 conv1');
  assert.equal(layerCaption(1, 'a_very_long_node_name_that_goes_on', [7, 7, 512], 11), '#1 a_ver…es_on\n7×7×512');
});

test('without fonts, captions fall back to none (and warn once)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-nofont-'));
  try {
    const conf = path.join(dir, 'fonts.conf');
    fs.writeFileSync(
      conf,
      `<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>${dir}/none</dir><cachedir>${dir}/cache</cachedir></fontconfig>`,
    );
    const compose = new URL('../src/node/compose.js', import.meta.url).href;
    const script = `
      const c = await import(${JSON.stringify(compose)});
      const tile = { rgb: new Uint8Array(8 * 8 * 3), width: 8, height: 8, caption: 'conv' };
      const sharp = (await import('sharp')).default;
      const m = await sharp(await c.flowStrip([tile], { gap: 0 })).metadata();
      console.log(JSON.stringify({ ok: await c.captionSupport(), h: m.height }));`;
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { cwd: path.dirname(fileURLToPath(compose)), env: { ...process.env, FONTCONFIG_FILE: conf } },
        (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })),
      ),
    );
    assert.deepEqual(JSON.parse(stdout.trim()), { ok: false, h: 8 });
    assert.match(stderr, /NAFLOW_NO_FONT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
