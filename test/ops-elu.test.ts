/** Elu (src/ops/elu.ts) against its closed form: α = 1 (the default) and α = 0.5. */
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers/op-context.js';
import { checkUnaryOp } from './helpers/unary-op.js';

await useBackend('cpu');

const elu = (a: number) => (x: number) => (x > 0 ? x : a * Math.expm1(x));
const dElu = (a: number) => (x: number) => (x > 0 ? 1 : a * Math.exp(x));

test('Elu, α by default 1: forward, VJP, gradient at 0, damped diagonal inverse', () => {
  checkUnaryOp({ op: 'Elu', attrs: {}, f: elu(1), df: dElu(1), ref: (x) => tf.elu(x) });
});

test('Elu with α = 0.5', () => {
  checkUnaryOp({
    op: 'Elu',
    attrs: { alpha: 0.5 },
    f: elu(0.5),
    df: dElu(0.5),
    ref: (x) => tf.add(tf.relu(x), tf.mul(tf.sub(tf.exp(tf.minimum(x, 0)), 1), 0.5)),
  });
});
