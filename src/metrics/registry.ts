/**
 * The metric registry: every metric `naflow eval` can score a map with — its key, what it needs (boxes,
 * randomised models), the values it reports (label, which way is better) and how one map is scored.
 * eval, its report and the plots iterate it; a new metric is its definition plus one line in
 * src/metrics/index.ts.
 */
import type { Scorer } from './faithfulness.js';
import type { Box } from './pointing.js';
import type { SanityStage } from './sanity.js';
import { UsageError } from '../util/errors.js';

/** One map of one method at one layer, with what scoring it may use. */
export interface MetricInput {
  /** raw map, height×width row-major */
  map: Float32Array;
  height: number;
  width: number;
  /** the model's score of the explained class on a (partly masked) image: deletion, insertion, drop */
  scorer: Scorer;
  steps: number;
  substrate: 'blur' | 'zero';
  /** ground-truth boxes in model-input pixels (absent where the dataset has none) */
  boxes?: Box[];
  /** the model input's size, the frame of `boxes` */
  imageWidth: number;
  imageHeight: number;
  /** the same method's map of this layer on each randomised model, by sanity stage key */
  randomised: Map<string, Float32Array>;
}

/** One reported value of a metric (a metric may report several: drop also gives the increase in confidence). */
export interface MetricValue {
  key: string;
  /** the axis / table label, with which way is better */
  label: string;
  higherIsBetter: boolean;
}

export interface EvalMetric {
  key: string;
  description: string;
  /** boxes: scored only where the dataset has boxes (else null); randomisedModels: eval makes the sanity check's models */
  needs: { boxes?: boolean; randomisedModels?: boolean };
  /** the values it reports, in order (the sanity check: one per stage) */
  values(sanity: readonly SanityStage[] | undefined): MetricValue[];
  /** one map's values, by value key (null where it does not apply) */
  compute(input: MetricInput): Record<string, number | null>;
}

const METRICS = new Map<string, EvalMetric>();

export function registerMetric(metric: EvalMetric): void {
  if (METRICS.has(metric.key)) throw new Error(`metric '${metric.key}' is registered twice`);
  METRICS.set(metric.key, metric);
}

/** The registered metrics in registration order. */
export function listMetrics(): EvalMetric[] {
  return [...METRICS.values()];
}

/** A metric by key, or a UsageError naming `where` and the known keys. */
export function getMetric(key: string, where = 'metric'): EvalMetric {
  const metric = METRICS.get(key);
  if (!metric) throw new UsageError(`${where}: unknown metric '${key}'; choose from ${[...METRICS.keys()].join(', ')}`);
  return metric;
}

/** The values the given metrics report, in order. */
export function metricValues(keys: readonly string[], sanity: readonly SanityStage[] | undefined): MetricValue[] {
  return keys.flatMap((k) => getMetric(k).values(sanity));
}

/** A fixed value with a label that says which way is better. */
export function value(key: string, name: string, higherIsBetter: boolean): MetricValue {
  return { key, label: `${name} (${higherIsBetter ? 'higher' : 'lower'} is better)`, higherIsBetter };
}
