/**
 * `explain(model, image, options)`: the NAFlow attention flow of one image — the decision and one
 * map per trunk layer, shallow → deep. Frees every tensor it creates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { prepareImage, type ImageInput, type ImageSpec } from '../image/preprocess.js';
import type { RgbImage } from '../image/rgb.js';
import { runCascade, type AttentionFlow, type CascadeOptions } from './cascade.js';

export interface Decision {
  classIndex: number;
  label: string | null;
  id: string | null;
  /** the explained score S (the class logit, before softmax) */
  score: number;
  /** every value of the score tensor, before softmax (a classifier's logits): to check against another framework */
  logits?: number[];
}

export interface ExplainResult extends AttentionFlow {
  decision: Decision;
  /** the resized 8-bit RGB image the maps belong to (absent when a tensor was given) */
  image?: RgbImage;
  /** wall time of the cascade, ms */
  elapsedMs: number;
  /**
   * true: paper mode abandoned no neuron in any layer (every importance G ≠ 0, as with smooth
   * activations: SiLU, GELU, ELU), so every B is A and, with the spec's map formula, every map is
   * reference mode's. Absent otherwise.
   */
  nothingAbandoned?: true;
}

export interface ExplainOptions extends CascadeOptions {
  /** overrides of the image preprocessing (default: from the model card / input shape) */
  image?: Partial<ImageSpec>;
}

/**
 * Explain an image (path or encoded bytes, decoded by the host; or RGB at the model's input size) or an
 * already preprocessed NHWC tensor ([1,H,W,C]; it stays the caller's).
 */
export async function explain(model: Model, input: ImageInput | tf.Tensor, options: ExplainOptions = {}): Promise<ExplainResult> {
  let tensor: tf.Tensor;
  let owned: tf.Tensor | undefined;
  let image: RgbImage | undefined;
  if (input instanceof tf.Tensor) {
    tensor = input.rank === 3 ? (owned = tf.expandDims(input, 0)) : input;
  } else {
    const prepared = await prepareImage(model, input, options.image);
    tensor = owned = prepared.tensor;
    image = prepared.rgb;
  }
  try {
    const t0 = performance.now();
    const flow = runCascade(model, tensor, options);
    const elapsedMs = performance.now() - t0;
    const decision: Decision = {
      classIndex: flow.classIndex,
      label: model.card.labelList?.[flow.classIndex] ?? null,
      id: model.card.idList?.[flow.classIndex] ?? null,
      score: flow.score,
      ...(flow.scores ? { logits: Array.from(flow.scores) } : {}),
    };
    return { ...flow, decision, image, elapsedMs, ...nothingAbandoned(flow) };
  } finally {
    owned?.dispose();
  }
}

/**
 * Paper mode where no neuron was abandoned: nothing is corrected (each inverse starts from A and its
 * residual is zero), so the maps are reference mode's — users would otherwise compare identical pictures.
 */
function nothingAbandoned(flow: AttentionFlow): Pick<ExplainResult, 'nothingAbandoned'> {
  const same = flow.mode === 'paper' && flow.variant?.map === 'relu-bg' && flow.layers.length > 0 && flow.layers.every((l) => l.kept === 1);
  return same ? { nothingAbandoned: true } : {};
}
