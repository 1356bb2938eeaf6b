/**
 * The op JVPs the NAFlow inverse rules rest on (docs/spec.md §5), on the cpu backend: linear ops J v = f(v) − f(0);
 * others vs central finite differences (off their kinks); and the adjoint test ⟨u, Jv⟩ = ⟨Jᵀu, v⟩ against
 * the VJP. Every JVP: the output shape, no leaks.
 */
import '../src/node/register.js';
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, distinct, rand, useBackend } from './helpers/op-context.js';
import { sub } from './helpers/dense.js';
import { conv, convSpecs, data, makeCase, pool, resize } from './helpers/inverse-case.js';

await useBackend('cpu');

/* ------------------------------------------------------------------------------------------------ */
/* 6. JVPs                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

interface JvpSpec {
  name: string;
  op: string;
  attrs: object;
  inputs: () => tf.Tensor[];
  isConst?: boolean[];
  linear: boolean;
  eps?: number;
}

const jvpSpecs: JvpSpec[] = [
  ...convSpecs.map((s) => ({ ...s, linear: true })),
  {
    name: 'conv grouped dilated strided',
    op: 'Conv',
    attrs: conv([2, 1], [2, 1, 1, 2], [2, 2], 2),
    inputs: () => [rand([1, 7, 6, 4], 150), rand([3, 3, 2, 4], 151), rand([4], 152)],
    isConst: [false, true, true],
    linear: true,
  },
  {
    name: 'batchnorm',
    op: 'BatchNormalization',
    attrs: { epsilon: 1e-5 },
    inputs: () => [rand([1, 3, 3, 2], 153), rand([2], 154), rand([2], 155), rand([2], 156), rand([2], 157, 0.5, 1)],
    isConst: [false, true, true, true, true],
    linear: true,
  },
  { name: 'avgpool 2x2 s2', op: 'AveragePool', attrs: pool([2, 2], [2, 2]), inputs: () => [rand([1, 4, 4, 2], 158)], linear: true },
  { name: 'global avgpool', op: 'GlobalAveragePool', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 159)], linear: true },
  { name: 'reduce mean', op: 'ReduceMean', attrs: { axes: [3], keepDims: false }, inputs: () => [rand([1, 3, 3, 2], 160)], linear: true },
  { name: 'resize nearest 3->5', op: 'Resize', attrs: resize([5, 5], 'nearest', true), inputs: () => [rand([1, 3, 3, 2], 161)], linear: true },
  { name: 'flatten', op: 'Flatten', attrs: { axis: 1 }, inputs: () => [rand([1, 3, 3, 2], 162)], linear: true },
  { name: 'reshape', op: 'Reshape', attrs: { shape: [1, 9, 2] }, inputs: () => [rand([1, 3, 3, 2], 163)], linear: true },
  { name: 'transpose', op: 'Transpose', attrs: { perm: [0, 3, 1, 2] }, inputs: () => [rand([1, 3, 3, 2], 164)], linear: true },
  { name: 'slice', op: 'Slice', attrs: { starts: [1, -1], ends: [4, 0], axes: [1, 2], steps: [2, -1] }, inputs: () => [rand([1, 5, 4, 2], 165)], linear: true },
  {
    name: 'pad constant 0.5',
    op: 'Pad',
    attrs: {
      pads: [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ],
      mode: 'constant',
      value: 0.5,
    },
    inputs: () => [rand([1, 3, 3, 2], 166)],
    linear: true,
  },
  {
    name: 'pad reflect',
    op: 'Pad',
    attrs: {
      pads: [
        [0, 0],
        [1, 2],
        [2, 1],
        [0, 0],
      ],
      mode: 'reflect',
      value: 0,
    },
    inputs: () => [rand([1, 4, 4, 2], 167)],
    linear: true,
  },
  {
    name: 'concat',
    op: 'Concat',
    attrs: { axis: 3 },
    inputs: () => [rand([1, 2, 2, 2], 168), rand([1, 2, 2, 1], 169), rand([1, 2, 2, 3], 170)],
    isConst: [false, true, false],
    linear: true,
  },
  { name: 'identity', op: 'Identity', attrs: {}, inputs: () => [rand([1, 2, 2, 2], 171)], linear: true },
  { name: 'dropout', op: 'Dropout', attrs: {}, inputs: () => [rand([1, 2, 2, 2], 172)], linear: true },
  { name: 'add broadcast', op: 'Add', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 173), rand([1, 1, 1, 2], 174)], linear: true },
  { name: 'sub with constant', op: 'Sub', attrs: {}, inputs: () => [rand([2], 175), rand([1, 3, 3, 2], 176)], isConst: [true, false], linear: true },
  {
    name: 'gemm',
    op: 'Gemm',
    attrs: { alpha: 0.5, beta: 1 },
    inputs: () => [rand([2, 4], 177), rand([4, 3], 178), rand([3], 179)],
    isConst: [false, true, true],
    linear: true,
  },
  { name: 'matmul', op: 'MatMul', attrs: {}, inputs: () => [rand([2, 3, 4], 180), rand([4, 5], 181)], isConst: [false, true], linear: true },
  { name: 'relu', op: 'Relu', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 182)], linear: false },
  { name: 'leakyrelu', op: 'LeakyRelu', attrs: { alpha: 0.1 }, inputs: () => [rand([1, 3, 3, 2], 183)], linear: false },
  {
    name: 'prelu',
    op: 'PRelu',
    attrs: {},
    inputs: () => [rand([1, 3, 3, 2], 184), tf.tensor4d([0.2, -0.3], [1, 1, 1, 2])],
    isConst: [false, true],
    linear: false,
  },
  { name: 'clip', op: 'Clip', attrs: { min: -0.5, max: 0.5 }, inputs: () => [rand([1, 3, 3, 2], 185)], linear: false },
  { name: 'sigmoid', op: 'Sigmoid', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 186, -4, 4)], linear: false },
  { name: 'tanh', op: 'Tanh', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 187, -3, 3)], linear: false },
  { name: 'hardsigmoid', op: 'HardSigmoid', attrs: { alpha: 0.2, beta: 0.5 }, inputs: () => [rand([1, 3, 3, 2], 188, -4, 4)], linear: false },
  { name: 'hardswish', op: 'HardSwish', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 189, -5, 5)], linear: false },
  { name: 'softmax', op: 'Softmax', attrs: { axis: 1 }, inputs: () => [rand([2, 5], 190, -2, 2)], linear: false },
  { name: 'mul', op: 'Mul', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 191), rand([1, 1, 1, 2], 192)], linear: false },
  { name: 'div', op: 'Div', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 193), rand([1, 3, 3, 2], 194, 1, 2)], linear: false },
  {
    name: 'maxpool 3x3 s2 p1',
    op: 'MaxPool',
    attrs: pool([3, 3], [2, 2], [1, 1, 1, 1]),
    inputs: () => [tf.tensor4d(distinct([1, 5, 5, 2], 195), [1, 5, 5, 2])],
    linear: false,
    eps: 1e-3,
  },
  { name: 'global maxpool', op: 'GlobalMaxPool', attrs: {}, inputs: () => [tf.tensor4d(distinct([1, 3, 3, 2], 196), [1, 3, 3, 2])], linear: false, eps: 1e-3 },
];

const KINKS: Record<string, number[]> = { Relu: [0], LeakyRelu: [0], PRelu: [0], Clip: [-0.5, 0.5], HardSigmoid: [-2.5, 2.5], HardSwish: [-3, 3] };

for (const s of jvpSpecs) {
  test(`JVP: ${s.name} (${s.linear ? 'J v = f(v) − f(0)' : 'central differences'}; adjoint of the VJP)`, () => {
    const raw = s.inputs();
    const isConst = s.isConst ?? raw.map(() => false);
    // keep finite differences off the kinks
    const inputs = raw.map((t, i) => {
      const k = KINKS[s.op];
      if (!k || isConst[i]) return t;
      const v = t.dataSync().map((x) => {
        for (const kk of k) if (Math.abs(x - kk) < 0.05) x = x < kk ? kk - 0.05 : kk + 0.05;
        return x;
      });
      t.dispose();
      return tf.tensor(v, raw[i].shape);
    });
    const c = makeCase(s.op, s.attrs, inputs, isConst);
    const acts = inputs.map((_, i) => i).filter((i) => !isConst[i]);
    const fwd = (ins: tf.Tensor[]) => {
      const [y] = c.h.rule.forward(ins, c.h.ctx);
      const d = data(y);
      y.dispose();
      return d;
    };
    for (const i of acts) {
      const v = rand(inputs[i].shape, 200 + i);
      const before = tf.memory().numTensors;
      const outs = c.h.rule.jvp!({ inputs, outputs: [c.y], tangents: inputs.map((_, k) => (k === i ? v : null)) }, c.h.ctx);
      assert.equal(outs.length >= 1, true);
      const jv = data(outs[0]);
      assert.deepEqual(outs[0].shape, c.y.shape, `${s.name}: JVP shape`);
      outs.forEach((o) => o.dispose());
      assert.equal(tf.memory().numTensors, before, `${s.name}: JVP leaked`);
      let want: Float64Array;
      if (s.linear) {
        const z = tf.zerosLike(inputs[i]);
        const at = (t: tf.Tensor) => fwd(inputs.map((x, k) => (k === i ? t : x)));
        want = sub(at(v), at(z));
        z.dispose();
      } else {
        const eps = s.eps ?? 1e-3;
        const shifted = (sg: number) => {
          const t = tf.tidy(() => tf.add(inputs[i], tf.mul(v, sg * eps)));
          const out = fwd(inputs.map((x, k) => (k === i ? t : x)));
          t.dispose();
          return out;
        };
        const p = shifted(1),
          m = shifted(-1);
        want = p.map((pv, k) => (pv - m[k]) / (2 * eps));
      }
      assertClose(jv, want, s.linear ? 1e-5 : 2e-3, 1e-5, `${s.name}: J v for input ${i}`);
      // adjoint test: ⟨u, J v⟩ = ⟨Jᵀ u, v⟩
      const u = rand(c.y.shape, 300 + i);
      const g = c.h.rule.vjp!({ inputs, outputs: [c.y], dys: [u] }, c.h.ctx);
      const lhs = data(u).reduce((acc, x, k) => acc + x * jv[k], 0);
      const gv = data(g[i]!),
        vv = data(v);
      const rhs = gv.reduce((acc, x, k) => acc + x * vv[k], 0);
      assert.ok(Math.abs(lhs - rhs) <= 1e-4 * (1 + Math.abs(lhs)), `${s.name}: ⟨u, Jv⟩ ${lhs} vs ⟨Jᵀu, v⟩ ${rhs}`);
      g.forEach((t) => t?.dispose());
      u.dispose();
      v.dispose();
    }
    c.dispose();
  });
}
