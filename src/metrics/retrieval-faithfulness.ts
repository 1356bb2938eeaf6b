/**
 * Retrieval faithfulness of a similarity explanation (docs/similarity-weights-study.md): a map of the
 * query explains why it is close to one reference r*. Deleting the query's pixels in decreasing map
 * order (the deletion metric's procedure: the map upsampled to the input, `steps` equal chunks written
 * from the blurred substrate) should lower its similarity to r* more than its similarity to the other
 * references r_o. At step k (k = 1 … steps, the last being the whole substrate):
 *   drop_k(r)   = s(q_0, r) − s(q_k, r)
 *   gap_k       = drop_k(r*) − mean_o drop_k(r_o)
 *   specificity = mean_k gap_k      (higher: what the map points at matters for r* specifically)
 * and, to compare models whose similarities live on different scales (cosine vs −‖q − r‖²),
 * relativeSpecificity = specificity / |s(q_0, r*)|.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { forward } from '../engine/execute.js';
import { nativeForwardFor } from '../engine/native-graph.js';
import { normalisePixels, type ImageSpec } from '../image/preprocess.js';
import type { RgbImage } from '../image/rgb.js';
import { similarity, type Metric } from './embedding-metric.js';
import { gaussianBlur, pixelOrder, upsample } from './faithfulness.js';

/** Embeddings of perturbed versions of one image (float RGB 0..255 arrays like `pixels`). */
export interface Embedder {
  height: number;
  width: number;
  /** the image as float RGB 0..255, H·W·3 */
  pixels: Float32Array;
  embed(images: Float32Array[]): Float32Array[];
}

export interface EmbedderOptions {
  /** the embedding tensor (a rank-4 one is average-pooled per channel, as `embed` does) */
  embeddingNode: string;
  /** images per forward pass */
  batch?: number;
}

/** An embedder for one image, normalised with the model's preprocessing; frees what it allocates. */
export function makeEmbedder(model: Model, rgb: RgbImage, spec: ImageSpec, options: EmbedderOptions): Embedder {
  const { height, width } = rgb;
  const C = spec.channels;
  const name = options.embeddingNode;
  const fixed = model.inputs[0]?.shape[0];
  const batch = fixed && fixed > 0 ? fixed : (options.batch ?? 16);
  const shape = model.graph.values.get(name)?.shape ?? [];
  const toInput = (px: Float32Array) => normalisePixels({ data: px as unknown as Uint8Array, width, height }, C, spec.preprocess);
  /** one image's embedding from a row-major block of the output (a feature map is pooled: mean over H×W) */
  const vectorOf = (out: Float32Array, at: number, per: number): Float32Array => {
    if (shape.length !== 4) return out.slice(at, at + per);
    const ch = shape[3];
    const v = new Float32Array(ch);
    const positions = per / ch;
    for (let i = 0; i < positions; i++) for (let c = 0; c < ch; c++) v[c] += out[at + i * ch + c] / positions;
    return v;
  };
  return {
    height,
    width,
    pixels: Float32Array.from(rgb.data),
    embed(images) {
      const vectors: Float32Array[] = [];
      for (let at = 0; at < images.length; at += batch) {
        const chunk = images.slice(at, at + batch);
        const x = concat(chunk.map(toInput));
        const native = nativeForwardFor(model, [name], [chunk.length, height, width, C]);
        const out =
          typeof native !== 'string'
            ? native.run(x)[0]
            : tf.tidy(() => {
                const rec = forward(model, tf.tensor4d(x, [chunk.length, height, width, C]), { outputs: [name] });
                try {
                  return rec.get(name).dataSync() as Float32Array;
                } finally {
                  rec.dispose();
                }
              });
        const per = out.length / chunk.length;
        for (let i = 0; i < chunk.length; i++) vectors.push(vectorOf(out, i * per, per));
      }
      return vectors;
    },
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

export interface SpecificityOptions {
  metric: Metric;
  /** chunks the pixels are deleted in (default 16) */
  steps?: number;
  /** the deletion substrate (default: the blurred image, σ = 5, as the deletion metric) */
  substrate?: Float32Array;
}

export interface Specificity {
  /** fraction of pixels deleted after each step (steps values, the last 1) */
  x: number[];
  /** drop of the similarity to the explained reference after each step */
  explainedDrop: number[];
  /** mean drop of the similarity to the other references after each step */
  othersDrop: number[];
  /** mean over the steps of explainedDrop − othersDrop */
  specificity: number;
  /** specificity / |s(q, r*)| of the untouched query */
  relativeSpecificity: number;
  /** s(q, r*) of the untouched query */
  explainedSimilarity: number;
}

/**
 * Specificity of one map (H×W of any size; upsampled to the input) for the explained reference and the
 * others. The untouched image's embedding and the substrate's are computed once per embedder (cached
 * on it), so every map of a query pays steps − 1 forward passes.
 */
export function retrievalSpecificity(
  embedder: Embedder,
  map: { map: Float32Array; height: number; width: number },
  explained: ArrayLike<number>,
  others: ArrayLike<number>[],
  options: SpecificityOptions,
): Specificity {
  const { height: H, width: W, pixels } = embedder;
  const steps = options.steps ?? 16;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!others.length) throw new RangeError('retrievalSpecificity: at least one other reference is needed');
  const ends = endsOf(embedder, options.substrate);
  const order = pixelOrder(upsample(map.map, map.height, map.width, H, W));
  const n = H * W;
  const images: Float32Array[] = [];
  const x: number[] = [];
  const current = Float32Array.from(pixels);
  for (let s = 1; s <= steps; s++) {
    const from = Math.round(((s - 1) / steps) * n),
      upto = Math.round((s / steps) * n);
    for (let i = from; i < upto; i++) {
      const p = order[i] * 3;
      current[p] = ends.substrate[p];
      current[p + 1] = ends.substrate[p + 1];
      current[p + 2] = ends.substrate[p + 2];
    }
    if (s < steps) images.push(Float32Array.from(current));
    x.push(upto / n);
  }
  const embeddings = [...embedder.embed(images), ends.substrateEmbedding];
  const sim = (e: ArrayLike<number>, r: ArrayLike<number>) => similarity(e, r, options.metric);
  const s0 = sim(ends.imageEmbedding, explained);
  const s0Others = others.map((r) => sim(ends.imageEmbedding, r));
  const explainedDrop = embeddings.map((e) => s0 - sim(e, explained));
  const othersDrop = embeddings.map((e) => others.reduce((a, r, o) => a + s0Others[o] - sim(e, r), 0) / others.length);
  const specificity = explainedDrop.reduce((a, d, k) => a + d - othersDrop[k], 0) / steps;
  return { x, explainedDrop, othersDrop, specificity, relativeSpecificity: s0 !== 0 ? specificity / Math.abs(s0) : NaN, explainedSimilarity: s0 };
}

const cachedEnds = new WeakMap<
  Embedder,
  Map<Float32Array | undefined, { substrate: Float32Array; substrateEmbedding: Float32Array; imageEmbedding: Float32Array }>
>();

/** The untouched image's embedding and the substrate with its embedding, once per embedder and substrate. */
function endsOf(embedder: Embedder, substrate: Float32Array | undefined) {
  let perEmbedder = cachedEnds.get(embedder);
  if (!perEmbedder) cachedEnds.set(embedder, (perEmbedder = new Map()));
  let e = perEmbedder.get(substrate);
  if (!e) {
    const px = substrate ?? gaussianBlur(embedder.pixels, embedder.height, embedder.width);
    if (px.length !== embedder.pixels.length) throw new RangeError(`the substrate has ${px.length} values, the image ${embedder.pixels.length}`);
    const [imageEmbedding, substrateEmbedding] = embedder.embed([embedder.pixels, px]);
    perEmbedder.set(substrate, (e = { substrate: px, substrateEmbedding, imageEmbedding }));
  }
  return e;
}
