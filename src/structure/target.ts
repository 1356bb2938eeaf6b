/**
 * What is explained, shared by the cascade and every baseline: a target callable, and the seed of the
 * explained scalar (a class logit by default).
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '../ir/graph.js';

/**
 * What is explained, as a plain callable (shared by the cascade and every baseline): given the score
 * tensor (batch 1) it returns the seed ∂S/∂score of the explained scalar S. For a target linear in the
 * score — a class logit, a similarity model's S = Σ_d w_d q_d with the weights w held fixed — the
 * explained value is S = Σ score ⊙ seed.
 */
export type Target = (score: tf.Tensor) => tf.Tensor;

/** The message for a score that is not a number: what to check. */
export const NON_FINITE_SCORE = (v: number) =>
  `the model's score is ${v}: its weights or its input hold non-finite values (NaN or Infinity), so every map would be too; check the model file and the input`;

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
export function seedFor(
  score: tf.Tensor,
  options: { classIndex?: number; target?: Target },
): { seed: tf.Tensor; classIndex: number; value: number; scores: Float32Array } {
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
      throw new GraphError(
        `the target returned a seed of shape [${seed.shape.join(', ')}] for a score tensor of shape [${score.shape.join(', ')}]: they must be equal`,
      );
    const value = tf.sum(tf.mul(score, seed)).dataSync()[0];
    // a NaN or infinite score gives NaN maps that look like an explanation: refuse it
    if (!Number.isFinite(value)) throw new GraphError(NON_FINITE_SCORE(value));
    return { seed, classIndex, value, scores: Float32Array.from(values) };
  });
}
