/**
 * The NAFlow cascade (spec §4): importance tensors G by exact back-propagation, back-propagated
 * feature maps B by each op's inverse rule, abandonment masks [G ≠ 0], fork merge (G summed by the
 * backward pass, B averaged), and one map F = Σ_c ReLU(B ⊙ G) per trunk tensor, shallow → deep.
 */
import * as tf from '@tensorflow/tfjs-core';
import { valuesOf } from '../util/tensor.js';
import { GraphError, consumerMap, producerMap, type AnyNode, type Graph } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import { backward, forward, nodesBetween, type ForwardRecord } from '../engine/execute.js';
import { defaultActivationInputs, type InverseSettings, type SolverStats } from '../ops/registry.js';
import { nativeReferenceFor, type NativeReferenceResult } from './native-reference.js';

export type NaflowMode = 'paper' | 'reference';

/**
 * What is explained, as a plain callable (shared by the cascade and every baseline): given the score
 * tensor (batch 1) it returns the seed ∂S/∂score of the explained scalar S. For a target linear in the
 * score — a class logit, a similarity model's S = Σ_d w_d q_d with the weights w held fixed — the
 * explained value is S = Σ score ⊙ seed.
 */
export type Target = (score: tf.Tensor) => tf.Tensor;

export interface CascadeOptions {
  mode?: NaflowMode;
  /** explained class (default: the predicted one) */
  classIndex?: number;
  /** a custom scalar of the score tensor instead of a class logit: returns the seed ∂S/∂score */
  target?: Target;
  /** override the automatically found last trunk tensor */
  trunkEnd?: string;
  /** the tensor holding the class scores (default: the output, or the input of a final Softmax) */
  scoreTensor?: string;
  /** importance tensor at the trunk end supplied directly (similarity models): overrides class/target */
  seedAtTrunkEnd?: tf.Tensor;
  settings?: Partial<InverseSettings>;
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

export interface LayerFlow {
  /** tensor name */
  name: string;
  /** producing node and its op (source-format op name in `sourceOp`) */
  node: string;
  op: string;
  sourceOp?: string;
  /** NHWC shape without batch: [H, W, C] */
  shape: [number, number, number];
  /** raw map, H×W row-major, before normalisation */
  map: Float32Array;
  /** share of neurons with G ≠ 0 */
  kept: number;
  /** statistics of the inverse step that produced this tensor's BPFM (when a solve happened) */
  solver?: SolverStats[];
}

export interface AttentionFlow {
  mode: NaflowMode;
  scoreTensor: string;
  trunkEnd: string;
  classIndex: number;
  score: number;
  /** shallow → deep */
  layers: LayerFlow[];
  /** how it ran: one native graph (reference mode only) or op by op */
  engine: 'native-graph' | 'per-op';
}

/**
 * Solver defaults. The iteration cap of 30 is this project's choice ([decision], README): in the
 * convergence study (docs/convergence.md) every map at cap 30 is within 0.66 % (relative L2) of the
 * converged solve's on Tiny Darknet and both VGG16s, where cap 25 is not (1.70 % on Tiny Darknet), and
 * converged solves take ~50 iterations on VGG16: the cap nearly halves paper mode's time there.
 */
export const DEFAULT_SETTINGS: InverseSettings = { rho: 0.1, atol: 1e-6, btol: 1e-6, maxIter: 30, powerIterations: 8 };

const HEAD_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Transpose']);
const LAYOUT_OPS = new Set(['Transpose', 'Identity', 'Dropout']);

/** The tensor whose entries are the class scores (logits): the output, or the input of a final Softmax or Sigmoid. */
export function findScoreTensor(graph: Graph): string {
  const out = graph.outputs[0];
  const p = producerMap(graph).get(out);
  return p && (p.op === 'Softmax' || p.op === 'Sigmoid') ? p.inputs[0] : out;
}

export const rank4 = (graph: Graph, t: string) => graph.values.get(t)?.shape.length === 4;

/** The rank-4 trunk tensors, in the order `runCascade` reports its layers (shallow → deep). */
export function trunkTensorOrder(graph: Graph, trunkEnd: string): string[] {
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const trunkNodes = nodesBetween(graph, inputNames, [trunkEnd]);
  const order: string[] = [];
  // runCascade visits the nodes deep → shallow, each node's outputs in order, then reverses the list.
  for (let k = trunkNodes.length - 1; k >= 0; k--)
    for (const o of trunkNodes[k].outputs) if (o && rank4(graph, o) && !order.includes(o)) order.push(o);
  return order.reverse();
}

/**
 * The last spatial tensor before the head: walking back from the score through head ops (global
 * pooling, flatten/reshape, layout transposes, dense layers) until a rank-4 tensor produced by a trunk op.
 */
export function findTrunkEnd(graph: Graph, scoreTensor: string): string {
  const producer = producerMap(graph);
  const inputs = new Set(graph.inputs.map((i) => i.name));
  let t = scoreTensor;
  for (let guard = 0; guard < graph.nodes.length + 1; guard++) {
    const p = producer.get(t);
    if (!p) break;
    if (rank4(graph, t) && !LAYOUT_OPS.has(p.op) && !HEAD_OPS.has(p.op)) return t;
    const acts = defaultActivationInputs(p, graph).map((i) => p.inputs[i]);
    if (acts.length !== 1) {
      if (rank4(graph, t)) return t;
      break;
    }
    t = acts[0];
    if (inputs.has(t)) break;
  }
  throw new GraphError(
    `${graph.source}: cannot find where the convolutional trunk ends before '${scoreTensor}'; pass trunkEnd (a rank-4 tensor name)`,
  );
}

/** A class index the model scores, or a GraphError saying how many it scores. */
export function checkClassIndex(classIndex: number, classes: number): void {
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes)
    throw new GraphError(`class ${classIndex} is out of range: the model scores ${classes} classes`);
}

/**
 * The explained class (the given one, else the arg-max), the seed ∂S/∂score (a one-hot of the class,
 * all ones for a single score, or a custom target's) and the explained value Σ score ⊙ seed (the class
 * score for a one-hot). Shared by the cascade and the baselines.
 */
export function seedFor(score: tf.Tensor, options: Pick<CascadeOptions, 'classIndex' | 'target'>): { seed: tf.Tensor; classIndex: number; value: number } {
  return tf.tidy(() => {
    const flat = tf.reshape(score, [-1]);
    const values = flat.dataSync();
    let classIndex = options.classIndex ?? 0;
    if (options.classIndex === undefined) for (let i = 1; i < values.length; i++) if (values[i] > values[classIndex]) classIndex = i;
    checkClassIndex(classIndex, values.length);
    // A single score (a binary logit, a regression output) is S itself.
    const seed = options.target
      ? options.target(score)
      : values.length === 1
        ? tf.onesLike(score)
        : tf.cast(tf.reshape(tf.oneHot(tf.tensor1d([classIndex], 'int32'), values.length), score.shape), 'float32');
    if (!tf.util.arraysEqual(seed.shape, score.shape))
      throw new GraphError(`the target returned a seed of shape [${seed.shape.join(', ')}] for a score tensor of shape [${score.shape.join(', ')}]: they must be equal`);
    return { seed, classIndex, value: tf.sum(tf.mul(score, seed)).dataSync()[0] };
  });
}

/** Explain one (already preprocessed, NHWC, batch 1) input. Frees every tensor it creates. */
export function runCascade(model: Model, input: tf.Tensor, options: CascadeOptions = {}): AttentionFlow {
  const graph = model.graph;
  const mode = options.mode ?? 'paper';
  const settings: InverseSettings = { ...DEFAULT_SETTINGS, ...options.settings };
  const scoreTensor = options.scoreTensor ?? findScoreTensor(graph);
  const trunkEnd = options.trunkEnd ?? findTrunkEnd(graph, scoreTensor);
  if (!rank4(graph, trunkEnd)) throw new GraphError(`trunk end '${trunkEnd}' is not a rank-4 (NHWC) tensor`);

  if (mode === 'reference' && options.engine !== 'per-op' && !options.inspectTensors && !options.target && !options.seedAtTrunkEnd) {
    const native = nativeReferenceFor(model, scoreTensor, trunkTensorOrder(graph, trunkEnd), input.shape);
    if (typeof native !== 'string') {
      if (options.classIndex !== undefined) checkClassIndex(options.classIndex, native.classes);
      return nativeFlow(graph, native.run(input, options.classIndex), scoreTensor, trunkEnd, options);
    }
  }

  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const trunkNodes = nodesBetween(graph, inputNames, [trunkEnd]);
  const trunkTensors = new Set<string>();
  for (const n of trunkNodes) for (const o of n.outputs) if (o && rank4(graph, o)) trunkTensors.add(o);

  const record: ForwardRecord = forward(model, input, { record: true, outputs: [scoreTensor, ...graph.outputs] });
  const G = new Map<string, tf.Tensor>();
  const estimates = new Map<string, tf.Tensor[]>();
  const layers: LayerFlow[] = [];
  const solverOf = new Map<string, SolverStats[]>();
  const B = new Map<string, tf.Tensor>();
  try {
    const score = record.get(scoreTensor);
    let classIndex = -1;
    let scoreValue = NaN;
    if (options.seedAtTrunkEnd) {
      G.set(trunkEnd, options.seedAtTrunkEnd.clone());
      const rest = backward(model, record, trunkEnd, [...trunkTensors], options.seedAtTrunkEnd, { keepAll: true });
      for (const [k, v] of rest) (G.has(k) ? v.dispose() : G.set(k, v));
    } else {
      const { seed, classIndex: c, value } = seedFor(score, options);
      classIndex = c;
      scoreValue = value;
      const grads = backward(model, record, scoreTensor, [...trunkTensors], seed, { keepAll: true });
      seed.dispose();
      for (const [k, v] of grads) G.set(k, v);
    }

    const consumers = consumerMap(graph);
    const trunkNodeSet = new Set(trunkNodes);
    const total = trunkTensors.size;
    let done = 0;

    // Reference mode needs B = A ⊙ [G ≠ 0] only for the map, where the mask changes nothing
    // (ReLU(A ⊙ mask ⊙ G) = ReLU(A ⊙ G)): it is built only when a caller inspects the tensors.
    const needB = mode === 'paper' || !!options.inspectTensors;

    const finalB = (t: string): { b: tf.Tensor | undefined; kept: number } => {
      // BPFM of t: the mean of its consumers' estimates (or A itself at the top / without estimates),
      // then abandon the neurons with zero importance. The mask [G ≠ 0] is step(|G|): tfjs-wasm's
      // NotEqual + Cast took a third of reference mode's time.
      const a = record.get(t);
      const g = G.get(t);
      const est = estimates.get(t);
      const keptOf = (mask: tf.Tensor) => tf.mean(mask).dataSync()[0];
      if (!needB) return { b: undefined, kept: g ? tf.tidy(() => keptOf(tf.step(tf.abs(g)))) : 0 };
      let kept = 0;
      const b = tf.tidy(() => {
        const base = mode === 'reference' || t === trunkEnd || !est?.length ? a : est.length === 1 ? est[0] : tf.div(tf.addN(est), est.length);
        if (!g) return base.clone();
        const mask = tf.step(tf.abs(g));
        kept = keptOf(mask);
        return tf.mul(base, mask);
      });
      return { b, kept };
    };

    for (let k = trunkNodes.length - 1; k >= 0; k--) {
      const node = trunkNodes[k];
      // Finalise this node's outputs (all their consumers inside the trunk have run already).
      for (const o of node.outputs) {
        if (!trunkTensors.has(o)) continue;
        const { b, kept } = finalB(o);
        if (b) B.set(o, b);
        for (const e of estimates.get(o) ?? []) e.dispose();
        estimates.delete(o);
        layers.push(makeLayer(node, o, b ?? record.get(o), G.get(o), kept, solverOf.get(o)));
        if (b) options.inspectTensors?.(o, { a: record.get(o), b, g: G.get(o) });
        options.onLayer?.(++done, total, o);
      }
      if (mode === 'reference') continue;
      const acts = defaultActivationInputs(node, graph).filter((i) => trunkTensors.has(node.inputs[i]) && !inputNames.has(node.inputs[i]));
      if (!acts.length) continue;
      const rule = model.ruleFor(node);
      if (!rule.inverse)
        throw new GraphError(
          `${graph.source}: node '${node.name}' (op ${node.sourceOp ?? node.op}) is in the convolutional trunk, and naflow has no inverse rule for it`,
        );
      const ctx = model.context(node);
      const inputs = node.inputs.map((n) => record.values.get(n) ?? graph.constants.get(n)!);
      const outputs = node.outputs.map((n) => record.get(n));
      const bOut = node.outputs.map((o) => B.get(o) ?? null);
      const res = rule.inverse({ inputs, outputs, bOut, settings }, ctx);
      res.b.forEach((bt, i) => {
        if (!bt) return;
        const name = node.inputs[i];
        if (!acts.includes(i)) return void bt.dispose();
        const list = estimates.get(name) ?? [];
        list.push(bt);
        estimates.set(name, list);
        if (res.solver) solverOf.set(name, [...(solverOf.get(name) ?? []), res.solver]);
      });
      // Outputs' BPFMs are no longer needed once every producer downstream consumed them.
      for (const o of node.outputs) {
        const still = (consumers.get(o) ?? []).some((c) => trunkNodeSet.has(c) && trunkNodes.indexOf(c) < k);
        if (!still) {
          B.get(o)?.dispose();
          B.delete(o);
        }
      }
    }
    layers.reverse();
    return { mode, scoreTensor, trunkEnd, classIndex, score: scoreValue, layers, engine: 'per-op' };
  } finally {
    for (const b of B.values()) b.dispose();
    for (const g of G.values()) g.dispose();
    for (const list of estimates.values()) for (const e of list) e.dispose();
    record.dispose();
  }
}

/** The AttentionFlow of a native reference-mode run (layers shallow → deep, as the per-op path). */
function nativeFlow(graph: Graph, r: NativeReferenceResult, scoreTensor: string, trunkEnd: string, options: CascadeOptions): AttentionFlow {
  const layers: LayerFlow[] = r.layers.map((l) => {
    const [, h, w, c] = graph.values.get(l.name)!.shape;
    return { name: l.name, node: l.node.name, op: l.node.op, sourceOp: l.node.sourceOp, shape: [h, w, c], map: l.map ?? new Float32Array(h * w), kept: l.kept };
  });
  if (options.onLayer) for (let k = layers.length - 1; k >= 0; k--) options.onLayer(layers.length - k, layers.length, layers[k].name);
  return { mode: 'reference', scoreTensor, trunkEnd, classIndex: r.classIndex, score: r.score, layers, engine: 'native-graph' };
}

/** A layer's map F = Σ_c ReLU(B ⊙ G) (B may be unmasked: the mask does not change F). */
function makeLayer(node: AnyNode, name: string, b: tf.Tensor, g: tf.Tensor | undefined, kept: number, solver: SolverStats[] | undefined): LayerFlow {
  const [, h, w, c] = b.shape as [number, number, number, number];
  // without an importance tensor nothing is kept and the map is zero
  const map = g ? valuesOf(() => tf.sum(tf.relu(tf.mul(b, g)), -1)) : new Float32Array(h * w);
  return { name, node: node.name, op: node.op, sourceOp: node.sourceOp, shape: [h, w, c], map, kept, solver };
}
