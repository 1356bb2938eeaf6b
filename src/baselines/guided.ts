/**
 * Pixel-space references: the input gradient, Guided Backpropagation (Springenberg et al. 2015) and
 * Deconvnet (Zeiler & Fergus 2014). They are the plain backward pass with a different rule at the
 * rectifiers (the ops whose rule declares the role `rectifier`: Relu, LeakyRelu, Clip with a lower bound of 0), installed through `backward`'s
 * `vjpOverride`:
 *   gradient          dx = dy · f'(x)
 *   guided-backprop   dx = ReLU(dy) · f'(x)      (only positive signals, only where the unit was active)
 *   deconvnet         dx = ReLU(dy)              (the forward mask is ignored)
 * with f'(x) = [x > 0] for Relu, 1 or α for LeakyRelu, [min < x < max] for Clip. The result is the
 * [H, W, C] gradient at the input and a map Σ_c |g_c| (H×W) for metrics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { valuesOf } from '../util/tensor.js';
import type { AnyNode } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import { backward, forward } from '../engine/execute.js';
import { findScoreTensor, seedFor, type Target } from '../structure/index.js';
import { rectifierAt, type OpRule, type Rectifier } from '../ops/registry.js';
import type { AttributionMethod } from '../structure/method.js';

export type PixelMethod = 'gradient' | 'guided-backprop' | 'deconvnet';

export interface PixelAttribution {
  method: PixelMethod;
  classIndex: number;
  score: number;
  /** [H, W, C] of the model input, row-major */
  gradient: Float32Array;
  shape: [number, number, number];
  /** Σ_c |gradient| per pixel, H×W */
  map: Float32Array;
}

/** The rectifier's local slope f'(x) at the recorded input: [x > 0]·(1 − α) + α, cut off at its maximum. */
function slope(r: Rectifier, x: tf.Tensor): tf.Tensor {
  const active = tf.cast(tf.greater(x, 0), 'float32');
  const s = r.negativeSlope === 0 ? active : tf.add(tf.mul(active, 1 - r.negativeSlope), r.negativeSlope);
  return r.max === undefined ? s : tf.mul(s, tf.cast(tf.less(x, r.max), 'float32'));
}

function override(method: PixelMethod): (node: AnyNode) => OpRule['vjp'] | undefined {
  if (method === 'gradient') return () => undefined;
  return (node) => {
    const rectifier = rectifierAt(node);
    if (!rectifier) return undefined;
    return ({ inputs, dys }) => {
      const dy = dys[0];
      if (!dy) return inputs.map(() => null);
      const pos = tf.relu(dy);
      const dx = method === 'deconvnet' ? pos : tf.mul(pos, slope(rectifier, inputs[0]));
      return inputs.map((_, i) => (i === 0 ? dx : null));
    };
  };
}

/** The input-space attribution of one (preprocessed, NHWC, batch 1) input. Frees what it allocates. */
export function pixelAttribution(
  model: Model,
  input: tf.Tensor,
  method: PixelMethod,
  options: { classIndex?: number; target?: Target; scoreTensor?: string } = {},
): PixelAttribution {
  const graph = model.graph;
  const scoreTensor = options.scoreTensor ?? findScoreTensor(graph);
  const inputName = graph.inputs[0].name;
  const record = forward(model, input, { record: true, outputs: [scoreTensor] });
  try {
    const score = record.get(scoreTensor);
    const { seed, classIndex, value } = seedFor(score, options);
    let grads: Map<string, tf.Tensor>;
    try {
      grads = backward(model, record, scoreTensor, [inputName], seed, { vjpOverride: override(method) });
    } finally {
      seed.dispose();
    }
    const g = grads.get(inputName)!;
    try {
      const [, h, w, c] = g.shape;
      return {
        method,
        classIndex,
        score: value,
        gradient: new Float32Array(g.dataSync()),
        shape: [h, w, c],
        map: valuesOf(() => tf.sum(tf.abs(g), -1)),
      };
    } finally {
      for (const t of grads.values()) t.dispose();
    }
  } finally {
    record.dispose();
  }
}

/** A pixel-space method for the registry: its map is Σ_c |g_c| at the input, reported as the layer `input`. */
function pixelMethod(id: PixelMethod, label: string, description: string): AttributionMethod {
  return {
    id,
    label,
    space: 'pixel',
    description,
    comparable: false,
    run(model, input, options) {
      const p = pixelAttribution(model, input, id, options);
      return {
        scoreTensor: options.scoreTensor ?? findScoreTensor(model.graph),
        trunkEnd: '',
        classIndex: p.classIndex,
        score: p.score,
        layers: [{ name: 'input', shape: p.shape, map: p.map }],
      };
    },
  };
}

export const inputGradient = pixelMethod('gradient', 'Gradient', 'the gradient of the score at the input pixels (Simonyan et al. 2014)');
export const guidedBackprop = pixelMethod(
  'guided-backprop',
  'Guided Backprop',
  'Springenberg et al. 2015: only positive signals, only where the unit was active',
);
export const deconvnet = pixelMethod('deconvnet', 'Deconvnet', 'Zeiler & Fergus 2014: only positive signals, the forward mask ignored');
