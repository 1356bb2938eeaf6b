/**
 * Model-structure helpers and targets shared by the cascade and every baseline: where the class scores
 * are, where the convolutional trunk ends, the trunk tensors in order, and the seed of the explained
 * scalar.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, producerMap, type Graph } from '../ir/graph.js';
import { nodesBetween } from '../engine/execute.js';
import { defaultActivationInputs, placeOf, rolesOf } from '../ops/registry.js';

/**
 * What is explained, as a plain callable (shared by the cascade and every baseline): given the score
 * tensor (batch 1) it returns the seed ∂S/∂score of the explained scalar S. For a target linear in the
 * score — a class logit, a similarity model's S = Σ_d w_d q_d with the weights w held fixed — the
 * explained value is S = Σ score ⊙ seed.
 */
export type Target = (score: tf.Tensor) => tf.Tensor;


/** The tensor whose entries are the class scores (logits): the output, or the input of a final Softmax or Sigmoid. */
export function findScoreTensor(graph: Graph): string {
  const out = graph.outputs[0];
  const p = producerMap(graph).get(out);
  return p && rolesOf(p.op).probabilities ? p.inputs[0] : out;
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
    if (rank4(graph, t) && placeOf(p.op) === 'trunk') return t;
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
export function seedFor(score: tf.Tensor, options: { classIndex?: number; target?: Target }): { seed: tf.Tensor; classIndex: number; value: number } {
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

