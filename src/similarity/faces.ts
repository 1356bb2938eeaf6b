/**
 * Face detection for face retrieval: face-api's TinyFaceDetector (built in naflow's IR, see
 * import/face-api.ts) finds the faces; the explanation then runs on the best face's crop. An image
 * without a face is a clear error rather than a map of the background.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { forward } from '../engine/execute.js';
import { loadModel } from '../node/load.js';
import { TINY_FACE_DETECTOR } from '../import/face-api.js';
import { ImageError } from '../image/rgb.js';
import { PACKAGE_ROOT } from '../defaults.js';
import { SimilarityError } from './embed.js';

export interface FaceBox {
  /** pixels of the original image */
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

const DETECTOR_FILE = 'model/tiny_face_detector_model-weights_manifest.json';

/** The TinyFaceDetector manifest of an installed `@vladmandic/face-api`, or null. */
export function findFaceDetector(): string | null {
  const tries: string[] = [];
  try {
    tries.push(path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), DETECTOR_FILE));
  } catch {
    // not resolvable through package exports: look in node_modules folders below
  }
  for (const root of [process.cwd(), PACKAGE_ROOT]) tries.push(path.join(root, 'node_modules/@vladmandic/face-api', DETECTOR_FILE));
  return tries.find((f) => fs.existsSync(f)) ?? null;
}

export async function loadFaceDetector(file = findFaceDetector()): Promise<Model> {
  if (!file)
    throw new SimilarityError('face detection needs the npm package @vladmandic/face-api (its TinyFaceDetector weights): npm install @vladmandic/face-api');
  return loadModel(file);
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function iou(a: FaceBox, b: FaceBox): number {
  const x0 = Math.max(a.x, b.x),
    y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width),
    y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** Faces in an image (path or bytes), best first: score ≥ minScore, non-maximum suppression at `iouThreshold`. */
export async function detectFaces(detector: Model, image: string | Uint8Array, options: { minScore?: number; iouThreshold?: number } = {}): Promise<FaceBox[]> {
  const minScore = options.minScore ?? 0.5;
  const name = typeof image === 'string' ? image : 'image';
  const size = TINY_FACE_DETECTOR.inputSize;
  let raw: { data: Buffer };
  let width: number, height: number;
  try {
    const meta = await sharp(image).metadata();
    width = meta.autoOrient?.width ?? meta.width!;
    height = meta.autoOrient?.height ?? meta.height!;
    const side = Math.max(width, height);
    // like face-api: pad to a square at the bottom/right with black, then resize to 416×416
    const square = await sharp(image)
      .autoOrient()
      .removeAlpha()
      .extend({ right: side - width, bottom: side - height, background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    raw = await sharp(square.data, { raw: { width: side, height: side, channels: 3 } })
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageError(`${name}: cannot decode the image (${(e as Error).message})`);
  }
  const out = tf.tidy(() => {
    const x = tf.div(tf.sub(tf.tensor4d(Float32Array.from(raw.data), [1, size, size, 3]), tf.tensor1d(TINY_FACE_DETECTOR.meanRgb)), 255);
    const rec = forward(detector, x, { outputs: [detector.outputs[0]] });
    const y = rec.get(detector.outputs[0]).clone();
    rec.dispose();
    return y;
  });
  const [, grid, , channels] = out.shape as number[];
  const v = out.dataSync();
  out.dispose();
  const anchors = TINY_FACE_DETECTOR.anchors;
  const enc = channels / anchors.length;
  const side = Math.max(width, height);
  const boxes: FaceBox[] = [];
  for (let row = 0; row < grid; row++)
    for (let col = 0; col < grid; col++)
      for (let a = 0; a < anchors.length; a++) {
        const o = ((row * grid + col) * anchors.length + a) * enc;
        const score = sigmoid(v[o + 4]);
        if (score < minScore) continue;
        // relative to the padded square, then pixels of the original image
        const cx = ((col + sigmoid(v[o])) / grid) * side,
          cy = ((row + sigmoid(v[o + 1])) / grid) * side;
        const w = ((Math.exp(v[o + 2]) * anchors[a][0]) / grid) * side,
          h = ((Math.exp(v[o + 3]) * anchors[a][1]) / grid) * side;
        boxes.push({ x: cx - w / 2, y: cy - h / 2, width: w, height: h, score });
      }
  boxes.sort((p, q) => q.score - p.score);
  const kept: FaceBox[] = [];
  for (const b of boxes) if (kept.every((k) => iou(k, b) < (options.iouThreshold ?? 0.4))) kept.push(b);
  return kept.map((b) => clampBox(b, width, height));
}

function clampBox(b: FaceBox, width: number, height: number): FaceBox {
  const x0 = Math.max(0, b.x),
    y0 = Math.max(0, b.y),
    x1 = Math.min(width, b.x + b.width),
    y1 = Math.min(height, b.y + b.height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, score: b.score };
}

/** The best face of an image, cropped with a margin (share of the box on each side), as PNG bytes. */
export async function cropBestFace(detector: Model, image: string, margin = 0.15): Promise<{ png: Uint8Array; box: FaceBox }> {
  const faces = await detectFaces(detector, image);
  if (!faces.length) throw new SimilarityError(`${image}: no face found (face-api TinyFaceDetector, score ≥ 0.5); give a photo with a visible face`);
  const f = faces[0];
  const meta = await sharp(image).metadata();
  const W = meta.autoOrient?.width ?? meta.width!,
    H = meta.autoOrient?.height ?? meta.height!;
  const left = Math.max(0, Math.round(f.x - margin * f.width)),
    top = Math.max(0, Math.round(f.y - margin * f.height));
  const right = Math.min(W, Math.round(f.x + f.width * (1 + margin))),
    bottom = Math.min(H, Math.round(f.y + f.height * (1 + margin)));
  const png = await sharp(image)
    .autoOrient()
    .removeAlpha()
    .extract({ left, top, width: right - left, height: bottom - top })
    .png()
    .toBuffer();
  return { png: new Uint8Array(png), box: f };
}
