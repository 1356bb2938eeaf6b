/**
 * NAFlow inverse rules (docs/spec.md §5) on the cpu backend (the op JVPs they rest on: op-jvp.test.ts;
 * the exact inverses, 1.: inverse-exact.test.ts).
 *
 * 2. Least-squares / diagonal / split rules return A_in when B_out = A_out (1e-5 rel; they are exact).
 * 3. LSMR (atol = btol = 1e-10, high iteration cap, 500 power iterations) against the dense damped
 *    solution computed here in float64 from J assembled column by column from the op's JVP:
 *    ρ = 0.1: d = (JᵀJ + λ²I)⁻¹ Jᵀ r with λ = the solver's ρ·σ_max, and σ_max vs the dense one (1e-3 rel);
 *    ρ = 0: tall full-rank J → (JᵀJ)⁻¹Jᵀ r, wide full-row-rank J → the minimum-norm Jᵀ(JJᵀ)⁻¹ r (the
 *    test asserts the rank and a condition number below 1e3 first, so the comparison is meaningful);
 *    rank-deficient J (a 1x1 conv with a rank-2 weight): the ρ = 0 residual ‖J d − r‖ vs the least-squares
 *    one, and d vs the minimum-norm least-squares solution.
 *    Compared: the correction d (1e-4 of max|d|), hence B = A_in + d as well.
 * 4. MaxPool / GlobalMaxPool unpooling: switches, mean where overlapping windows share an arg-max.
 * 5. Mul gates (squeeze-excitation, SiLU as x·σ(x)), constant scales, broadcast operands, Add/Sub splits.
 * Every inverse: one entry per input, null for constants, no input tensor returned, no leaks.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { AnyNode } from '../src/ir/graph.js';
import type { SolverStats } from '../src/ops/registry.js';
import { withoutNative } from '../src/runtime/native.js';
import { assertClose, distinct, makeContext, rand, uniform, useBackend } from './helpers/op-context.js';
import { addDiag, matmul, matvec, norm2, spdSolve, sub, symEigenvalues, transpose, type Mat } from './helpers/dense.js';
import { conv, convSpecs, data, denseJ, disposeAll, invert, makeCase, pool, resize, type Case, type OpSpec } from './helpers/inverse-case.js';

await useBackend('cpu');

/* ------------------------------------------------------------------------------------------------ */
/* 2. B_out = A_out gives A_in                                                                        */
/* ------------------------------------------------------------------------------------------------ */

const lsSpecs: OpSpec[] = [
  ...convSpecs,
  {
    name: 'conv grouped dilated',
    op: 'Conv',
    attrs: conv([1, 1], [2, 2, 2, 2], [2, 2], 2),
    inputs: () => [rand([1, 6, 6, 4], 61), rand([3, 3, 2, 4], 62)],
    isConst: [false, true],
  },
  { name: 'avgpool 2x2 s2 (closed form)', op: 'AveragePool', attrs: pool([2, 2], [2, 2]), inputs: () => [rand([1, 5, 4, 2], 63)] },
  { name: 'global avgpool', op: 'GlobalAveragePool', attrs: {}, inputs: () => [rand([1, 3, 4, 2], 64)] },
  { name: 'reduce mean', op: 'ReduceMean', attrs: { axes: [1, 2], keepDims: false }, inputs: () => [rand([1, 3, 4, 2], 65)] },
  { name: 'resize nearest x2', op: 'Resize', attrs: resize([6, 6], 'nearest', false), inputs: () => [rand([1, 3, 3, 2], 66)] },
  { name: 'sigmoid', op: 'Sigmoid', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 67, -6, 6)] },
  { name: 'tanh', op: 'Tanh', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 68, -4, 4)] },
  { name: 'hardsigmoid', op: 'HardSigmoid', attrs: { alpha: 0.2, beta: 0.5 }, inputs: () => [rand([1, 3, 3, 2], 69, -5, 5)] },
  { name: 'hardswish', op: 'HardSwish', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 70, -5, 5)] },
  { name: 'mul by constant', op: 'Mul', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 71), rand([2], 72)], isConst: [false, true] },
  { name: 'mul gate', op: 'Mul', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 73), rand([1, 1, 1, 2], 74, 0, 1)] },
  { name: 'mul joint', op: 'Mul', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 75), rand([1, 3, 3, 2], 76)] },
  { name: 'div by constant', op: 'Div', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 77), rand([2], 78, 1, 2)], isConst: [false, true] },
  { name: 'add', op: 'Add', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 79), rand([1, 3, 3, 2], 80)] },
  { name: 'add broadcast', op: 'Add', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 81), rand([1, 1, 1, 2], 82)] },
  { name: 'sub with bias', op: 'Sub', attrs: {}, inputs: () => [rand([1, 3, 3, 2], 83), rand([2], 84)], isConst: [false, true] },
];

test('least-squares, diagonal and split rules return A_in when B_out = A_out', () => {
  for (const s of lsSpecs) {
    const c = makeCase(s.op, s.attrs, s.inputs(), s.isConst);
    const res = invert(c, c.y);
    res.b.forEach((b, i) => {
      if (b) assertClose(data(b), data(c.inputs[i]), 1e-5, 0, `${s.name}: input ${i}`);
    });
    assert.ok(
      res.b.some((b) => b),
      `${s.name}: some estimate`,
    );
    disposeAll(res);
    c.dispose();
  }
});

/* ------------------------------------------------------------------------------------------------ */
/* 3. LSMR vs the dense damped solution                                                              */
/* ------------------------------------------------------------------------------------------------ */

const LSMR_TIGHT = { atol: 1e-10, btol: 1e-10, maxIter: 3000, powerIterations: 500 };

for (const s of convSpecs) {
  test(`LSMR matches the dense damped least-squares solution (${s.name})`, (t) => {
    const c = makeCase(s.op, s.attrs, s.inputs(), s.isConst);
    const J = denseJ(c);
    const Jt = transpose(J);
    const bOut = tf.tidy(() => tf.add(tf.mul(c.y, tf.cast(tf.greater(rand(c.y.shape, 90), -0.2), 'float32')), tf.mul(rand(c.y.shape, 91), 0.3)));
    const r = sub(bOut.dataSync(), c.y.dataSync());
    const aIn = data(c.inputs[0]);
    const JtJ = matmul(Jt, J);
    const eig = symEigenvalues(JtJ);
    const sigmaDense = Math.sqrt(Math.max(...eig));

    // ρ = 0.1
    const res = invert(c, bOut, { rho: 0.1, ...LSMR_TIGHT });
    const st = res.solver as SolverStats;
    assert.equal(st.method, 'lsmr');
    assert.ok(Math.abs(st.sigmaMax - sigmaDense) <= 1e-3 * sigmaDense, `${s.name}: σ_max ${st.sigmaMax} vs dense ${sigmaDense}`);
    const lambda = st.damping;
    const dWant = spdSolve(addDiag(JtJ, lambda * lambda), matvec(Jt, r));
    const dGot = sub(res.b[0]!.dataSync(), aIn);
    assertClose(dGot, dWant, 1e-4, 0, `${s.name}: ρ = 0.1 correction`);
    assertClose(
      data(res.b[0]!),
      Float64Array.from(aIn, (v, i) => v + dWant[i]),
      1e-4,
      0,
      `${s.name}: ρ = 0.1 BPFM`,
    );
    t.diagnostic(
      `ρ=0.1: J ${J.m}x${J.n}, σ ${sigmaDense.toPrecision(6)} (power iteration ${st.sigmaMax.toPrecision(6)}), ${st.iterations} iterations, rel. residual ${st.relResidual.toExponential(3)}, stop '${st.stop}'`,
    );
    disposeAll(res);

    // ρ = 0: tall → (JᵀJ)⁻¹Jᵀr, wide → Jᵀ(JJᵀ)⁻¹r; assert full rank and a moderate condition number first
    const tall = J.m >= J.n;
    const G = tall ? JtJ : matmul(J, Jt);
    const ev = tall ? eig : symEigenvalues(G);
    const cond = Math.sqrt(Math.max(...ev) / Math.min(...ev));
    assert.ok(Math.min(...ev) > 0 && cond < 1e3, `${s.name}: J must be full rank and well conditioned for this comparison (cond ${cond})`);
    const d0 = tall ? spdSolve(G, matvec(Jt, r)) : matvec(Jt, spdSolve(G, r));
    const res0 = invert(c, bOut, { rho: 0, ...LSMR_TIGHT });
    const d0Got = sub(res0.b[0]!.dataSync(), aIn);
    assertClose(d0Got, d0, 1e-4, 0, `${s.name}: ρ = 0 ${tall ? 'least-squares' : 'minimum-norm'} correction`);
    const st0 = res0.solver as SolverStats;
    const resid = norm2(sub(matvec(J, d0Got), r)) / norm2(r);
    const residWant = norm2(sub(matvec(J, d0), r)) / norm2(r);
    assert.ok(Math.abs(resid - residWant) <= 1e-4, `${s.name}: ρ = 0 residual ${resid} vs ${residWant}`);
    t.diagnostic(
      `ρ=0: ${tall ? 'tall' : 'wide'} J, cond ${cond.toFixed(1)}, ${st0.iterations} iterations, rel. residual ${st0.relResidual.toExponential(3)} (dense ${residWant.toExponential(3)}), stop '${st0.stop}'`,
    );
    disposeAll(res0);
    bOut.dispose();
    c.dispose();
  });
}

test('LSMR on a rank-deficient J (1x1 conv with a rank-2 weight): damped solution, and the ρ = 0 residual', (t) =>
  withoutNative(() => {
    // On the tfjs kernels: at ρ = 0 and atol = 1e-10 (below float32's precision) on an exactly rank-deficient
    // J, when LSMR stops (conlim) depends on the operator's rounding; onnxruntime's rounds differently and
    // LSMR then drifts on for 250 iterations. The defaults (ρ = 0.1, atol 1e-6) are not affected.
    // w = P Q with P 3x2, Q 2x4: J is tall (36x27) and has rank 18, so neither (JᵀJ)⁻¹ nor (JJᵀ)⁻¹ exists;
    // ρ = 0.1 is compared in full; ρ = 0 through the residual ‖J d − r‖ (that of any least-squares
    // solution) and against the minimum-norm least-squares solution (the limit of a vanishing damping)
    // multiples of 1/8: the products are exact in float32, so the rank is exactly 2 there too
    const P = uniform([3, 2], 400).map((v) => Math.round(v * 8) / 8),
      Q = uniform([2, 4], 401).map((v) => Math.round(v * 8) / 8);
    const w = new Float32Array(12);
    for (let i = 0; i < 3; i++) for (let o = 0; o < 4; o++) w[i * 4 + o] = P[i * 2] * Q[o] + P[i * 2 + 1] * Q[4 + o];
    const c = makeCase('Conv', conv([1, 1], [0, 0, 0, 0]), [rand([1, 3, 3, 3], 402), tf.tensor4d(w, [1, 1, 3, 4])], [false, true]);
    const J = denseJ(c);
    const Jt = transpose(J);
    const JtJ = matmul(Jt, J);
    const eig = symEigenvalues(JtJ);
    const sigma = Math.sqrt(Math.max(...eig));
    assert.equal(eig.filter((e) => e > 1e-9 * sigma * sigma).length, 18, 'rank 18 of 27');
    const bOut = rand(c.y.shape, 403);
    const r = sub(bOut.dataSync(), c.y.dataSync());
    const aIn = c.inputs[0].dataSync();

    const res = invert(c, bOut, { rho: 0.1, ...LSMR_TIGHT });
    const dWant = spdSolve(addDiag(JtJ, res.solver!.damping ** 2), matvec(Jt, r));
    assertClose(sub(res.b[0]!.dataSync(), aIn), dWant, 1e-4, 0, 'ρ = 0.1 correction');
    disposeAll(res);

    // the least-squares residual: that of the minimum-norm solution, the limit of a vanishing damping
    const dMin = spdSolve(addDiag(JtJ, 1e-10 * sigma * sigma), matvec(Jt, r));
    const best = norm2(sub(matvec(J, dMin), r)) / norm2(r);
    const res0 = invert(c, bOut, { rho: 0, ...LSMR_TIGHT });
    const d0 = sub(res0.b[0]!.dataSync(), aIn);
    const got = norm2(sub(matvec(J, d0), r)) / norm2(r);
    assert.ok(Math.abs(got - best) <= 1e-4, `ρ = 0 residual ${got} vs least-squares ${best}`);
    // LSMR started at 0 stays in range(Jᵀ): with an exactly rank-deficient J it also finds the minimum norm
    assertClose(d0, dMin, 1e-4, 0, 'ρ = 0 minimum-norm least-squares correction');
    t.diagnostic(
      `rank-deficient ρ=0: ${res0.solver!.iterations} iterations, residual ${got.toExponential(4)} (least squares ${best.toExponential(4)}), ‖d‖ ${norm2(d0).toPrecision(4)} (minimum norm ${norm2(dMin).toPrecision(4)}, distance ${norm2(sub(d0, dMin)).toPrecision(3)}), stop '${res0.solver!.stop}'`,
    );
    disposeAll(res0);
    bOut.dispose();
    c.dispose();
  }));

test('closed forms (non-overlapping average pool, global average pool, reduce mean) equal the dense damped solution', () => {
  const specs: OpSpec[] = [
    { name: 'avgpool 2x2 s2 with an uncovered row', op: 'AveragePool', attrs: pool([2, 2], [2, 2]), inputs: () => [rand([1, 5, 4, 2], 95)] },
    { name: 'avgpool 1x1 (adaptive pool to the same size)', op: 'AveragePool', attrs: pool([1, 1], [1, 1]), inputs: () => [rand([1, 3, 3, 2], 96)] },
    { name: 'global average pool', op: 'GlobalAveragePool', attrs: {}, inputs: () => [rand([1, 3, 4, 2], 97)] },
    { name: 'reduce mean over H, W', op: 'ReduceMean', attrs: { axes: [1, 2], keepDims: true }, inputs: () => [rand([1, 3, 4, 2], 98)] },
  ];
  for (const s of specs)
    for (const rho of [0.1, 0]) {
      const c = makeCase(s.op, s.attrs, s.inputs());
      const J = denseJ(c);
      const Jt = transpose(J);
      const JJt = matmul(J, Jt); // wide (or square): windows are disjoint, JJᵀ is diagonal and positive
      const lambda = rho * Math.sqrt(Math.max(...symEigenvalues(JJt)));
      const bOut = rand(c.y.shape, 99);
      const r = sub(bOut.dataSync(), c.y.dataSync());
      const dWant = matvec(Jt, spdSolve(addDiag(JJt, lambda * lambda), r));
      const res = invert(c, bOut, { rho });
      assert.equal(res.solver?.method, 'closed-form', s.name);
      assert.ok(Math.abs(res.solver!.damping - lambda) <= 1e-9 + 1e-6 * lambda, `${s.name}: λ ${res.solver!.damping} vs ${lambda}`);
      assertClose(sub(res.b[0]!.dataSync(), c.inputs[0].dataSync()), dWant, 1e-5, 1e-7, `${s.name} ρ = ${rho}`);
      disposeAll(res);
      bOut.dispose();
      c.dispose();
    }
});

/* ------------------------------------------------------------------------------------------------ */
/* 4. max-pool unpooling                                                                              */
/* ------------------------------------------------------------------------------------------------ */

test('MaxPool unpooling: values return to the switches, overlapping windows sharing an arg-max average', () => {
  // 3x3 input with its maximum in the centre: all four 2x2/s1 windows pick it
  const x = tf.tensor4d([0, 1, 2, 3, 9, 4, 5, 6, 7], [1, 3, 3, 1]);
  const c = makeCase('MaxPool', pool([2, 2], [1, 1]), [x]);
  assertClose(data(c.y), [9, 9, 9, 9], 0, 0, 'forward');
  const b = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
  const res = invert(c, b);
  assertClose(data(res.b[0]!), [0, 0, 0, 0, 3, 0, 0, 0, 0], 0, 0, 'mean at the shared arg-max');
  disposeAll(res);
  b.dispose();
  c.dispose();

  // 3x3/s2/p1 on 5x5: a shared arg-max for two windows, distinct ones elsewhere
  const xv = Float32Array.from(distinct([1, 5, 5, 1], 7));
  xv[1 * 5 + 1] = 10; // cell (1, 1) lies in the four windows (0|1, 0|1) and is their maximum
  const c2 = makeCase('MaxPool', pool([3, 3], [2, 2], [1, 1, 1, 1]), [tf.tensor4d(xv, [1, 5, 5, 1])]);
  const b2 = rand(c2.y.shape, 8);
  const res2 = invert(c2, b2);
  // reference: switches by brute force (first maximum in scan order), mean of the values landing on a cell
  const bv = b2.dataSync(),
    sum = new Float64Array(25),
    cnt = new Float64Array(25);
  for (let oh = 0; oh < 3; oh++)
    for (let ow = 0; ow < 3; ow++) {
      let best = -Infinity,
        at = -1;
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          const r = oh * 2 - 1 + i,
            q = ow * 2 - 1 + j;
          if (r < 0 || r >= 5 || q < 0 || q >= 5) continue;
          if (xv[r * 5 + q] > best) (best = xv[r * 5 + q]), (at = r * 5 + q);
        }
      sum[at] += bv[oh * 3 + ow];
      cnt[at]++;
    }
  assert.equal(cnt[6], 4, 'cell (1, 1) is the arg-max of four windows');
  assertClose(
    data(res2.b[0]!),
    Float64Array.from(sum, (s, i) => (cnt[i] ? s / cnt[i] : 0)),
    1e-6,
    0,
    'unpool 3x3/s2',
  );
  disposeAll(res2);
  b2.dispose();
  c2.dispose();

  const c3 = makeCase('GlobalMaxPool', {}, [tf.tensor4d(distinct([1, 3, 3, 2], 9), [1, 3, 3, 2])]);
  const b3 = tf.tensor4d([5, -7], [1, 1, 1, 2]);
  const res3 = invert(c3, b3);
  const got = res3.b[0]!.dataSync(),
    xs = c3.inputs[0].dataSync();
  for (let ch = 0; ch < 2; ch++) {
    let at = ch;
    for (let p = 0; p < 9; p++) if (xs[p * 2 + ch] > xs[at]) at = p * 2 + ch;
    for (let p = 0; p < 9; p++) assert.equal(got[p * 2 + ch], p * 2 + ch === at ? [5, -7][ch] : 0, `GlobalMaxPool channel ${ch}`);
  }
  disposeAll(res3);
  b3.dispose();
  c3.dispose();
});

/* ------------------------------------------------------------------------------------------------ */
/* 5. Mul gates, scales, broadcast splits                                                             */
/* ------------------------------------------------------------------------------------------------ */

test('Mul: the squeeze-excitation gate is held, the feature map gets s·Δ/(s² + λ²)', () => {
  const rho = 0.1;
  for (const order of [
    [0, 1],
    [1, 0],
  ]) {
    const feat = rand([1, 4, 4, 3], 100, -2, 2);
    const gate = tf.sigmoid(rand([1, 1, 1, 3], 101, -3, 3));
    const ins = order[0] === 0 ? [feat, gate] : [gate, feat];
    const c = makeCase('Mul', {}, ins);
    const bOut = rand(c.y.shape, 102);
    const res = invert(c, bOut, { rho });
    const fi = order[0] === 0 ? 0 : 1;
    assert.equal(res.b[1 - fi], null, 'the gate gives no estimate');
    const s = gate.dataSync(),
      xv = feat.dataSync(),
      bo = bOut.dataSync(),
      y = c.y.dataSync();
    const lambda = rho * Math.max(...Array.from(s, Math.abs));
    const want = Float64Array.from(xv, (v, i) => v + (s[i % 3] * (bo[i] - y[i])) / (s[i % 3] ** 2 + lambda ** 2));
    assertClose(data(res.b[fi]!), want, 1e-5, 0, 'SE gate rule');
    assert.equal(res.solver?.method, 'diagonal');
    disposeAll(res);
    bOut.dispose();
    c.dispose();
  }
});

test('Mul: SiLU exported as x·Sigmoid(x) holds the sigmoid operand (found through the producer)', () => {
  const x = rand([1, 3, 3, 2], 110, -3, 3);
  const sg = tf.sigmoid(x);
  const c = makeCase('Mul', {}, [x.clone(), sg]);
  c.h.ctx.graph.nodes.unshift({ name: 'sig', op: 'Sigmoid', inputs: ['x'], outputs: ['in1'], attrs: {} } as AnyNode);
  const bOut = rand(c.y.shape, 111);
  const res = invert(c, bOut);
  assert.equal(res.b[1], null);
  const s = sg.dataSync(),
    bo = bOut.dataSync(),
    y = c.y.dataSync(),
    xv = x.dataSync();
  const lambda = 0.1 * Math.max(...Array.from(s, Math.abs));
  assertClose(
    data(res.b[0]!),
    Float64Array.from(xv, (v, i) => v + (s[i] * (bo[i] - y[i])) / (s[i] ** 2 + lambda ** 2)),
    1e-5,
    0,
    'SiLU gate',
  );
  disposeAll(res);
  bOut.dispose();
  x.dispose();
  c.dispose();
});

/** The rule's estimate for input idx vs the dense damped least-squares solution (λ = ρ·σ_max(J)). */
function vsDenseDamped(c: Case, idx: number, rho: number, seed: number, msg: string): void {
  const J = denseJ(c, idx);
  const Jt = transpose(J);
  const bOut = rand(c.y.shape, seed);
  const r = sub(bOut.dataSync(), c.y.dataSync());
  const JtJ = matmul(Jt, J);
  const lambda = rho * Math.sqrt(Math.max(...symEigenvalues(JtJ)));
  const dWant = spdSolve(addDiag(JtJ, lambda * lambda), matvec(Jt, r));
  const res = invert(c, bOut, { rho });
  assertClose(sub(res.b[idx]!.dataSync(), c.inputs[idx].dataSync()), dWant, 1e-5, 1e-7, msg);
  disposeAll(res);
  bOut.dispose();
}

test('Mul/Div: constant scales and broadcast operands follow the damped least-squares solution', () => {
  const cases: Array<[string, string, () => tf.Tensor[], boolean[], number]> = [
    ['per-channel scale', 'Mul', () => [rand([1, 3, 3, 2], 120), rand([2], 121)], [false, true], 0],
    ['broadcast operand times a constant map', 'Mul', () => [rand([1, 1, 1, 2], 122), rand([1, 3, 3, 2], 123)], [false, true], 0],
    ['gated broadcast operand', 'Mul', () => [rand([1, 3, 1, 2], 124), rand([1, 1, 1, 2], 125, 0.1, 1)], [false, false], 0],
    ['divide by a constant', 'Div', () => [rand([1, 3, 3, 2], 126), rand([2], 127, 0.5, 2)], [false, true], 0],
    ['constant over an activation', 'Div', () => [rand([2], 128, 0.5, 2), rand([1, 3, 3, 2], 129, 0.5, 2)], [true, false], 1],
  ];
  for (const [name, op, ins, isConst, idx] of cases)
    for (const rho of [0.1, 0]) {
      const c = makeCase(op, {}, ins(), isConst);
      vsDenseDamped(c, idx, rho, 130, `${name} ρ = ${rho}`);
      c.dispose();
    }
  // two same-shape activations without a gate: joint damped rule (both move)
  const c = makeCase('Mul', {}, [rand([1, 2, 2, 2], 131), rand([1, 2, 2, 2], 132)]);
  const bOut = rand(c.y.shape, 133);
  const res = invert(c, bOut);
  const a = c.inputs[0].dataSync(),
    b = c.inputs[1].dataSync(),
    y = c.y.dataSync(),
    bo = bOut.dataSync();
  const lambda = 0.1 * Math.sqrt(Math.max(...Array.from(a, (v, i) => v * v + b[i] * b[i])));
  const w = Float64Array.from(a, (v, i) => (bo[i] - y[i]) / (v * v + b[i] * b[i] + lambda * lambda));
  assertClose(
    data(res.b[0]!),
    Float64Array.from(a, (v, i) => v + b[i] * w[i]),
    1e-5,
    0,
    'joint a',
  );
  assertClose(
    data(res.b[1]!),
    Float64Array.from(b, (v, i) => v + a[i] * w[i]),
    1e-5,
    0,
    'joint b',
  );
  disposeAll(res);
  bOut.dispose();
  c.dispose();
});

test('Add/Sub: minimum-norm split, with broadcasting equal to the dense minimum-norm solution', () => {
  // equal shapes: each gets r/n
  const c = makeCase('Add', {}, [rand([1, 2, 2, 3], 140), rand([1, 2, 2, 3], 141)]);
  const bOut = rand(c.y.shape, 142);
  const res = invert(c, bOut);
  const r = sub(bOut.dataSync(), c.y.dataSync());
  res.b.forEach((b, i) =>
    assertClose(
      sub(b!.dataSync(), c.inputs[i].dataSync()),
      r.map((v) => v / 2),
      1e-6,
      0,
      `Add half ${i}`,
    ),
  );
  disposeAll(res);
  bOut.dispose();
  c.dispose();

  const shapes: Array<[string, number[], number[], boolean[]]> = [
    ['Add', [1, 3, 3, 2], [1, 1, 1, 2], [false, false]],
    ['Sub', [1, 3, 3, 2], [1, 1, 1, 2], [false, false]],
    ['Sub', [1, 1, 1, 2], [1, 3, 3, 2], [false, false]],
    ['Add', [1, 3, 1, 2], [1, 1, 3, 2], [false, false]],
    ['Add', [3, 2], [1, 3, 3, 2], [false, false]],
    ['Sub', [1, 1, 3, 1], [1, 3, 3, 2], [false, true]],
    ['Add', [1, 3, 3, 2], [2], [false, true]],
  ];
  for (const [op, sa, sb, isConst] of shapes) {
    const c2 = makeCase(op, {}, [rand(sa, 143), rand(sb, 144)], isConst);
    const acts = [0, 1].filter((i) => !isConst[i]);
    // J = [J_a, J_b] from the JVP; the minimum-norm solution of J d = r (least squares if inconsistent)
    const Js = acts.map((i) => denseJ(c2, i));
    const J: Mat = { m: c2.y.size, n: Js.reduce((p, j) => p + j.n, 0), a: new Float64Array(c2.y.size * Js.reduce((p, j) => p + j.n, 0)) };
    let off = 0;
    for (const Jk of Js) {
      for (let i = 0; i < J.m; i++) for (let j = 0; j < Jk.n; j++) J.a[i * J.n + off + j] = Jk.a[i * Jk.n + j];
      off += Jk.n;
    }
    const Jt = transpose(J);
    const bOut2 = rand(c2.y.shape, 145);
    const r2 = sub(bOut2.dataSync(), c2.y.dataSync());
    // minimum-norm least squares: d = Jᵀ (JJᵀ)⁺ r with the pseudo-inverse from (JJᵀ + εI)⁻¹, ε → 0
    const JJt = matmul(J, Jt);
    const d = matvec(Jt, spdSolve(addDiag(JJt, 1e-10), r2));
    const res2 = invert(c2, bOut2);
    off = 0;
    acts.forEach((i, k) => {
      const got = sub(res2.b[i]!.dataSync(), c2.inputs[i].dataSync());
      assertClose(got, d.subarray(off, off + Js[k].n), 1e-5, 1e-7, `${op} [${sa}] [${sb}] operand ${i}`);
      off += Js[k].n;
    });
    disposeAll(res2);
    bOut2.dispose();
    c2.dispose();
  }
});

test('Gemm, MatMul and Softmax have no inverse (head ops)', () => {
  for (const op of ['Gemm', 'MatMul', 'Softmax']) {
    const c = makeContext(op, {}, []);
    assert.equal(c.rule.inverse, undefined, op);
    c.dispose();
  }
});
