/**
 * The shared fixtures of the inverse-rule and JVP tests (inverse.test.ts, inverse-exact.test.ts, op-jvp.test.ts): op attribute
 * builders, one op instance with its forward output, the inverse call with the ownership/leak checks every
 * inverse must pass, and J assembled densely from the JVP.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { ConvAttrs, PoolAttrs, ResizeAttrs } from '../../src/ir/graph.js';
import type { InverseResult, InverseSettings } from '../../src/ops/registry.js';
import { makeContext, rand, type CtxHandle } from './op-context.js';
import type { Mat } from './dense.js';

export type P4 = [number, number, number, number];
export const conv = (strides: [number, number], pads: P4, dilations: [number, number] = [1, 1], group = 1): ConvAttrs => ({ strides, pads, dilations, group });
export const pool = (kernel: [number, number], strides: [number, number], pads: P4 = [0, 0, 0, 0], countIncludePad = false): PoolAttrs => ({
  kernel,
  strides,
  pads,
  dilations: [1, 1],
  countIncludePad,
});
export const resize = (size: [number, number], mode: 'nearest' | 'bilinear', halfPixelCenters = true, alignCorners = false): ResizeAttrs => ({
  size,
  mode,
  alignCorners,
  halfPixelCenters,
});

export const SETTINGS: InverseSettings = { rho: 0.1, atol: 1e-6, btol: 1e-6, maxIter: 100, powerIterations: 8 };

/** One op instance: context, inputs (constants flagged), its forward output. */
export interface Case {
  h: CtxHandle;
  inputs: tf.Tensor[];
  y: tf.Tensor;
  dispose(): void;
}

export function makeCase(op: string, attrs: object, inputs: tf.Tensor[], isConst: boolean[] = []): Case {
  const h = makeContext(op, attrs, inputs, isConst);
  const [y] = h.rule.forward(inputs, h.ctx);
  return {
    h,
    inputs,
    y,
    dispose: () => {
      y.dispose();
      h.dispose();
      inputs.forEach((t) => t.dispose());
    },
  };
}

/** Run the rule's inverse with the ownership/leak checks every inverse must pass. */
export function invert(c: Case, bOut: tf.Tensor, settings: Partial<InverseSettings> = {}): InverseResult {
  const before = tf.memory().numTensors;
  const res = c.h.rule.inverse!({ inputs: c.inputs, outputs: [c.y], bOut: [bOut], settings: { ...SETTINGS, ...settings } }, c.h.ctx);
  const op = c.h.ctx.node.op;
  assert.equal(res.b.length, c.inputs.length, `${op}: one estimate slot per input`);
  let owned = 0;
  res.b.forEach((b, i) => {
    if (c.h.ctx.graph.constants.has(c.h.ctx.node.inputs[i])) assert.equal(b, null, `${op}: constant input ${i} got an estimate`);
    if (!b) return;
    owned++;
    for (const t of [...c.inputs, c.y, bOut]) assert.notEqual(b, t, `${op}: inverse returned one of its argument tensors`);
    assert.deepEqual(b.shape, c.inputs[i].shape, `${op}: estimate ${i} shape`);
  });
  assert.equal(tf.memory().numTensors, before + owned, `${op}: inverse leaked tensors`);
  return res;
}

export const data = (t: tf.Tensor) => Float64Array.from(t.dataSync());
export const disposeAll = (r: InverseResult) => r.b.forEach((b) => b?.dispose());

/* ------------------------------------------------------------------------------------------------ */
/* dense float64 linear algebra (small sizes only)                                                   */
/* ------------------------------------------------------------------------------------------------ */

/** J of input `idx` assembled from the rule's JVP applied to unit vectors. */
export function denseJ(c: Case, idx = 0): Mat {
  const x = c.inputs[idx];
  const n = x.size,
    m = c.y.size;
  const J = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    const e = new Float32Array(n);
    e[j] = 1;
    const v = tf.tensor(e, x.shape);
    const [col] = c.h.rule.jvp!({ inputs: c.inputs, outputs: [c.y], tangents: c.inputs.map((_, i) => (i === idx ? v : null)) }, c.h.ctx);
    const cv = col.dataSync();
    for (let i = 0; i < m; i++) J[i * n + j] = cv[i];
    col.dispose();
    v.dispose();
  }
  return { m, n, a: J };
}

export interface OpSpec {
  name: string;
  op: string;
  attrs: object;
  inputs: () => tf.Tensor[];
  isConst?: boolean[];
}

export const convSpecs: OpSpec[] = [
  {
    name: 'conv 3x3 s1 p1',
    op: 'Conv',
    attrs: conv([1, 1], [1, 1, 1, 1]),
    inputs: () => [rand([1, 5, 5, 2], 50), rand([3, 3, 2, 3], 51), rand([3], 52)],
    isConst: [false, true, true],
  },
  {
    name: 'conv 3x3 s2 p1',
    op: 'Conv',
    attrs: conv([2, 2], [1, 1, 1, 1]),
    inputs: () => [rand([1, 6, 6, 2], 53), rand([3, 3, 2, 3], 54)],
    isConst: [false, true],
  },
  {
    name: 'depthwise 3x3 s1 p1 x2',
    op: 'Conv',
    attrs: conv([1, 1], [1, 1, 1, 1], [1, 1], 3),
    inputs: () => [rand([1, 5, 5, 3], 55), rand([3, 3, 1, 6], 56)],
    isConst: [false, true],
  },
  { name: 'avgpool 3x3 s2 p1', op: 'AveragePool', attrs: pool([3, 3], [2, 2], [1, 1, 1, 1]), inputs: () => [rand([1, 7, 7, 2], 57)] },
  { name: 'resize bilinear 4->7', op: 'Resize', attrs: resize([7, 7], 'bilinear'), inputs: () => [rand([1, 4, 4, 2], 58)] },
  {
    name: 'convT 3x3 s2',
    op: 'ConvTranspose',
    attrs: { strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, outputPadding: [1, 1] },
    inputs: () => [rand([1, 3, 3, 3], 59), rand([3, 3, 2, 3], 60)],
    isConst: [false, true],
  },
];
