/**
 * One shared pipeline for gradient CAM baselines (Grad-CAM, Grad-CAM++, LayerCAM, HiResCAM), run on
 * every layer at once like NAFlow: one recorded forward, one backward pass giving G = ∂S/∂A for every
 * rank-4 trunk tensor A (the same tensors, in the same shallow → deep order, as `runCascade`), then a
 * per-method function of (A, G) per layer. Maps are raw: no normalisation, no resize.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import { backward, forward } from '../engine/execute.js';
import { checkNamedTensor, findScoreTensor, findTrunkEnd, seedFor, trunkTensorOrder } from '../structure/index.js';
import type { AttributionMaps, AttributionMethod, LayerMap, MethodRunOptions } from '../structure/method.js';
import type { CamMethod } from './core.js';

/**
 * The score tensor, the trunk end and the trunk tensors a baseline maps (all, shallow → deep, or the
 * requested ones in that order); shared by every baseline.
 */
export function camLayers(model: Model, options: MethodRunOptions): { scoreTensor: string; trunkEnd: string; names: string[] } {
  const graph = model.graph;
  if (options.scoreTensor !== undefined) checkNamedTensor(graph, options.scoreTensor, 'score tensor');
  const scoreTensor = options.scoreTensor ?? findScoreTensor(graph);
  const trunkEnd = options.trunkEnd ?? findTrunkEnd(graph, scoreTensor);
  checkNamedTensor(graph, trunkEnd, 'trunk end');
  const all = trunkTensorOrder(graph, trunkEnd);
  if (!options.layers) return { scoreTensor, trunkEnd, names: all };
  const known = new Set(all);
  for (const l of options.layers) if (!known.has(l)) throw new GraphError(`'${l}' is not a rank-4 trunk tensor of ${graph.source}`);
  const wanted = new Set(options.layers);
  return { scoreTensor, trunkEnd, names: all.filter((n) => wanted.has(n)) };
}

/**
 * Run one CAM formula on every trunk layer (or `options.layers`) of one (preprocessed, NHWC, batch 1)
 * input. Frees every tensor it creates. The registered CAMs are run through the method registry
 * (`runMethod(model, input, 'layercam')`); this takes any formula, e.g. one being tried out.
 */
export function camFlow(model: Model, input: tf.Tensor, fn: CamMethod, options: MethodRunOptions = {}): AttributionMaps {
  const graph = model.graph;
  const { scoreTensor, trunkEnd, names } = camLayers(model, options);

  const record = forward(model, input, { record: true, outputs: [scoreTensor, ...graph.outputs] });
  let grads: Map<string, tf.Tensor> | undefined;
  try {
    const score = record.get(scoreTensor);
    const { seed, classIndex, value } = seedFor(score, options);
    try {
      grads = backward(model, record, scoreTensor, names, seed);
    } finally {
      seed.dispose();
    }
    const layers: LayerMap[] = names.map((name, k) => {
      const a = record.get(name) as tf.Tensor4D;
      const [, h, w, c] = a.shape;
      const map = tf.tidy(() => {
        const m = fn(a, grads!.get(name) as tf.Tensor4D);
        if (m.size !== h * w) throw new GraphError(`CAM method returned ${m.size} values for a ${h}×${w} map`);
        return new Float32Array(m.dataSync());
      });
      options.onLayer?.(k + 1, names.length, name);
      return { name, shape: [h, w, c], map };
    });
    return { scoreTensor, trunkEnd, classIndex, score: value, layers };
  } finally {
    if (grads) for (const g of grads.values()) g.dispose();
    record.dispose();
  }
}

/**
 * A CAM method for the registry from its formula: the whole pipeline above is shared, so a new CAM is
 * its formula, its id and label, and one line in src/methods/index.ts.
 */
export function camMethod(spec: { id: string; label: string; description: string; map: CamMethod }): AttributionMethod {
  return {
    id: spec.id,
    label: spec.label,
    space: 'layer',
    description: spec.description,
    comparable: true,
    run: (model, input, options) => camFlow(model, input, spec.map, options),
  };
}
