/**
 * "Explain, then the baselines at the same layers": every place that shows baselines beside NAFlow
 * (explain --compare, explain-similarity --compare, the server, eval's report) runs them through here,
 * for the class or target NAFlow explained, at the trunk NAFlow mapped.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import type { AttributionMaps, MethodRunOptions } from '../structure/method.js';
import type { ResolvedMethod } from './registry.js';

/** One baseline's maps beside NAFlow's, with its id and label: what flow.json, the .npy writer and the viewer take. */
export interface Comparison extends AttributionMaps {
  method: string;
  label: string;
}

/** What NAFlow explained (its result's fields), so the baselines explain the same thing at the same layers. */
export type ExplainedAt = Pick<MethodRunOptions, 'classIndex' | 'target' | 'trunkEnd' | 'scoreTensor' | 'layers'>;

/** Run each method on the same preprocessed input; `onMethod(done, total, id)` before each. */
export function compareAtLayers(
  model: Model,
  input: tf.Tensor,
  methods: readonly ResolvedMethod[],
  at: ExplainedAt,
  onMethod?: (done: number, total: number, id: string) => void,
): Comparison[] {
  return methods.map((m, k) => {
    onMethod?.(k, methods.length, m.id);
    return { method: m.id, label: m.label, ...m.run(model, input, at) };
  });
}
