/**
 * Test harness for op rules: a fake OpContext (node + Graph with a constants Map, rule.prepare run),
 * seeded random data, closeness assertions, a tensor-leak check, and the standard VJP check
 * (vs tfjs autodiff on the current backend and vs central finite differences).
 */
import assert from 'node:assert/strict';
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { AnyNode, Graph } from '../../src/ir/graph.js';
import { getOpRule } from '../../src/ops/index.js';
import type { OpContext, OpRule } from '../../src/ops/registry.js';

/**
 * tfjs' gradient definitions (needed only for the autodiff reference) ship solely as extension-less
 * ESM files under tfjs-core/dist (the @tensorflow/tfjs umbrella, not a dependency, normally bundles
 * them). A module hook lets Node load them; they register into the gradient registry that every copy
 * of tfjs-core shares through globalThis.
 */
const HOOK = `
const esm = (u) => !!u && u.includes('/@tensorflow/tfjs-core/dist/') && !/tf-core\\.[a-z0-9.]*js$/.test(u);
export async function resolve(s, c, next) {
  if (esm(c.parentURL) && /^\\.\\.?\\//.test(s) && !s.endsWith('.js')) {
    try { return await next(s + '.js', c); } catch { return next(s + '/index.js', c); }
  }
  return next(s, c);
}
export async function load(u, c, next) { return next(u, esm(u) ? { ...c, format: 'module' } : c); }`;
let gradientsLoaded = false;
async function loadTfjsGradients(): Promise<void> {
  if (gradientsLoaded) return;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
  gradientsLoaded = true;
}

export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await loadTfjsGradients();
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  tf.enableProdMode();
  assert.ok(await tf.setBackend(name), `backend ${name} failed to initialise`);
  await tf.ready();
}

/** mulberry32: small, seeded, reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sizeOf = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** Uniform values in [lo, hi). */
export function uniform(shape: number[], seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: sizeOf(shape) }, () => lo + (hi - lo) * r());
}

/** Distinct values spaced `gap` apart in random order (no ties, no near-ties for max/argmax). */
export function distinct(shape: number[], seed: number, gap = 0.05): Float32Array {
  const n = sizeOf(shape);
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float32Array.from(v);
}

/** Move values at least `margin` away from each kink (so finite differences do not straddle one). */
export function awayFrom(v: Float32Array, kinks: number[], margin: number): Float32Array {
  return v.map((x) => {
    for (const k of kinks) if (Math.abs(x - k) < margin) x = x < k ? k - margin : k + margin;
    return x;
  });
}

export interface CtxHandle {
  ctx: OpContext;
  rule: OpRule;
  dispose(): void;
}

/**
 * A context for one node `op` whose inputs are `in0, in1, ...`; inputs flagged constant are put in
 * graph.constants (the graph holds the given tensors; the caller keeps ownership of them).
 */
export function makeContext(op: string, attrs: object, inputs: Array<tf.Tensor | null>, isConst: boolean[] = [], nOutputs = 1): CtxHandle {
  const rule = getOpRule(op);
  assert.ok(rule, `no rule for ${op}`);
  const names = inputs.map((t, i) => (t === null ? '' : `in${i}`));
  const constants = new Map<string, tf.Tensor>();
  inputs.forEach((t, i) => {
    if (t && isConst[i]) constants.set(names[i], t);
  });
  const node = { name: `test_${op}`, op, inputs: names, outputs: Array.from({ length: nOutputs }, (_, i) => `out${i}`), attrs } as AnyNode;
  const graph: Graph = { format: 'test', source: 'test', inputs: [], outputs: node.outputs, nodes: [node], constants, values: new Map() };
  const prepared = rule.prepare ? tf.tidy(() => rule.prepare!({ node, graph })) : undefined;
  return {
    ctx: { node, graph, prepared },
    rule,
    dispose: () => {
      if (prepared) for (const t of Object.values(prepared)) t.dispose();
    },
  };
}

/** Forward of one op on plain tensors; returns the outputs' data and shapes (nothing left allocated). */
export function runForward(op: string, attrs: object, inputs: Array<tf.Tensor | null>, isConst: boolean[] = []) {
  const h = makeContext(op, attrs, inputs, isConst);
  const present = inputs.filter((t): t is tf.Tensor => t !== null);
  const outs = h.rule.forward(present, h.ctx);
  const res = outs.map((t) => ({ shape: t.shape.slice(), data: Float64Array.from(t.dataSync()) }));
  outs.forEach((t) => t.dispose());
  h.dispose();
  return res;
}

/** max |a − e| ≤ atol + rtol · max |e| */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg}: length ${actual.length} vs ${expected.length}`);
  let scale = 0,
    worst = 0,
    at = -1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) (worst = d), (at = i);
  }
  const tol = atol + rtol * scale;
  assert.ok(worst <= tol, `${msg}: max abs diff ${worst} at ${at} (got ${actual[at]}, want ${expected[at]}) > tol ${tol}`);
}

/** Runs fn and asserts that it leaves no tensors behind (the fn must dispose what it keeps). */
export function assertNoLeak<T>(fn: () => T, msg = ''): T {
  const before = tf.memory().numTensors;
  const r = fn();
  assert.equal(tf.memory().numTensors, before, `${msg}: tensors leaked`);
  return r;
}

export interface VjpCheck {
  op: string;
  attrs: object;
  inputs: tf.Tensor[];
  isConst?: boolean[];
  /**
   * Differentiable reference forward of the activation inputs (in input order) for tfjs' autodiff.
   * Default: the rule's own forward (autodiff through it is a different path from the rule's vjp).
   * null skips the autodiff comparison (give the reason in `why`).
   */
  ref?: ((...acts: tf.Tensor[]) => tf.Tensor) | null;
  why?: string;
  /** vs autodiff: max|g − g_ad| ≤ rtol·max|g_ad| + 1e-6 (float32, different summation orders) */
  rtol?: number;
  /** finite differences: eps, coordinates per input; pass if |fd − g| ≤ tol·(1 + |g|) */
  fd?: { eps?: number; tol?: number; n?: number };
  seed?: number;
}

/** Forward, vjp, leak and ownership checks, then the gradient vs autodiff and vs finite differences. */
export function checkVjp(c: VjpCheck): { grads: Array<Float64Array | null>; y: Float64Array; dy: Float64Array } {
  const isConst = c.isConst ?? c.inputs.map(() => false);
  const h = makeContext(c.op, c.attrs, c.inputs, isConst);
  const acts = c.inputs.map((_, i) => i).filter((i) => !isConst[i]);
  const seed = c.seed ?? 7;
  try {
    const before = tf.memory().numTensors;
    const [y] = h.rule.forward(c.inputs, h.ctx);
    for (const t of c.inputs) assert.notEqual(y, t, `${c.op}: forward returned an input tensor`);
    const dyT = tf.tensor(uniform(y.shape, seed + 1), y.shape);
    const gs = h.rule.vjp!({ inputs: c.inputs, outputs: [y], dys: [dyT] }, h.ctx);
    assert.equal(gs.length, c.inputs.length, `${c.op}: one gradient slot per input`);
    const grads = gs.map((g, i) => {
      if (isConst[i]) assert.equal(g, null, `${c.op}: constant input ${i} got a gradient`);
      if (!g) return null;
      assert.deepEqual(g.shape, c.inputs[i].shape, `${c.op}: gradient ${i} shape`);
      assert.notEqual(g, dyT, `${c.op}: vjp returned dy itself`);
      const d = Float64Array.from(g.dataSync());
      g.dispose();
      return d;
    });
    const yData = Float64Array.from(y.dataSync());
    const dy = Float64Array.from(dyT.dataSync());
    y.dispose();
    assert.equal(tf.memory().numTensors, before + 1, `${c.op}: forward/vjp leaked tensors`);

    for (const i of acts) assert.ok(grads[i], `${c.op}: activation input ${i} got no gradient`);

    if (c.ref !== null) {
      const ref =
        c.ref ??
        ((...a: tf.Tensor[]) => {
          const all = c.inputs.slice();
          acts.forEach((k, j) => (all[k] = a[j]));
          return h.rule.forward(all, h.ctx)[0];
        });
      const ad = tf.grads(ref)(
        acts.map((i) => c.inputs[i]),
        dyT,
      );
      acts.forEach((i, j) => {
        assertClose(grads[i]!, ad[j].dataSync(), c.rtol ?? 1e-4, 1e-6, `${c.op}: input ${i} vs tf.grads`);
        ad[j].dispose();
      });
    }
    dyT.dispose();

    const eps = c.fd?.eps ?? 1e-2,
      tol = c.fd?.tol ?? 1e-2,
      n = c.fd?.n ?? 6;
    const r = rng(seed + 2);
    const loss = (inputs: tf.Tensor[]) => {
      const [out] = h.rule.forward(inputs, h.ctx);
      const v = out.dataSync();
      out.dispose();
      let s = 0;
      for (let k = 0; k < v.length; k++) s += v[k] * dy[k];
      return s;
    };
    for (const i of acts) {
      const base = c.inputs[i].dataSync() as Float32Array;
      for (let t = 0; t < n; t++) {
        const j = Math.floor(r() * base.length);
        const at = (delta: number) => {
          const v = Float32Array.from(base);
          v[j] += delta;
          const xt = tf.tensor(v, c.inputs[i].shape);
          const ins = c.inputs.slice();
          ins[i] = xt;
          const l = loss(ins);
          xt.dispose();
          return l;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        const g = grads[i]![j];
        assert.ok(Math.abs(fd - g) <= tol * (1 + Math.abs(g)), `${c.op}: input ${i}[${j}] finite difference ${fd} vs vjp ${g}`);
      }
    }
    return { grads, y: yData, dy };
  } finally {
    h.dispose();
  }
}

/** A tensor from seeded uniform data. */
export const rand = (shape: number[], seed: number, lo = -1, hi = 1) => tf.tensor(uniform(shape, seed, lo, hi), shape);
