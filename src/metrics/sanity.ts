/**
 * The model-randomisation sanity check (Adebayo et al. 2018): maps must change when the weights are
 * randomised. `randomizedModel` redraws the weights of the top `layers` weight layers (Conv,
 * ConvTranspose, Gemm, MatMul with a constant weight; counted from the output; default all) from
 * N(0, σ²) with σ the layer's own weight standard deviation, and zeroes their biases; BatchNorm
 * parameters are kept. Compare maps with `spearman` (metrics/rank.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model } from '../engine/model.js';
import type { Graph } from '../ir/graph.js';
import { inferShapes } from '../engine/shapes.js';
import { rolesOf } from '../ops/registry.js';
import { InputError } from '../util/errors.js';
import { spearman } from './rank.js';
import type { EvalMetric } from './registry.js';

export interface RandomizeOptions {
  /** how many weight layers from the top to randomise (default: all) */
  layers?: number;
  seed?: number;
}

/** The nodes whose rule declares a weight input that is a constant here, with that input's name. */
const weightLayers = (g: Graph) =>
  g.nodes.flatMap((n) => {
    const i = rolesOf(n.op).weightInput;
    return i !== undefined && g.constants.has(n.inputs[i]) ? [{ node: n, weight: n.inputs[i] }] : [];
  });

/** How many weight layers `randomizedModel` can randomise. */
export function weightLayerCount(model: Model): number {
  return weightLayers(model.graph).length;
}

/** A copy of the model with randomised weights (the original is untouched; dispose the copy). */
export function randomizedModel(model: Model, options: RandomizeOptions = {}): Model {
  const g = model.graph;
  const weighted = weightLayers(g);
  const chosen = weighted.slice(Math.max(0, weighted.length - (options.layers ?? weighted.length)));
  const replace = new Map<string, tf.Tensor>();
  let seed = options.seed ?? 0;
  for (const { node: n, weight } of chosen) {
    const w = g.constants.get(weight)!;
    replace.set(
      weight,
      tf.tidy(() => {
        const sd = tf.sqrt(tf.moments(w).variance).dataSync()[0];
        return tf.randomNormal(w.shape, 0, sd || 1, 'float32', seed++);
      }),
    );
    const b = n.inputs[2];
    if (b && g.constants.has(b)) replace.set(b, tf.zerosLike(g.constants.get(b)!));
  }
  const constants = new Map<string, tf.Tensor>();
  for (const [name, t] of g.constants) constants.set(name, replace.get(name) ?? tf.clone(t));
  const graph: Graph = { ...g, nodes: g.nodes.map((n) => ({ ...n })), constants, values: new Map(g.values) };
  const copy = new Model(graph, model.card);
  inferShapes(copy);
  return copy;
}

/** One model of the sanity check's cascade: the top `layers` of `of` weight layers randomised. */
export interface SanityStage {
  key: `sanity-${number}`;
  layers: number;
  of: number;
  seed: number;
}

/** The sanity check's cascade (Adebayo et al.): the top k/K of the weight layers randomised, k = 1…K, seed 1. */
export function sanityStages(model: Model, count: number): SanityStage[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`sanity stages must be a positive integer, got ${count}`);
  const of = weightLayerCount(model);
  if (!of) throw new InputError(`the sanity check randomises weight layers (Conv, Gemm, MatMul with constant weights), and ${model.graph.source} has none`);
  const stages = new Map<number, SanityStage>();
  for (let k = 1; k <= count; k++) {
    const layers = Math.max(1, Math.round((k / count) * of));
    stages.set(layers, { key: `sanity-${Math.round((100 * layers) / of)}`, layers, of, seed: 1 });
  }
  return [...stages.values()];
}

export const sanityMetric: EvalMetric = {
  key: 'sanity',
  description: 'model-randomisation sanity check: Spearman ρ between the maps of the trained and of progressively randomised models',
  needs: { randomisedModels: true },
  values: (sanity) =>
    (sanity ?? []).map((s) => ({
      key: s.key,
      label: `sanity: Spearman ρ with the top ${s.layers} of ${s.of} weight layers randomised (lower is better)`,
      higherIsBetter: false,
    })),
  compute({ map, randomised }) {
    const out: Record<string, number | null> = {};
    for (const [key, other] of randomised) {
      const rho = spearman(map, other);
      out[key] = Number.isFinite(rho) ? rho : null; // a constant map has no rank order
    }
    return out;
  },
};
