/**
 * The shared inverse principles of docs/spec.md §5, used by the op rules' `inverse`:
 *
 * * `dampedCorrection`: B̃ = A_in + argmin_d ‖J d − (B_out − A_out)‖² + λ²‖d‖², λ = ρ·σ_max(J), solved
 *   matrix-free with LSMR where `J v` is the rule's JVP and `Jᵀ u` its VJP.
 * * `diagonalCorrection`: the same principle for an elementwise op with derivative j (closed form).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InverseArgs, InverseResult, OpContext, OpRule, SolverStats } from './registry.js';
import { lsmr, lsmrArrays, sigmaMax, sigmaMaxArrays, tensorSpace, type ArrayOperator, type LinearOperator, type LsmrResult } from '../solve/lsmr.js';

/**
 * Where σ_max values are kept. Only ops linear in the solved input use `dampedCorrection` (conv,
 * pools, resize): their σ_max depends on the weights and the input size, not on the forward point, so
 * it is computed once per model. The default store is memory; a Node adapter may persist it
 * (src/node/sigma-cache.ts keeps it in a file keyed by the model's sha256).
 */
export interface SigmaStore {
  get(key: string): number | undefined;
  set(key: string, sigma: number): void;
}

const sigmaStores = new WeakMap<object, SigmaStore>();

/** Use `store` for the σ_max values of `graph`'s ops (before the first explanation). */
export function setSigmaStore(graph: object, store: SigmaStore): void {
  sigmaStores.set(graph, store);
}

function sigmaStoreOf(graph: object): SigmaStore {
  let store = sigmaStores.get(graph);
  if (!store) sigmaStores.set(graph, (store = new Map<string, number>()));
  return store;
}

export function linearOperator<O extends string>(
  rule: OpRule<O>,
  ctx: OpContext<O>,
  args: Pick<InverseArgs, 'inputs' | 'outputs'>,
  inputIndex: number,
): LinearOperator {
  if (!rule.jvp || !rule.vjp) throw new Error(`op ${rule.op} has no JVP/VJP for a least-squares inverse`);
  const { inputs, outputs } = args;
  return {
    apply: (v) => rule.jvp!({ inputs, outputs, tangents: inputs.map((_, i) => (i === inputIndex ? v : null)) }, ctx)[0],
    applyT: (u) => {
      const g = rule.vjp!({ inputs, outputs, dys: outputs.map((_, i) => (i === 0 ? u : null)) }, ctx)[inputIndex];
      if (!g) throw new Error(`op ${rule.op}: VJP gave no gradient for input ${inputIndex}`);
      return g;
    },
  };
}

/**
 * Damped least-squares correction for input `inputIndex` (other inputs get null). When nothing above
 * was abandoned (B_out = A_out) it returns A_in exactly, without a solve.
 */
export function dampedCorrection<O extends string>(rule: OpRule<O>, ctx: OpContext<O>, args: InverseArgs, inputIndex = 0): InverseResult {
  const { inputs, outputs, bOut, settings } = args;
  const nulls = (): Array<tf.Tensor | null> => inputs.map(() => null);
  const bo = bOut[0];
  if (!bo) return { b: nulls() };
  const aIn = inputs[inputIndex];
  // abandon=free: fit only the kept outputs (the masked residual and operator M·J; λ still from σ_max(J))
  const fit = args.fitMask?.[0] ?? undefined;
  const r = fit ? tf.tidy(() => tf.mul(tf.sub(bo, outputs[0]), fit)) : tf.sub(bo, outputs[0]);
  const rNorm = tensorSpace.norm(r);
  const b = nulls();
  if (rNorm === 0) {
    r.dispose();
    b[inputIndex] = aIn.clone();
    return { b, solver: { method: 'lsmr', iterations: 0, relResidual: 0, damping: 0, sigmaMax: 0, stop: 'B_out = A_out' } };
  }
  // The same solve on flat arrays where the rule has a fast array form (native kernels), else on tensors.
  const plainArrays = rule.arrayOperator?.(args, ctx, inputIndex);
  const plainOp = plainArrays ? undefined : linearOperator(rule, ctx, args, inputIndex);
  const fitArray = fit && plainArrays ? (fit.dataSync() as Float32Array) : undefined;
  const arrays = plainArrays && fitArray ? scaledArrays(plainArrays, fitArray) : plainArrays;
  const op = plainOp && fit ? maskedOperator(plainOp, fit) : plainOp;
  const cache = sigmaStoreOf(ctx.graph);
  // σ_max depends on the input size (and, for ops linear in their input, on nothing else).
  const key = `${ctx.node.name}#${inputIndex}#${aIn.shape.join('x')}#p${settings.powerIterations}`;
  let sigma = cache.get(key);
  if (sigma === undefined) {
    sigma = plainArrays ? sigmaMaxArrays(plainArrays, aIn.shape, settings.powerIterations) : sigmaMax(plainOp!, aIn, settings.powerIterations);
    cache.set(key, sigma);
  }
  const damping = settings.rho * sigma;
  const lsmrOptions = { damp: damping, atol: settings.atol, btol: settings.btol, maxIter: settings.maxIter };
  let res: LsmrResult<unknown>;
  if (arrays) {
    const ra = lsmrArrays(arrays, r.dataSync() as Float32Array, lsmrOptions);
    b[inputIndex] = tf.tidy(() => tf.add(aIn, tf.tensor(ra.x, aIn.shape)));
    res = ra;
  } else {
    const rt = lsmr(op!, r, lsmrOptions);
    b[inputIndex] = tf.add(aIn, rt.x);
    rt.x.dispose();
    res = rt;
  }
  r.dispose();
  const solver: SolverStats = {
    method: 'lsmr',
    iterations: res.iterations,
    relResidual: res.normR / rNorm,
    damping,
    sigmaMax: sigma,
    stop: res.stop,
  };
  return { b, solver };
}

/** M·J for a 0/1 mask M of J's outputs. */
export function maskedOperator(op: LinearOperator, mask: tf.Tensor): LinearOperator {
  return { apply: (v) => tf.tidy(() => tf.mul(op.apply(v), mask)), applyT: (u) => tf.tidy(() => op.applyT(tf.mul(u, mask))) };
}

/** diag(s)·J for an operator J on arrays (a 0/1 mask s: M·J, the rows of J that are fitted). */
export function scaledArrays(op: ArrayOperator, s: Float32Array): ArrayOperator {
  const times = (x: Float32Array) => {
    for (let i = 0; i < x.length; i++) x[i] *= s[i];
    return x;
  };
  return { apply: (v) => times(op.apply(v)), applyT: (u) => op.applyT(times(u.slice())) };
}

/**
 * Elementwise ops (sigmoid-like activations, gates): each element gets A_in + j·Δ/(j² + λ²) with
 * Δ = B_out − A_out, j the derivative at the forward point and λ = ρ·max|j|. `j` is consumed.
 */
export function diagonalCorrection(aIn: tf.Tensor, aOut: tf.Tensor, bOut: tf.Tensor, j: tf.Tensor, rho: number): { b: tf.Tensor; solver: SolverStats } {
  const maxJ = tf.tidy(() => tf.max(tf.abs(j)).dataSync()[0]);
  const lambda = rho * maxJ;
  const b = tf.tidy(() => {
    const delta = tf.sub(bOut, aOut);
    const denom = tf.add(tf.square(j), lambda * lambda);
    // Where j = 0 and λ = 0 the element cannot move: keep its forward value.
    const step = tf.where(tf.greater(denom, 0), tf.div(tf.mul(j, delta), tf.maximum(denom, 1e-30)), tf.zerosLike(delta));
    return tf.add(aIn, step);
  });
  j.dispose();
  return { b, solver: { method: 'diagonal', iterations: 0, relResidual: NaN, damping: lambda, sigmaMax: maxJ, stop: 'closed form' } };
}
