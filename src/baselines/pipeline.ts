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
import { findScoreTensor, findTrunkEnd, rank4, seedFor, trunkTensorOrder, type Target } from '../naflow/cascade.js';

import type { CamMethod } from './core.js';
import { gradCamMap } from './gradcam.js';
import { gradCamPlusPlusMap } from './gradcampp.js';
import { layerCamMap } from './layercam.js';
import { hiResCamMap } from './hirescam.js';

export type CamMethodName = 'gradcam' | 'gradcampp' | 'layercam' | 'hirescam';
export const CAM_METHODS: Readonly<Record<CamMethodName, CamMethod>> = {
  gradcam: gradCamMap,
  gradcampp: gradCamPlusPlusMap,
  layercam: layerCamMap,
  hirescam: hiResCamMap,
};

export interface CamFlowOptions {
  /** explained class (default: the top-scoring one) */
  classIndex?: number;
  /** explain this target instead of a class logit (the same callable NAFlow takes, e.g. `similaritySeed(weights)` for a similarity model) */
  target?: Target;
  /** restrict the output to these tensor names (default: every rank-4 trunk tensor) */
  layers?: string[];
  /** override the automatically found last trunk tensor */
  trunkEnd?: string;
  /** the tensor holding the class scores (default: the output, or the input of a final Softmax) */
  scoreTensor?: string;
}

export interface CamLayer {
  /** tensor name */
  name: string;
  /** NHWC shape without batch: [H, W, C] */
  shape: [number, number, number];
  /** raw map, H×W row-major, before normalisation */
  map: Float32Array;
}

export interface CamFlow {
  scoreTensor: string;
  trunkEnd: string;
  classIndex: number;
  score: number;
  /** shallow → deep */
  layers: CamLayer[];
}

/**
 * The score tensor, the trunk end and the trunk tensors a baseline maps (all, shallow → deep, or the
 * requested ones in that order); shared by every baseline.
 */
export function camLayers(model: Model, options: CamFlowOptions): { scoreTensor: string; trunkEnd: string; names: string[] } {
  const graph = model.graph;
  const scoreTensor = options.scoreTensor ?? findScoreTensor(graph);
  const trunkEnd = options.trunkEnd ?? findTrunkEnd(graph, scoreTensor);
  if (!rank4(graph, trunkEnd)) throw new GraphError(`trunk end '${trunkEnd}' is not a rank-4 (NHWC) tensor`);
  const all = trunkTensorOrder(graph, trunkEnd);
  if (!options.layers) return { scoreTensor, trunkEnd, names: all };
  const known = new Set(all);
  for (const l of options.layers) if (!known.has(l)) throw new GraphError(`'${l}' is not a rank-4 trunk tensor of ${graph.source}`);
  const wanted = new Set(options.layers);
  return { scoreTensor, trunkEnd, names: all.filter((n) => wanted.has(n)) };
}

/** Run one CAM method on every trunk layer of one (preprocessed, NHWC, batch 1) input. Frees every tensor it creates. */
export function camFlow(model: Model, input: tf.Tensor, method: CamMethodName | CamMethod, options: CamFlowOptions = {}): CamFlow {
  const fn = typeof method === 'function' ? method : CAM_METHODS[method];
  if (!fn) throw new GraphError(`unknown CAM method '${String(method)}' (known: ${Object.keys(CAM_METHODS).join(', ')})`);
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
    const layers: CamLayer[] = names.map((name) => {
      const a = record.get(name) as tf.Tensor4D;
      const [, h, w, c] = a.shape;
      const map = tf.tidy(() => {
        const m = fn(a, grads!.get(name) as tf.Tensor4D);
        if (m.size !== h * w) throw new GraphError(`CAM method returned ${m.size} values for a ${h}×${w} map`);
        return new Float32Array(m.dataSync());
      });
      return { name, shape: [h, w, c], map };
    });
    return { scoreTensor, trunkEnd, classIndex, score: value, layers };
  } finally {
    if (grads) for (const g of grads.values()) g.dispose();
    record.dispose();
  }
}
