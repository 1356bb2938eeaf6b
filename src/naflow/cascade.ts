/**
 * The NAFlow cascade (docs/spec.md §4): importance tensors G by exact back-propagation, back-propagated
 * feature maps B by each op's inverse rule, abandonment masks, fork merge, and one map per trunk
 * tensor, shallow → deep. Reference mode runs as one native graph where it can (./native-reference.ts),
 * everything else op by op (./per-op.ts); the cascade's open choices are a `CascadeVariant`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import type { InverseSettings } from '../ops/registry.js';
import { nativeReferenceFor, type NativeReferenceResult } from './native-reference.js';
import { runPerOp } from './per-op.js';
import { DEFAULT_VARIANT, SPEC_VARIANT, type CascadeVariant } from './variant.js';
import { checkClassIndex, checkNamedTensor, findScoreTensor, findTrunkEnd, trunkTensorOrder, type Target } from '../structure/index.js';
import type { AttributionMaps, LayerMap } from '../structure/method.js';

export type NaflowMode = 'paper' | 'reference';

export interface CascadeOptions {
  mode?: NaflowMode;
  /** explained class (default: the predicted one) */
  classIndex?: number;
  /** a custom scalar of the score tensor instead of a class logit: returns the seed ∂S/∂score */
  target?: Target;
  /** override the automatically found last trunk tensor */
  trunkEnd?: string;
  /** the tensor holding the class scores (default: the output, or the input of a final Softmax or Sigmoid) */
  scoreTensor?: string;
  /** importance tensor at the trunk end supplied directly (similarity models): overrides class/target */
  seedAtTrunkEnd?: tf.Tensor;
  settings?: Partial<InverseSettings>;
  /**
   * The cascade's open choices (paper mode; ./variant.ts). Unset fields: DEFAULT_VARIANT's, with ρ and
   * the iteration cap from `settings` where it names them.
   */
  variant?: Partial<CascadeVariant>;
  /**
   * Research/test hook: called for every trunk tensor with its forward value A, final BPFM B and
   * importance G (borrowed: read them inside the call, do not keep them).
   */
  inspectTensors?: (name: string, tensors: { a: tf.Tensor; b: tf.Tensor; g: tf.Tensor | undefined }) => void;
  /** called after each layer's map, deep → shallow, with (done, total) */
  onLayer?: (done: number, total: number, name: string) => void;
  /**
   * 'auto' (default): reference mode runs as one native onnxruntime graph where every op has an ONNX
   * form and native kernels are available, else op by op. 'per-op': always op by op.
   */
  engine?: 'auto' | 'per-op';
}

/** A NAFlow layer: the registry's LayerMap with its node, op and kept share always present. */
export interface LayerFlow extends LayerMap {
  node: string;
  op: string;
  /** share of neurons with G ≠ 0 */
  kept: number;
}

export interface AttentionFlow extends AttributionMaps {
  mode: NaflowMode;
  /** shallow → deep */
  layers: LayerFlow[];
  /** how it ran: one native graph (reference mode only) or op by op */
  engine: 'native-graph' | 'per-op';
  /** paper mode: the cascade variant that ran */
  variant?: CascadeVariant;
  /** every value of the score tensor (one batch row; a classifier's logits); absent when seeded at the trunk end */
  scores?: Float32Array;
}

/**
 * Solver defaults. The iteration cap of 30 is this project's choice ([decision], docs/method.md): in the
 * convergence study (docs/convergence.md) every map at cap 30 is within 0.66 % (relative L2) of the
 * converged solve's on Tiny Darknet and both VGG16s, where cap 25 is not (1.70 % on Tiny Darknet), and
 * converged solves take ~50 iterations on VGG16: the cap nearly halves paper mode's time there.
 */
export const DEFAULT_SETTINGS: InverseSettings = { rho: 0.1, atol: 1e-6, btol: 1e-6, maxIter: 30, powerIterations: 8 };

/** Explain one (already preprocessed, NHWC, batch 1) input. Frees every tensor it creates. */
export function runCascade(model: Model, input: tf.Tensor, options: CascadeOptions = {}): AttentionFlow {
  const graph = model.graph;
  const mode = options.mode ?? 'paper';
  const settings: InverseSettings = { ...DEFAULT_SETTINGS, ...options.settings };
  if (options.scoreTensor !== undefined) checkNamedTensor(graph, options.scoreTensor, 'score tensor');
  const scoreTensor = options.scoreTensor ?? findScoreTensor(graph);
  const trunkEnd = options.trunkEnd ?? findTrunkEnd(graph, scoreTensor);
  checkNamedTensor(graph, trunkEnd, 'trunk end');

  // paper mode: the default configuration, then ρ and the cap where `settings` names them, then `variant`
  const named = {
    ...(options.settings?.rho !== undefined ? { rho: options.settings.rho } : {}),
    ...(options.settings?.maxIter !== undefined ? { maxIter: options.settings.maxIter } : {}),
  };
  const variant: CascadeVariant = mode === 'paper' ? { ...DEFAULT_VARIANT, ...named, ...options.variant } : { ...SPEC_VARIANT };

  const nativeAllowed = options.engine !== 'per-op' && !options.inspectTensors && !options.target && !options.seedAtTrunkEnd;
  if (nativeAllowed && (mode === 'reference' || (propagatesOnlyTrunkEnd(variant) && !trunkEndAbandons.has(model)))) {
    const native = nativeReferenceFor(model, scoreTensor, trunkTensorOrder(graph, trunkEnd), input.shape);
    if (typeof native !== 'string') {
      if (options.classIndex !== undefined) checkClassIndex(options.classIndex, native.classes);
      const r = native.run(input, options.classIndex);
      if (mode === 'reference') return nativeFlow(graph, r, scoreTensor, trunkEnd, options);
      // Paper mode that imposes only the trunk end's abandonment, where the trunk end abandons nothing:
      // every B equals A, every map equals reference mode's — exactly, at reference mode's cost.
      if (r.layers.find((l) => l.name === trunkEnd)?.kept === 1) return { ...nativeFlow(graph, r, scoreTensor, trunkEnd, options), mode: 'paper', variant };
      trunkEndAbandons.add(model);
    }
  }

  const run = { mode, variant, settings: { ...settings, rho: variant.rho, maxIter: variant.maxIter }, scoreTensor, trunkEnd };
  const { classIndex, score, scores, layers } = runPerOp(model, input, run, options);
  return { mode, scoreTensor, trunkEnd, classIndex, score, ...(scores ? { scores } : {}), layers, engine: 'per-op', ...(mode === 'paper' ? { variant } : {}) };
}

/**
 * Whether a configuration changes B only through the trunk end's abandonment: below it, abandoned
 * neurons ask nothing of the layers under them (abandon keep/free), so where the trunk end abandons no
 * neuron nothing is ever corrected. The map formula and threshold must be the spec's for the maps to
 * be reference mode's.
 */
function propagatesOnlyTrunkEnd(v: CascadeVariant): boolean {
  return v.abandon !== 'zero' && v.threshold === 0 && v.map === 'relu-bg';
}

/** Models whose trunk end abandoned neurons once (a class-score layer inside the trunk): the shortcut is not tried again. */
const trunkEndAbandons = new WeakSet<Model>();

/** The AttentionFlow of a native reference-mode run (layers shallow → deep, as the per-op path). */
function nativeFlow(graph: Graph, r: NativeReferenceResult, scoreTensor: string, trunkEnd: string, options: CascadeOptions): AttentionFlow {
  const layers: LayerFlow[] = r.layers.map((l) => {
    const [, h, w, c] = graph.values.get(l.name)!.shape;
    return { name: l.name, node: l.node.name, op: l.node.op, sourceOp: l.node.sourceOp, shape: [h, w, c], map: l.map ?? new Float32Array(h * w), kept: l.kept };
  });
  if (options.onLayer) for (let k = layers.length - 1; k >= 0; k--) options.onLayer(layers.length - k, layers.length, layers[k].name);
  return { mode: 'reference', scoreTensor, trunkEnd, classIndex: r.classIndex, score: r.score, scores: r.scores, layers, engine: 'native-graph' };
}
