/** Selu (src/ops/selu.ts) against its closed form: the self-normalising constants and a node's own. */
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './helpers/op-context.js';
import { checkUnaryOp } from './helpers/unary-op.js';
import { SELU_ALPHA, SELU_GAMMA } from '../src/ops/selu.js';

await useBackend('cpu');

const selu = (a: number, g: number) => (x: number) => g * (x > 0 ? x : a * Math.expm1(x));
const dSelu = (a: number, g: number) => (x: number) => g * (x > 0 ? 1 : a * Math.exp(x));

test("Selu constants are Klambauer et al.'s (as PyTorch and ONNX)", () => {
  assert.equal(SELU_ALPHA.toFixed(10), '1.6732632424');
  assert.equal(SELU_GAMMA.toFixed(10), '1.0507009874');
});

test('Selu by default: forward, VJP, gradient at 0, damped diagonal inverse', () => {
  checkUnaryOp({ op: 'Selu', attrs: {}, f: selu(SELU_ALPHA, SELU_GAMMA), df: dSelu(SELU_ALPHA, SELU_GAMMA), ref: (x) => tf.selu(x) });
});

test("Selu with the node's own α and γ", () => {
  const [a, g] = [1.2, 0.8];
  checkUnaryOp({
    op: 'Selu',
    attrs: { alpha: a, gamma: g },
    f: selu(a, g),
    df: dSelu(a, g),
    ref: (x) => tf.mul(tf.add(tf.relu(x), tf.mul(tf.sub(tf.exp(tf.minimum(x, 0)), 1), a)), g),
  });
});
