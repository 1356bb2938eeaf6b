/**
 * `explainSimilarity(model, query, target)`: NAFlow for models that decide by similarity between
 * embeddings (docs/spec.md §6). The target decides and names the references; the similarity is decomposed per
 * embedding dimension into channel contribution weights w; the cascade is seeded at the embedding with
 * w held fixed, i.e. S = Σ_d w_d q_d, so the importance tensor of the last trunk tensor is
 * G_K = (∂q/∂A_K)ᵀ w (the Jacobian step through the embedding head); from there §4 runs unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { prepareImage, type ImageSpec } from '../image/preprocess.js';
import type { RgbImage } from '../image/rgb.js';
import { runCascade, type CascadeOptions } from '../naflow/cascade.js';
import type { Target } from '../structure/index.js';
import { compareAtLayers, resolveMethod, type Comparison } from '../methods/index.js';
import type { ExplainResult } from '../naflow/explain.js';
import { embed, embeddingTensorOf, SimilarityError } from './embed.js';
import { decompose, DEFAULT_WEIGHTING, topDimensions, type Decomposition, type Metric, type Weighting } from '../metrics/embedding-metric.js';
import type { SimilarityDecision, SimilarityTarget } from './targets.js';

export interface SimilarityOptions extends Omit<CascadeOptions, 'classIndex' | 'target' | 'scoreTensor' | 'seedAtTrunkEnd'> {
  /** the embedding tensor (default: the card's `embedding`, else the model's only output) */
  embeddingNode?: string;
  image?: Partial<ImageSpec>;
  /** also these methods (registry ids, e.g. 'layercam') at every trunk layer, explaining the same similarity (result.compare) */
  compare?: string[];
  /** how the channel weights w are made (./metric.ts; default DEFAULT_WEIGHTING) */
  weighting?: Weighting;
}

export interface SimilarityInfo {
  kind: SimilarityDecision['kind'];
  metric: Metric;
  /** how the channel weights were made */
  weighting: Weighting;
  embeddingTensor: string;
  /** s = Σ_d p_d between the query and its references (mean over the references) */
  similarity: number;
  /** the references (without their embeddings) */
  references: { label: string | null; file: string | null; similarity: number | null }[];
  candidates: SimilarityDecision['candidates'];
  /** the 10 dimensions with the largest channel contribution weights */
  topDimensions: { dim: number; weight: number; contribution: number }[];
  /** the full weights w (length D) */
  weights: Float32Array;
  /** the query embedding q */
  query: Float32Array;
}

export interface SimilarityResult extends ExplainResult {
  similarity: SimilarityInfo;
  /** the baselines asked for with `compare`, in that order */
  compare: Comparison[];
}

/**
 * The similarity as a target for the cascade and the baselines: S = Σ_d w_d q_d with the channel
 * contribution weights w held fixed, so the seed ∂S/∂q is w itself; for a pooled feature map
 * (q_c = mean over H×W) it is w_c / (H·W) at every position.
 */
export function similaritySeed(weights: Float32Array): Target {
  return (score) =>
    tf.tidy(() => {
      if (score.rank !== 4) return tf.reshape(tf.tensor1d(weights), score.shape);
      const [, h, w] = score.shape;
      return tf.mul(tf.ones(score.shape), tf.reshape(tf.tensor1d(weights.map((v) => v / (h * w))), [1, 1, 1, -1]));
    });
}

/** Explain why `query` (image path, bytes, or NHWC tensor that stays the caller's) got the target's decision. */
export async function explainSimilarity(
  model: Model,
  query: string | Uint8Array | tf.Tensor,
  target: SimilarityTarget,
  options: SimilarityOptions = {},
): Promise<SimilarityResult> {
  const embeddingTensor = embeddingTensorOf(model, options.embeddingNode);
  let tensor: tf.Tensor;
  let owned: tf.Tensor | undefined;
  let image: RgbImage | undefined;
  if (query instanceof tf.Tensor) tensor = query.rank === 3 ? (owned = tf.expandDims(query, 0)) : query;
  else {
    const prepared = await prepareImage(model, query, options.image);
    tensor = owned = prepared.tensor;
    image = prepared.rgb;
  }
  try {
    const q = await embed(model, tensor, { embeddingNode: embeddingTensor });
    const decision = target.decide(q);
    const weighting = options.weighting ?? DEFAULT_WEIGHTING;
    const dec: Decomposition = decompose(
      q,
      decision.references.map((r) => r.embedding),
      target.metric,
      weighting,
    );
    if (dec.weights.every((v) => v === 0)) throw new SimilarityError(zeroWeightsMessage(weighting, target.metric));
    const t0 = performance.now();
    const seed = similaritySeed(dec.weights);
    const flow = runCascade(model, tensor, { ...options, scoreTensor: embeddingTensor, target: seed });
    const elapsedMs = performance.now() - t0;
    const methods = (options.compare ?? []).map((id) => resolveMethod(id, 'compare'));
    const compare = compareAtLayers(model, tensor, methods, { scoreTensor: embeddingTensor, trunkEnd: flow.trunkEnd, target: seed });
    return {
      ...flow,
      classIndex: decision.classIndex,
      decision: { classIndex: decision.classIndex, label: decision.label, id: null, score: flow.score },
      image,
      elapsedMs,
      similarity: {
        kind: decision.kind,
        metric: target.metric,
        weighting,
        embeddingTensor,
        similarity: dec.similarity,
        references: decision.references.map((r) => ({ label: r.label ?? null, file: r.file ?? null, similarity: r.similarity ?? null })),
        candidates: decision.candidates,
        topDimensions: topDimensions(dec, 10),
        weights: dec.weights,
        query: q,
      },
      compare,
    };
  } finally {
    owned?.dispose();
  }
}

/** Why a weighting gave nothing to explain: an all-zero seed would draw empty maps at every layer. */
function zeroWeightsMessage(weighting: Weighting, metric: Metric): string {
  const why =
    weighting === 'rectified'
      ? metric === 'euclidean'
        ? 'under the euclidean metric every contribution p_d = −(q_d − r_d)² is ≤ 0'
        : 'no embedding dimension adds to the similarity'
      : weighting === 'gradient'
        ? 'the similarity is stationary at the query (it equals its reference, or is parallel to it under cosine)'
        : 'every contribution p_d is zero';
  return `the ${weighting} channel weights are all zero (${why}), so there is nothing to explain; choose another weighting (minmax, signed, rectified, gradient)`;
}
