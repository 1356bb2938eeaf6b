/**
 * The one interface every attribution method implements — NAFlow's configurations, the CAMs, Score-CAM,
 * the pixel-space methods — and the one result type they return. A method is registered once
 * (src/methods/index.ts); the CLI, eval, the server's form, the viewer's labels and the benchmark
 * iterate the registry.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import type { SolverStats } from '../ops/registry.js';
import type { Target } from './target.js';

/** One layer's map: the per-layer result of every method. */
export interface LayerMap {
  /** tensor name (`input` for a pixel-space method) */
  name: string;
  /** NHWC shape without batch: [H, W, C] */
  shape: [number, number, number];
  /** raw map, H×W row-major, before normalisation */
  map: Float32Array;
  /** NAFlow only: the producing node and its op (the source format's op name in `sourceOp`) */
  node?: string;
  op?: string;
  sourceOp?: string;
  /** NAFlow only: share of neurons with importance G ≠ 0 */
  kept?: number;
  /** NAFlow only: statistics of the inverse step that produced this tensor's BPFM (when a solve happened) */
  solver?: SolverStats[];
}

/** What one method computed for one input: a map per layer, shallow → deep, and what was explained. */
export interface AttributionMaps {
  scoreTensor: string;
  /** the last trunk tensor ('' for a pixel-space method, which maps the input only) */
  trunkEnd: string;
  classIndex: number;
  /** the explained score S (a class logit, or the target's scalar) */
  score: number;
  layers: LayerMap[];
}

/** What a method is asked: the same for every method. */
export interface MethodRunOptions {
  /** explained class (default: the top-scoring one) */
  classIndex?: number;
  /** explain this scalar of the score tensor instead of a class logit (e.g. a similarity model's) */
  target?: Target;
  /** only these trunk tensors (default: every rank-4 trunk tensor); pixel-space methods ignore it */
  layers?: string[];
  /** override the automatically found last trunk tensor */
  trunkEnd?: string;
  /** the tensor holding the class scores (default: the output, or the input of a final Softmax or Sigmoid) */
  scoreTensor?: string;
  /** progress: called after each layer's map with (done, total, tensor name) */
  onLayer?: (done: number, total: number, name: string) => void;
}

/** Where a method's maps live: at the trunk's layers, or at the input pixels. */
export type MethodSpace = 'layer' | 'pixel';

/**
 * An attribution method. `O` is what its options parse to, for methods that take options in their id
 * (`naflow:rho=0.3,unit=block`); a method without `parseOptions` refuses an id with options.
 */
export interface AttributionMethod<O = unknown> {
  /** the id users type (`--methods`, `--compare`, the server's form): lower case, no ':' */
  id: string;
  /** the name shown in reports and the viewer */
  label: string;
  space: MethodSpace;
  /** one line for help texts and docs */
  description: string;
  /** a baseline offered beside NAFlow (`explain --compare`, the server's form): one backward pass, every layer */
  comparable: boolean;
  /**
   * One forward pass per channel per layer (Score-CAM): benchmarks and previews run it on the last layer
   * only; `eval` runs it where asked.
   */
  slow?: boolean;
  /**
   * What else its maps depend on besides the model, input and options (e.g. solver defaults), recorded
   * in a run's identity so that `eval` never resumes a checkpoint across a change of them.
   */
  settings?(): Record<string, unknown>;
  parseOptions?: (text: string, where: string) => O;
  /** the label of an id with options (default: `label (options)`) */
  labelFor?(options: O, text: string): string;
  /** one (preprocessed, NHWC, batch 1) input; frees every tensor it creates */
  run(model: Model, input: tf.Tensor, options: MethodRunOptions, methodOptions: O | undefined): AttributionMaps;
}
