/**
 * Faithfulness metrics of a saliency map (docs/spec.md §9), computed in pixel space on the model's own input
 * image (the resized 8-bit RGB it saw) and re-normalised for every perturbation, so the "removed"
 * pixels are what the metric says (black, or the blurred image), whatever the model's normalisation.
 *
 *   deletion / insertion (Petsiuk et al. 2018): pixels in decreasing map order (the map upsampled to the
 *     input, OpenCV bilinear; ties by position) are replaced by the substrate (deletion) or restored
 *     onto it (insertion) in `steps` equal chunks; the curve is the class score after each chunk and
 *     the AUC its trapezoid area over [0, 1]. Substrates: 'blur' (Gaussian, σ = 5, kernel 11, as
 *     Petsiuk's insertion) or 'zero' (black). Lower deletion and higher insertion AUC = more faithful.
 *   average drop / increase in confidence (Chattopadhay et al. 2018): Y = score of the image, O = score
 *     of the image multiplied by the min–max normalised upsampled map; drop = max(0, Y − O) / Y,
 *     increase = [O > Y]; both averaged over images by `averageDropIncrease`.
 * The score is the explained class's softmax probability (`score: 'probability'`, default; a model
 * whose card says its output is already a probability is used as is) or the raw logit.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { forward } from '../engine/execute.js';
import { nativeForwardFor } from '../engine/native-graph.js';
import { findScoreTensor } from '../structure/index.js';
import { normalisationOf, type ImageSpec } from '../image/preprocess.js';
import { resizeBilinear } from '../render/resize.js';
import { luminance, type RgbImage } from '../image/rgb.js';
import { value, type EvalMetric } from './registry.js';

export interface Scorer {
  height: number;
  width: number;
  /** the input image as float RGB 0..255, H·W·3 */
  pixels: Float32Array;
  /** the explained class's score for each image (float RGB 0..255 arrays like `pixels`) */
  score(images: Float32Array[]): number[];
  /** the score of `pixels` itself (computed once per scorer) */
  imageScore(): number;
  /** the deletion/insertion substrate of `pixels` and its score (each computed once per scorer) */
  substrate(kind: 'blur' | 'zero'): { pixels: Float32Array; score: number };
}

export interface ScorerOptions {
  classIndex: number;
  score?: 'probability' | 'logit';
  /** the tensor holding the class scores (default: as the cascade finds it) */
  scoreTensor?: string;
  /** images per forward pass */
  batch?: number;
}

/** A scorer for one image: normalises pixel arrays with the model's preprocessing and runs batches. */
export function makeScorer(model: Model, rgb: RgbImage, spec: ImageSpec, options: ScorerOptions): Scorer {
  const { height, width } = rgb;
  const { scale, mean, std } = normalisationOf(spec.preprocess, spec.channels);
  const C = spec.channels;
  const logits = options.scoreTensor ?? findScoreTensor(model.graph);
  const asProbability = (options.score ?? 'probability') === 'probability';
  const out = asProbability && model.card.outputIsProbability ? model.graph.outputs[0] : logits;
  const softmax = asProbability && out === logits;
  const fixed = model.inputs[0]?.shape[0];
  const batch = fixed && fixed > 0 ? fixed : (options.batch ?? 16); // fixed-batch exports: that many at a time
  const k = options.classIndex;
  const toInput = (px: Float32Array): Float32Array => {
    const n = height * width;
    const x = new Float32Array(n * C);
    if (C === 1) {
      const y = luminance({ data: px as unknown as Uint8Array, width, height });
      for (let i = 0; i < n; i++) x[i] = (y[i] * scale - mean[0]) / std[0];
    } else for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) x[3 * i + c] = (px[3 * i + c] * scale - mean[c]) / std[c];
    return x;
  };
  // every map of an image starts or ends its curves at the same two images (the image, the substrate)
  // and its average drop compares with the same full score: one forward pass each, not one per map
  let full: number | undefined;
  const substrates = new Map<'blur' | 'zero', { pixels: Float32Array; score: number }>();
  const scorer: Scorer = {
    height,
    width,
    pixels: Float32Array.from(rgb.data),
    imageScore() {
      return (full ??= scorer.score([scorer.pixels])[0]);
    },
    substrate(kind) {
      let s = substrates.get(kind);
      if (!s) {
        const px = kind === 'zero' ? new Float32Array(scorer.pixels.length) : gaussianBlur(scorer.pixels, height, width);
        substrates.set(kind, (s = { pixels: px, score: scorer.score([px])[0] }));
      }
      return s;
    },
    score(images) {
      const scores: number[] = [];
      for (let at = 0; at < images.length; at += batch) {
        const chunk = images.slice(at, at + batch);
        // one onnxruntime session for the whole forward pass where every op has an ONNX form
        const native = nativeForwardFor(model, [out], [chunk.length, height, width, C]);
        if (typeof native !== 'string') {
          const s = native.run(concat(chunk.map(toInput)))[0];
          const per = s.length / chunk.length;
          for (let i = 0; i < chunk.length; i++) scores.push(softmax ? softmaxAt(s, i * per, per, k) : s[i * per + k]);
          continue;
        }
        const values = tf.tidy(() => {
          const x = tf.tensor4d(concat(chunk.map(toInput)), [chunk.length, height, width, C]);
          const rec = forward(model, x, { outputs: [out] });
          try {
            let s = tf.reshape(rec.get(out), [chunk.length, -1]);
            if (softmax) s = tf.softmax(s);
            return tf.slice(s, [0, k], [chunk.length, 1]).dataSync();
          } finally {
            rec.dispose();
          }
        });
        scores.push(...values);
      }
      return scores;
    },
  };
  return scorer;
}

/** softmax(row)[k] of the row s[at … at+n), computed stably in float64. */
function softmaxAt(s: Float32Array, at: number, n: number, k: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, s[at + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(s[at + i] - max);
  return Math.exp(s[at + k] - max) / sum;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

/** A map of any size brought to H×W (OpenCV-style bilinear, like the overlays). */
export function upsample(map: Float32Array, mh: number, mw: number, height: number, width: number): Float32Array {
  return mh === height && mw === width ? map : resizeBilinear(map, mh, mw, height, width);
}

/** Gaussian blur of an H×W×3 float image (separable, reflect-101 borders). */
export function gaussianBlur(px: Float32Array, height: number, width: number, sigma = 5, size = 11): Float32Array {
  const r = (size - 1) >> 1;
  const k = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const kn = k.map((v) => v / sum);
  const reflect = (i: number, n: number) => (n === 1 ? 0 : i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  const tmp = new Float32Array(px.length);
  const out = new Float32Array(px.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = -r; j <= r; j++) s += kn[j + r] * px[(y * width + reflect(x + j, width)) * 3 + c];
        tmp[(y * width + x) * 3 + c] = s;
      }
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = -r; j <= r; j++) s += kn[j + r] * tmp[(reflect(y + j, height) * width + x) * 3 + c];
        out[(y * width + x) * 3 + c] = s;
      }
  return out;
}

export interface CurveOptions {
  /** chunks the pixels are removed/inserted in (default 32) */
  steps?: number;
  substrate?: 'blur' | 'zero';
}

export interface Curve {
  /** fraction of pixels changed, 0 … 1 (steps + 1 points) */
  x: number[];
  /** class score after each chunk */
  y: number[];
  auc: number;
}

/** Pixel indices in decreasing saliency (stable: ties keep raster order). */
export function pixelOrder(saliency: Float32Array): Int32Array {
  const idx = Int32Array.from(saliency.keys());
  return idx.sort((a, b) => saliency[b] - saliency[a] || a - b);
}

/** Trapezoid area under y over x. */
export function trapezoid(x: number[], y: number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((y[i] + y[i - 1]) / 2) * (x[i] - x[i - 1]);
  return a;
}

/** The deletion or insertion curve of a map (H×W of any size; upsampled to the input). */
export function deletionInsertion(
  scorer: Scorer,
  map: { map: Float32Array; height: number; width: number },
  kind: 'deletion' | 'insertion',
  options: CurveOptions = {},
): Curve {
  const { height: H, width: W, pixels } = scorer;
  const steps = options.steps ?? 32;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const substrate = scorer.substrate(options.substrate ?? 'blur');
  const order = pixelOrder(upsample(map.map, map.height, map.width, H, W));
  const n = H * W;
  // deletion starts from the image and writes substrate pixels; insertion the other way round
  const [start, source] = kind === 'deletion' ? [pixels, substrate.pixels] : [substrate.pixels, pixels];
  const [first, last] = kind === 'deletion' ? [scorer.imageScore(), substrate.score] : [substrate.score, scorer.imageScore()];
  const images: Float32Array[] = [];
  const x: number[] = [0];
  const current = Float32Array.from(start);
  for (let s = 1; s <= steps; s++) {
    const upto = Math.round((s / steps) * n),
      from = Math.round(((s - 1) / steps) * n);
    for (let i = from; i < upto; i++) {
      const p = order[i] * 3;
      current[p] = source[p];
      current[p + 1] = source[p + 1];
      current[p + 2] = source[p + 2];
    }
    // the end points are the image and the substrate, scored once per scorer
    if (s < steps) images.push(Float32Array.from(current));
    x.push(upto / n);
  }
  const y = [first, ...scorer.score(images), last];
  return { x, y, auc: trapezoid(x, y) };
}

export interface ConfidenceChange {
  /** score of the image */
  full: number;
  /** score of the image multiplied by the normalised map */
  masked: number;
  /** max(0, full − masked) / full */
  drop: number;
  increase: boolean;
}

/** Chattopadhay et al.'s per-image drop / increase in confidence. */
export function confidenceChange(scorer: Scorer, map: { map: Float32Array; height: number; width: number }): ConfidenceChange {
  const { height: H, width: W, pixels } = scorer;
  const m = upsample(map.map, map.height, map.width, H, W);
  let lo = Infinity,
    hi = -Infinity;
  for (const v of m) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const masked = new Float32Array(pixels.length);
  for (let i = 0; i < H * W; i++) {
    const w = hi > lo ? (m[i] - lo) / (hi - lo) : 0;
    for (let c = 0; c < 3; c++) masked[3 * i + c] = pixels[3 * i + c] * w;
  }
  const full = scorer.imageScore();
  const [o] = scorer.score([masked]);
  return { full, masked: o, drop: full > 0 ? Math.max(0, full - o) / full : 0, increase: o > full };
}

/** Average drop (%) and increase in confidence (%) over images. */
export function averageDropIncrease(changes: ConfidenceChange[]): { averageDrop: number; increaseInConfidence: number } {
  const n = changes.length;
  return {
    averageDrop: (100 * changes.reduce((a, c) => a + c.drop, 0)) / n,
    increaseInConfidence: (100 * changes.filter((c) => c.increase).length) / n,
  };
}

export const deletionMetric: EvalMetric = {
  key: 'deletion',
  description: 'deletion AUC: the class probability as the most salient pixels are removed first (Petsiuk et al. 2018)',
  needs: {},
  values: () => [value('deletion', 'deletion AUC', false)],
  compute: ({ scorer, map, height, width, steps, substrate }) => ({
    deletion: deletionInsertion(scorer, { map, height, width }, 'deletion', { steps, substrate }).auc,
  }),
};

export const insertionMetric: EvalMetric = {
  key: 'insertion',
  description: 'insertion AUC: the class probability as the most salient pixels are restored first',
  needs: {},
  values: () => [value('insertion', 'insertion AUC', true)],
  compute: ({ scorer, map, height, width, steps, substrate }) => ({
    insertion: deletionInsertion(scorer, { map, height, width }, 'insertion', { steps, substrate }).auc,
  }),
};

export const dropMetric: EvalMetric = {
  key: 'drop',
  description: 'average drop and increase in confidence when only the map-weighted image is shown (Chattopadhay et al. 2018)',
  needs: {},
  values: () => [value('drop', 'average drop %', false), value('increase', 'increase in confidence %', true)],
  compute({ scorer, map, height, width }) {
    const c = confidenceChange(scorer, { map, height, width });
    return { drop: 100 * c.drop, increase: c.increase ? 100 : 0 };
  },
};
