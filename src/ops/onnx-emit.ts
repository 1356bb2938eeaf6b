/**
 * Helpers shared by the ops' ONNX emitters (OpRule.onnx): constants read from the IR, the checks that
 * turn an uncovered configuration into `Unemittable` (the per-op path then runs), and the NHWC ↔ NCHW
 * permutations of rank-4 values.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { AnyNode } from '../ir/graph.js';
import { Unemittable, type OnnxEmitter } from './registry.js';

/** IR (NHWC) → stored (NCHW) permutation of rank-4 values, and its inverse. */
export const TO_STORED = [0, 3, 1, 2];
export const TO_IR = [0, 2, 3, 1];

/** The stored axis of IR axis `axis` of a value of rank `rank`. */
export function storedAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? TO_IR[a] : a;
}

/** The constant input `i` of `node` (its float data and shape), or Unemittable. */
export function constInput(e: OnnxEmitter, node: AnyNode, i: number): tf.Tensor {
  const t = e.constant(node.inputs[i] ?? '');
  if (!t) throw new Unemittable(`${node.op} '${node.name}': input ${i} is not a constant`);
  if (t.dtype !== 'float32') throw new Unemittable(`${node.op} '${node.name}': input ${i} is ${t.dtype}`);
  return t;
}

/** The ONNX value of activation input `i`, or Unemittable. */
export function activation(node: AnyNode, ins: Array<string | undefined>, i: number): string {
  const v = ins[i];
  if (!v) throw new Unemittable(`${node.op} '${node.name}': input ${i} is not an activation`);
  return v;
}

/** Reject anything but rank `rank`. */
export function needRank(node: AnyNode, shape: number[] | undefined, rank: number): void {
  if (shape?.length !== rank) throw new Unemittable(`${node.op} '${node.name}': rank ${shape?.length} (covered: ${rank})`);
}

/** A per-channel constant vector c as a value broadcasting over a stored tensor of the given rank (NCHW: [C,1,1]). */
export function channelConst(e: OnnxEmitter, data: Float32Array, rank: number): string {
  return e.float(data, rank === 4 ? [data.length, 1, 1] : [data.length]);
}
