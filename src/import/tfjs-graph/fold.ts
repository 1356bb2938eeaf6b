/**
 * Constant folding of TF ops whose inputs are all constants, evaluated with tfjs itself: one entry per
 * op. `BATCH_SAFE_FOLDS` are the folds that only select or assemble values, so a -1 standing for the
 * unknown batch stays meaningful through them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attrBool, attrInt, attrInts, attrType, tfDtype } from './attrs.js';
import type { TfNode } from './model-json.js';

type TfFold = (n: TfNode, x: tf.Tensor[]) => tf.Tensor;

const ints = (t: tf.Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>);

const reduce =
  (f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): TfFold =>
  (n, x) =>
    f(x[0], ints(x[1]), attrBool(n, 'keep_dims', false));

const FOLDS: Record<string, TfFold> = {
  Identity: (_, x) => x[0].clone(),
  StopGradient: (_, x) => x[0].clone(),
  Snapshot: (_, x) => x[0].clone(),
  Cast: (n, x) => tf.cast(x[0], tfDtype(attrType(n, 'DstT')) ?? 'float32'),
  Shape: (_, x) => tf.tensor1d(x[0].shape, 'int32'),
  Size: (_, x) => tf.scalar(x[0].size, 'int32'),
  Rank: (_, x) => tf.scalar(x[0].rank, 'int32'),
  Add: (_, x) => tf.add(x[0], x[1]),
  AddV2: (_, x) => tf.add(x[0], x[1]),
  BiasAdd: (_, x) => tf.add(x[0], x[1]),
  AddN: (_, x) => tf.addN(x),
  Sub: (_, x) => tf.sub(x[0], x[1]),
  Mul: (_, x) => tf.mul(x[0], x[1]),
  RealDiv: (_, x) => tf.div(x[0], x[1]),
  Div: (_, x) => tf.div(x[0], x[1]),
  FloorDiv: (_, x) => tf.floorDiv(x[0], x[1]),
  FloorMod: (_, x) => tf.mod(x[0], x[1]),
  Maximum: (_, x) => tf.maximum(x[0], x[1]),
  Minimum: (_, x) => tf.minimum(x[0], x[1]),
  Pow: (_, x) => tf.pow(x[0], x[1]),
  SquaredDifference: (_, x) => tf.squaredDifference(x[0], x[1]),
  Neg: (_, x) => tf.neg(x[0]),
  Sqrt: (_, x) => tf.sqrt(x[0]),
  Rsqrt: (_, x) => tf.rsqrt(x[0]),
  Square: (_, x) => tf.square(x[0]),
  Exp: (_, x) => tf.exp(x[0]),
  Log: (_, x) => tf.log(x[0]),
  Reciprocal: (_, x) => tf.reciprocal(x[0]),
  Abs: (_, x) => tf.abs(x[0]),
  Relu: (_, x) => tf.relu(x[0]),
  Relu6: (_, x) => tf.relu6(x[0]),
  Sigmoid: (_, x) => tf.sigmoid(x[0]),
  Tanh: (_, x) => tf.tanh(x[0]),
  Reshape: (_, x) => tf.reshape(x[0], ints(x[1])),
  Squeeze: (n, x) => {
    const dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
    return tf.squeeze(x[0], dims.length ? dims : undefined);
  },
  ExpandDims: (_, x) => tf.expandDims(x[0], ints(x[1])[0]),
  ConcatV2: (_, x) => tf.concat(x.slice(0, -1), ints(x[x.length - 1])[0]),
  Concat: (_, x) => tf.concat(x.slice(1), ints(x[0])[0]),
  Pack: (n, x) => tf.stack(x, attrInt(n, 'axis', 0)),
  StridedSlice: (n, x) =>
    tf.stridedSlice(
      x[0],
      ints(x[1]),
      ints(x[2]),
      ints(x[3]),
      attrInt(n, 'begin_mask', 0),
      attrInt(n, 'end_mask', 0),
      attrInt(n, 'ellipsis_mask', 0),
      attrInt(n, 'new_axis_mask', 0),
      attrInt(n, 'shrink_axis_mask', 0),
    ),
  Slice: (_, x) => tf.slice(x[0], ints(x[1]), ints(x[2])),
  Transpose: (_, x) => tf.transpose(x[0], ints(x[1])),
  Fill: (_, x) => tf.fill(ints(x[0]), ints(x[1])[0], x[1].dtype as 'float32' | 'int32'),
  Range: (_, x) => tf.range(ints(x[0])[0], ints(x[1])[0], ints(x[2])[0], x[0].dtype as 'float32' | 'int32'),
  Prod: reduce(tf.prod),
  Sum: reduce(tf.sum),
  Max: reduce(tf.max),
  Min: reduce(tf.min),
  Mean: reduce(tf.mean),
  GatherV2: (n, x) => tf.gather(x[0], x[1], ints(x[2])[0], attrInt(n, 'batch_dims', 0)),
  Gather: (_, x) => tf.gather(x[0], x[1]),
  Tile: (_, x) => tf.tile(x[0], ints(x[1])),
  ZerosLike: (_, x) => tf.zerosLike(x[0]),
  OnesLike: (_, x) => tf.onesLike(x[0]),
  MatMul: (n, x) => tf.matMul(x[0], x[1], attrBool(n, 'transpose_a', false), attrBool(n, 'transpose_b', false)),
};

export const BATCH_SAFE_FOLDS = new Set([
  'Identity',
  'StopGradient',
  'Snapshot',
  'Cast',
  'StridedSlice',
  'Slice',
  'GatherV2',
  'Gather',
  'Pack',
  'ConcatV2',
  'Concat',
  'Reshape',
  'Squeeze',
  'ExpandDims',
]);

export function foldable(op: string): boolean {
  return Object.hasOwn(FOLDS, op);
}

/** Evaluate a TF op on constant inputs (throws when tfjs rejects them). */
export function foldTfOp(n: TfNode, x: tf.Tensor[]): tf.Tensor {
  const f = Object.hasOwn(FOLDS, n.op) ? FOLDS[n.op] : undefined;
  if (!f) throw new Error(`cannot fold ${n.op}`);
  return tf.tidy(() => f(n, x));
}
