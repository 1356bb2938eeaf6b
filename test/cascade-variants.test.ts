/**
 * The cascade's variants (src/naflow/variant.ts) against an independent dense float64 replica of the
 * cascade on small hand-built graphs: forward values, importance tensors, masks, the damped
 * least-squares solutions d = (JᵀJ + λ²I)⁻¹Jᵀr (masked rows for abandon=free, the block's composite
 * Jacobian for unit=block), the fork merge and the map formulas are all computed here from the weights,
 * with no engine code; only λ is taken from the solver's report (and its σ_max checked against the
 * dense one). Every variant must also differ from the spec's maps, so a variant that is silently
 * ignored fails.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { runCascade, type AttentionFlow } from '../src/naflow/cascade.js';
import { DEFAULT_VARIANT, SPEC_VARIANT, parseVariant, resolveVariant, variantText, type CascadeVariant } from '../src/naflow/variant.js';
import { node, testModel } from './helpers/graph.js';
import { rng } from './helpers/rng.js';
import { addDiag, matmul, matvec, spdSolve, symEigenvalues, transpose, type Mat } from './helpers/dense.js';

const H = 4,
  W = 4,
  CIN = 2,
  C = 3,
  ALPHA = 0.1,
  EPS = 1e-5,
  CLASS = 1;
const SETTINGS = { atol: 1e-12, btol: 1e-12, maxIter: 3000, powerIterations: 300 };
const conv = (pad: number) => ({ strides: [1, 1], pads: [pad, pad, pad, pad], dilations: [1, 1], group: 1 });

type Arr = Float64Array;
interface Weights {
  [k: string]: { shape: number[]; data: Float64Array };
}

function weights(seed: number, shapes: Record<string, number[]>, positive: string[] = []): Weights {
  const r = rng(seed);
  const out: Weights = {};
  for (const [k, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    out[k] = { shape, data: Float64Array.from({ length: n }, () => (positive.includes(k) ? 0.6 + 0.5 * Math.abs(r()) : r())) };
  }
  return out;
}

const constants = (w: Weights) => Object.entries(w).map(([k, v]) => [k, tf.tensor(Float32Array.from(v.data), v.shape)] as [string, tf.Tensor]);

/** The dense matrix of a stride-1 NHWC convolution (weight [kH, kW, I, O], symmetric padding) on h×w. */
function convMatrix(wt: { shape: number[]; data: Arr }, h: number, w: number, pad: number): Mat {
  const [kH, kW, I, O] = wt.shape;
  const oh = h + 2 * pad - kH + 1,
    ow = w + 2 * pad - kW + 1;
  const m = oh * ow * O,
    n = h * w * I;
  const a = new Float64Array(m * n);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let o = 0; o < O; o++)
        for (let ky = 0; ky < kH; ky++)
          for (let kx = 0; kx < kW; kx++) {
            const iy = y + ky - pad,
              ix = x + kx - pad;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let i = 0; i < I; i++) a[((y * ow + x) * O + o) * n + (iy * w + ix) * I + i] += wt.data[((ky * kW + kx) * I + i) * O + o];
          }
  return { m, n, a };
}

const addBias = (v: Arr, b: Arr) => v.map((x, i) => x + b[i % b.length]);
const diagTimes = (d: Arr, A: Mat): Mat => ({ m: A.m, n: A.n, a: A.a.map((v, k) => v * d[Math.floor(k / A.n)]) });
const times = (a: Arr, b: Arr) => a.map((v, i) => v * b[i]);
const plus = (a: Arr, b: Arr) => a.map((v, i) => v + b[i]);
const minus = (a: Arr, b: Arr) => a.map((v, i) => v - b[i]);

function maskOf(g: Arr, eps: number): Arr {
  const max = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return g.map((v) => (eps > 0 ? (Math.abs(v) > eps * max ? 1 : 0) : v !== 0 ? 1 : 0));
}

function mapOf(b: Arr, g: Arr, channels: number, formula: CascadeVariant['map']): Arr {
  const out = new Float64Array(b.length / channels);
  for (let i = 0; i < b.length; i++) {
    const bg = formula === 'b-relu-g' ? b[i] * Math.max(0, g[i]) : b[i] * g[i];
    out[Math.floor(i / channels)] += formula === 'relu-bg' ? Math.max(0, bg) : bg;
  }
  return out;
}

/** d = (JᵀJ + λ²I)⁻¹ Jᵀ r */
function dampedSolve(J: Mat, r: Arr, lambda: number): Arr {
  const Jt = transpose(J);
  return spdSolve(addDiag(matmul(Jt, J), lambda * lambda), matvec(Jt, r));
}

const sigmaMax = (J: Mat) => Math.sqrt(Math.max(...symEigenvalues(matmul(transpose(J), J))));

function assertMapsClose(flow: AttentionFlow, want: Map<string, Arr>, what: string): void {
  for (const [name, w] of want) {
    const got = flow.layers.find((l) => l.name === name)!.map;
    const scale = Math.max(...w.map(Math.abs), 1e-12);
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(got[i] - w[i]) / scale);
    assert.ok(worst < 2e-4, `${what}: map of '${name}' differs from the dense replica by ${worst.toExponential(2)} (relative to its max)`);
  }
}

const lambdaOf = (flow: AttentionFlow, tensor: string) => {
  const s = flow.layers.find((l) => l.name === tensor)?.solver?.[0];
  assert.ok(s, `no solver statistics on '${tensor}'`);
  return s.damping;
};

/* ---- a chain: conv → conv → batch norm → leaky ReLU → max pool → 1×1 conv to the classes → GAP ---- */

const CHAIN = weights(3, { w0: [3, 3, CIN, C], b0: [C], w1: [3, 3, C, C], b1: [C], g: [C], be: [C], mu: [C], v: [C], w2: [1, 1, C, C], b2: [C] }, ['g', 'v']);

function chainModel() {
  return testModel(
    'cascade-variants.test chain',
    [1, H, W, CIN],
    [
      node('c0', 'Conv', ['x', 'w0', 'b0'], conv(1)),
      node('c1', 'Conv', ['c0', 'w1', 'b1'], conv(1)),
      node('bn', 'BatchNormalization', ['c1', 'g', 'be', 'mu', 'v'], { epsilon: EPS }),
      node('l1', 'LeakyRelu', ['bn'], { alpha: ALPHA }),
      node('p1', 'MaxPool', ['l1'], { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false, countIncludePad: false }),
      node('c2', 'Conv', ['p1', 'w2', 'b2'], conv(0)),
      node('gap', 'GlobalAveragePool', ['c2']),
      node('flat', 'Flatten', ['gap'], { axis: 1 }),
    ],
    constants(CHAIN),
  );
}

/** The chain's cascade, densely, for variant v (λ per solve from the engine's report). */
function chainReplica(x: Arr, v: CascadeVariant, flow: AttentionFlow): Map<string, Arr> {
  const w = CHAIN.w0,
    J0 = convMatrix(w, H, W, 1),
    J1 = convMatrix(CHAIN.w1, H, W, 1),
    J2 = convMatrix(CHAIN.w2, H / 2, W / 2, 0);
  const s = CHAIN.g.data.map((g, c) => g / Math.sqrt(CHAIN.v.data[c] + EPS));
  const sc = new Float64Array(H * W * C).map((_, i) => s[i % C]);
  // forward
  const a0 = addBias(matvec(J0, x), CHAIN.b0.data);
  const a1 = addBias(matvec(J1, a0), CHAIN.b1.data);
  const abn = a1.map((v1, i) => (v1 - CHAIN.mu.data[i % C]) * sc[i] + CHAIN.be.data[i % C]);
  const slope = abn.map((v1) => (v1 > 0 ? 1 : ALPHA));
  const al = times(abn, slope);
  const P: Mat = { m: (H / 2) * (W / 2) * C, n: H * W * C, a: new Float64Array((H / 2) * (W / 2) * C * H * W * C) };
  for (let y = 0; y < H / 2; y++)
    for (let xx = 0; xx < W / 2; xx++)
      for (let c = 0; c < C; c++) {
        let best = -1;
        for (const [dy, dx] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ]) {
          const k = ((2 * y + dy) * W + 2 * xx + dx) * C + c;
          if (best < 0 || al[k] > al[best]) best = k;
        }
        P.a[((y * (W / 2) + xx) * C + c) * P.n + best] = 1;
      }
  const ap = matvec(P, al);
  const a2 = addBias(matvec(J2, ap), CHAIN.b2.data);
  // importance: S = the class logit = mean over the 2×2 grid of c2's class channel
  const g2 = new Float64Array(a2.length).map((_, i) => (i % C === CLASS ? 1 / 4 : 0));
  const gp = matvec(transpose(J2), g2);
  const gl = matvec(transpose(P), gp);
  const gbn = times(gl, slope);
  const g1 = times(gbn, sc);
  const g0 = matvec(transpose(J1), g1);
  const M = (g: Arr) => maskOf(g, v.threshold);
  const keepOrZero = (b: Arr, a: Arr, m: Arr) => (v.abandon === 'zero' ? times(b, m) : b.map((bi, i) => (m[i] ? bi : a[i])));
  const maps = new Map<string, Arr>();
  const emit = (name: string, b: Arr, g: Arr, ch: number) => maps.set(name, mapOf(times(b, M(g)), g, ch, v.map));
  // trunk end: its abandonment is always imposed
  const b2 = times(a2, M(g2));
  emit('c2', a2, g2, C);
  const bp = plus(ap, dampedSolve(J2, minus(b2, a2), lambdaOf(flow, 'p1')));
  emit('p1', bp, gp, C);
  const bpProp = keepOrZero(bp, ap, M(gp));
  const bl = matvec(transpose(P), bpProp); // unpool: the switches get the values, zeros elsewhere
  emit('l1', bl, gl, C);
  const blProp = keepOrZero(bl, al, M(gl));
  let b0: Arr;
  if (v.unit === 'block') {
    // one solve through conv → batch norm → leaky ReLU linearised at the forward point
    const fit = v.abandon === 'free' ? M(gl) : new Float64Array(gl.length).fill(1);
    const Jb = diagTimes(times(fit, times(slope, sc)), J1);
    const d = dampedSolve(Jb, times(fit, minus(blProp, al)), lambdaOf(flow, 'c0'));
    const t1 = matvec(J1, d);
    emit('bn', plus(abn, times(sc, t1)), gbn, C);
    emit('c1', plus(a1, t1), g1, C);
    b0 = plus(a0, d);
  } else {
    const bbn = blProp.map((y, _i) => (y >= 0 ? y : y / ALPHA)); // exact leaky inverse
    emit('bn', bbn, gbn, C);
    const bbnProp = keepOrZero(bbn, abn, M(gbn));
    const b1 = plus(
      a1,
      minus(bbnProp, abn).map((d, i) => d / sc[i]),
    ); // exact batch-norm inverse
    emit('c1', b1, g1, C);
    const b1Prop = keepOrZero(b1, a1, M(g1));
    const fit = v.abandon === 'free' ? M(g1) : new Float64Array(g1.length).fill(1);
    b0 = plus(a0, dampedSolve(diagTimes(fit, J1), times(fit, minus(b1Prop, a1)), lambdaOf(flow, 'c0')));
  }
  emit('c0', b0, g0, C);
  return maps;
}

const CHAIN_VARIANTS = [
  '',
  'abandon=keep',
  'abandon=free',
  'unit=block',
  'unit=block,abandon=keep',
  'unit=block,abandon=free',
  'threshold=0.3',
  'map=b-relu-g',
  'map=bg',
  'rho=1',
];

test('cascade variants equal a dense float64 replica of the cascade (chain: conv, conv, batch norm, leaky ReLU, max pool, class conv)', async () => {
  await initBackend({ backend: 'cpu' });
  const model = chainModel();
  const r = rng(11);
  const x = Float64Array.from({ length: H * W * CIN }, () => r());
  const input = tf.tensor4d(Float32Array.from(x), [1, H, W, CIN]);
  const before = tf.memory().numTensors;
  const spec = runCascade(model, input, { classIndex: CLASS, settings: SETTINGS, variant: { ...SPEC_VARIANT, maxIter: SETTINGS.maxIter } });
  try {
    for (const text of CHAIN_VARIANTS) {
      const v = { ...SPEC_VARIANT, maxIter: SETTINGS.maxIter, ...parseVariant(text) };
      const flow = text ? runCascade(model, input, { classIndex: CLASS, settings: SETTINGS, variant: v }) : spec;
      assert.deepEqual(flow.variant, v, `${text}: the flow reports the variant that ran`);
      assertMapsClose(flow, chainReplica(x, v, flow), text || 'spec');
      if (!text) continue;
      const changed = flow.layers.some((l, k) =>
        l.map.some((m, i) => Math.abs(m - spec.layers[k].map[i]) > 1e-3 * Math.max(...spec.layers[k].map.map(Math.abs))),
      );
      assert.ok(changed, `${text}: the maps equal the spec's — the variant was ignored`);
    }
    // the default configuration at its own cap (4 LSMR iterations per solve) against the exact ρ = 1 solve
    const def = runCascade(model, input, { classIndex: CLASS, settings: SETTINGS, variant: DEFAULT_VARIANT });
    assert.ok(
      def.layers.flatMap((l) => l.solver ?? []).some((s) => s.iterations === DEFAULT_VARIANT.maxIter),
      'a solve stopped at the default cap',
    );
    for (const [name, w] of chainReplica(x, { ...DEFAULT_VARIANT }, def)) {
      const got = def.layers.find((l) => l.name === name)!.map;
      let num = 0;
      let den = 0;
      for (let i = 0; i < w.length; i++) [num, den] = [num + (got[i] - w[i]) ** 2, den + w[i] ** 2];
      assert.ok(
        Math.sqrt(num / Math.max(den, 1e-300)) < 1e-3,
        `default: map of '${name}' is ${(100 * Math.sqrt(num / den)).toFixed(3)} % from the exact ρ = 1 solve`,
      );
    }
    // the damping is ρ·σ_max(J) of the op (or of the whole block) being solved
    const J1 = convMatrix(CHAIN.w1, H, W, 1);
    assert.ok(Math.abs(lambdaOf(spec, 'c0') / 0.1 - sigmaMax(J1)) < 1e-3 * sigmaMax(J1), 'σ_max of the conv');
    assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
  } finally {
    input.dispose();
    model.dispose();
  }
});

/* ---- a fork: ReLU output read by two 1×1 convs whose sum feeds the class conv (merge=importance) ---- */

const FORK = weights(5, { w0: [3, 3, CIN, C], b0: [C], wa: [1, 1, C, C], wb: [1, 1, C, C], w2: [1, 1, C, C] });

test('merge=importance weighs each fork estimate by its consumer’s share |Jᵀ G| of the importance (dense replica)', async () => {
  await initBackend({ backend: 'cpu' });
  const model = testModel(
    'cascade-variants.test fork',
    [1, H, W, CIN],
    [
      node('c0', 'Conv', ['x', 'w0', 'b0'], conv(1)),
      node('r0', 'Relu', ['c0']),
      node('ca', 'Conv', ['r0', 'wa'], conv(0)),
      node('cb', 'Conv', ['r0', 'wb'], conv(0)),
      node('add', 'Add', ['ca', 'cb']),
      node('c2', 'Conv', ['add', 'w2'], conv(0)),
      node('gap', 'GlobalAveragePool', ['c2']),
      node('flat', 'Flatten', ['gap'], { axis: 1 }),
    ],
    constants(FORK),
  );
  const r = rng(17);
  const x = Float64Array.from({ length: H * W * CIN }, () => r());
  const input = tf.tensor4d(Float32Array.from(x), [1, H, W, CIN]);
  try {
    const [J0, Ja, Jb, J2] = [convMatrix(FORK.w0, H, W, 1), convMatrix(FORK.wa, H, W, 0), convMatrix(FORK.wb, H, W, 0), convMatrix(FORK.w2, H, W, 0)];
    const a0 = addBias(matvec(J0, x), FORK.b0.data);
    const ar = a0.map((v) => Math.max(0, v));
    const [aa, ab] = [matvec(Ja, ar), matvec(Jb, ar)];
    const aadd = plus(aa, ab);
    const a2 = matvec(J2, aadd);
    const g2 = new Float64Array(a2.length).map((_, i) => (i % C === CLASS ? 1 / (H * W) : 0));
    const gadd = matvec(transpose(J2), g2);
    const [sharea, shareb] = [matvec(transpose(Ja), gadd), matvec(transpose(Jb), gadd)];
    const gr = plus(sharea, shareb);
    for (const merge of ['mean', 'importance'] as const) {
      const flow = runCascade(model, input, { classIndex: CLASS, settings: SETTINGS, variant: { ...SPEC_VARIANT, maxIter: SETTINGS.maxIter, merge } });
      const badd = plus(aadd, dampedSolve(J2, minus(times(a2, maskOf(g2, 0)), a2), lambdaOf(flow, 'add')));
      const half = minus(times(badd, maskOf(gadd, 0)), aadd).map((d) => d / 2); // the Add's minimum-norm split
      // the cascade runs deep → shallow: cb's solve before ca's
      const [lambdaB, lambdaA] = flow.layers.find((l) => l.name === 'r0')!.solver!.map((s) => s.damping);
      const estA = plus(ar, dampedSolve(Ja, minus(times(plus(aa, half), maskOf(gadd, 0)), aa), lambdaA));
      const estB = plus(ar, dampedSolve(Jb, minus(times(plus(ab, half), maskOf(gadd, 0)), ab), lambdaB));
      const br = estA.map((ea, i) => {
        const [wa, wb] = [Math.abs(sharea[i]), Math.abs(shareb[i])];
        return merge === 'importance' && wa + wb > 0 ? (wa * ea + wb * estB[i]) / (wa + wb) : (ea + estB[i]) / 2;
      });
      const want = new Map([['r0', mapOf(times(br, maskOf(gr, 0)), gr, C, 'relu-bg')]]);
      assertMapsClose(flow, want, `merge=${merge}`);
    }
  } finally {
    input.dispose();
    model.dispose();
  }
});

test('parseVariant: every key validated, with the key and the accepted values in the message', () => {
  assert.deepEqual(parseVariant('rho=0.3, unit=block,abandon=free'), { rho: 0.3, unit: 'block', abandon: 'free' });
  assert.deepEqual(parseVariant(''), {});
  assert.equal(variantText({ ...SPEC_VARIANT, ...parseVariant('unit=block,rho=0.3') }), 'rho=0.3,unit=block');
  assert.equal(variantText(SPEC_VARIANT), '');
  assert.throws(() => parseVariant('rho=-1'), /rho must be a finite number ≥ 0, got '-1'/);
  assert.throws(() => parseVariant('rho=Infinity'), /rho must be a finite number/);
  assert.throws(() => parseVariant('threshold=1'), /threshold must be a number in \[0, 1\)/);
  assert.throws(() => parseVariant('maxIter=0'), /maxIter must be an integer/);
  assert.throws(() => parseVariant('abandon=maybe'), /abandon must be one of zero, keep, free, got 'maybe'/);
  assert.throws(() => parseVariant('colour=red'), /unknown key 'colour'/);
  assert.throws(() => parseVariant('rho'), /'rho' is neither a preset \(spec, default\) nor key=value/);
  assert.throws(() => parseVariant('spec,rho'), /'rho' is not key=value/);
  // presets: the spec's configuration by name, and as the base of changes
  assert.deepEqual(resolveVariant('spec'), SPEC_VARIANT);
  assert.deepEqual(resolveVariant('default'), DEFAULT_VARIANT);
  assert.deepEqual(resolveVariant('default,rho=2'), { ...DEFAULT_VARIANT, rho: 2 });
  assert.deepEqual(resolveVariant('unit=block'), { ...SPEC_VARIANT, unit: 'block' }, 'changes without a preset are changes to the spec');
});
