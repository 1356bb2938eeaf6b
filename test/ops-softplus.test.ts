/** Softplus (src/ops/softplus.ts) against its closed form log(1 + eˣ), including large |x|. */
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers/op-context.js';
import { checkUnaryOp } from './helpers/unary-op.js';

await useBackend('cpu');

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

test('Softplus: forward, VJP (σ(x)), damped diagonal inverse', () => {
  checkUnaryOp({ op: 'Softplus', attrs: {}, f: softplus, df: sigmoid, ref: (x) => tf.log(tf.add(1, tf.exp(x))) });
});

test('Softplus far from 0 (y = x above, eˣ below)', () => {
  checkUnaryOp({ op: 'Softplus', attrs: {}, f: softplus, df: sigmoid, ref: (x) => tf.softplus(x), range: [-30, 30] });
});
