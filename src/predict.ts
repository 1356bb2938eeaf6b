/**
 * Classify an image: forward pass, probabilities, top-k with labels and ids from the model card.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from './engine/model.js';
import { forward } from './engine/execute.js';
import { prepareImage, type ImageSpec } from './image/preprocess.js';
import { NON_FINITE_SCORE } from './structure/target.js';
import { GraphError } from './ir/graph.js';

export interface Prediction {
  /** class index in the model's output order */
  index: number;
  /** from the card's `labels` file, else null */
  label: string | null;
  /** probability (softmax of the output, unless the card says the output already is one) */
  prob: number;
  /** from the card's `ids` file (e.g. a WordNet id), else null */
  id: string | null;
}

export interface PredictResult {
  top: Prediction[];
  /** every output value of the image (the first batch row), before softmax: to compare with another framework */
  logits: number[];
}

export interface PredictOptions {
  /** how many classes to return (default 5; capped at the number of classes) */
  top?: number;
  /** overrides of the image spec derived from the card / input shape */
  image?: Partial<ImageSpec>;
  /** which graph output holds the class scores (default: the first) */
  output?: string;
}

/** Numerically stable softmax in double precision. */
export function softmax(scores: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  const out = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    out[i] = Math.exp(scores[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Indices of the k largest values, largest first. Ties are broken by `tieBreak` (larger first: the
 * logits, where probabilities saturate to equal values), then by the lower index.
 */
export function topK(values: ArrayLike<number>, k: number, tieBreak?: ArrayLike<number>): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || (tieBreak ? tieBreak[b] - tieBreak[a] : 0) || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, values.length)));
}

/** Turn one row of class scores into the top-k predictions for a model's card. */
export function topPredictions(model: Pick<Model, 'card'>, scores: ArrayLike<number>, k = 5): Prediction[] {
  const bad = Array.prototype.find.call(scores, (v: number) => !Number.isFinite(v)) as number | undefined;
  if (bad !== undefined) throw new GraphError(NON_FINITE_SCORE(bad));
  const probs = model.card.outputIsProbability ? Float64Array.from(scores as ArrayLike<number>) : softmax(scores);
  // probabilities that underflow or saturate to the same value are ordered by their logits
  return topK(probs, k, model.card.outputIsProbability ? undefined : scores).map((index) => ({
    index,
    label: model.card.labelList?.[index] ?? null,
    prob: probs[index],
    id: model.card.idList?.[index] ?? null,
  }));
}

/**
 * Classify one image (file path or encoded bytes) or an already preprocessed tensor ([1,H,W,C] or
 * [H,W,C], NHWC; it stays the caller's). Frees every tensor it creates.
 */
export async function predict(model: Model, imageOrTensor: string | Uint8Array | tf.Tensor, options: PredictOptions = {}): Promise<PredictResult> {
  const k = options.top ?? 5;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`top must be a positive integer, got ${k}`);
  let input: tf.Tensor;
  let owned: tf.Tensor | undefined;
  if (imageOrTensor instanceof tf.Tensor) {
    input = imageOrTensor;
    if (input.rank === 3) input = owned = tf.expandDims(input, 0);
  } else {
    input = owned = (await prepareImage(model, imageOrTensor, options.image)).tensor;
  }
  try {
    const outName = options.output ?? model.outputs[0];
    const record = forward(model, input, { outputs: [outName] });
    let scores: Float32Array | Int32Array | Uint8Array;
    let batch: number;
    try {
      const out = record.get(outName);
      batch = out.shape[0] ?? 1;
      scores = out.dataSync();
    } finally {
      record.dispose();
    }
    // one image: the first batch row, all remaining dimensions flattened
    const perRow = scores.length / Math.max(1, batch);
    const row = scores.subarray(0, perRow);
    return { top: topPredictions(model, row, k), logits: Array.from(row) };
  } finally {
    owned?.dispose();
  }
}
