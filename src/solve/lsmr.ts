/**
 * Matrix-free LSMR (D. C.-L. Fong and M. A. Saunders, "LSMR: An iterative algorithm for sparse
 * least-squares problems", SIAM J. Sci. Comput. 33(5), 2011), written from the paper's recurrences.
 *
 * Solves  min ‖A x − b‖² + damp² ‖x‖²  given only x ↦ A x and u ↦ Aᵀ u on tfjs tensors of any shape
 * (x lives in the input space, b in the output space). No matrix is ever formed. The vectors stay on
 * the tensor backend; only scalars are read back (a few per iteration).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface LinearOperator {
  /** A x */
  apply(x: tf.Tensor): tf.Tensor;
  /** Aᵀ u */
  applyT(u: tf.Tensor): tf.Tensor;
}

export interface LsmrOptions {
  damp?: number;
  atol?: number;
  btol?: number;
  /** stop when the estimated condition number exceeds this (0 = never) */
  conlim?: number;
  maxIter?: number;
}

export type LsmrStop =
  | 'x = 0 is the exact solution'
  | 'Ax − b is small enough for atol/btol'
  | 'least-squares solution within atol'
  | 'condition number exceeded conlim'
  | 'Ax − b at machine precision'
  | 'least-squares solution at machine precision'
  | 'condition number at machine precision'
  | 'iteration cap reached';

export interface LsmrResult {
  x: tf.Tensor;
  iterations: number;
  stop: LsmrStop;
  /** estimate of ‖b − Ax‖ (without the damping term) */
  normR: number;
  /** estimate of ‖Aᵀ(b − Ax) − damp² x‖ */
  normAR: number;
  /** estimate of the Frobenius norm of [A; damp·I] */
  normA: number;
  condA: number;
  normX: number;
  normB: number;
}

const STOPS: LsmrStop[] = [
  'x = 0 is the exact solution',
  'Ax − b is small enough for atol/btol',
  'least-squares solution within atol',
  'condition number exceeded conlim',
  'Ax − b at machine precision',
  'least-squares solution at machine precision',
  'condition number at machine precision',
  'iteration cap reached',
];

/** Stable Givens rotation: returns [c, s, r] with [c s; −s c]·[a; b] = [r; 0]. */
function symOrtho(a: number, b: number): [number, number, number] {
  if (b === 0) return [Math.sign(a) || 1, 0, Math.abs(a)];
  if (a === 0) return [0, Math.sign(b), Math.abs(b)];
  if (Math.abs(b) > Math.abs(a)) {
    const tau = a / b;
    const s = Math.sign(b) / Math.sqrt(1 + tau * tau);
    return [s * tau, s, b / s];
  }
  const tau = b / a;
  const c = Math.sign(a) / Math.sqrt(1 + tau * tau);
  return [c, c * tau, a / c];
}

function norm(t: tf.Tensor): number {
  return tf.tidy(() => Math.sqrt(tf.sum(tf.square(t)).dataSync()[0]));
}

/** Replace `old` by `next` and free `old` (the vectors are rebuilt every iteration). */
function swap(old: tf.Tensor, next: tf.Tensor): tf.Tensor {
  old.dispose();
  return next;
}

export function lsmr(A: LinearOperator, b: tf.Tensor, options: LsmrOptions = {}): LsmrResult {
  const damp = options.damp ?? 0;
  const atol = options.atol ?? 1e-6;
  const btol = options.btol ?? 1e-6;
  const conlim = options.conlim ?? 1e8;
  const maxIter = options.maxIter ?? 100;

  let u = b.clone();
  const normB = norm(u);
  let beta = normB;
  let v: tf.Tensor;
  let alpha = 0;
  if (beta > 0) {
    u = swap(u, tf.div(u, beta));
    v = tf.tidy(() => A.applyT(u));
    alpha = norm(v);
  } else {
    v = tf.tidy(() => tf.zerosLike(A.applyT(u)));
  }
  if (alpha > 0) v = swap(v, tf.div(v, alpha));

  let x = tf.zerosLike(v);
  let iterations = 0;
  let normAR = alpha * beta;
  if (normAR === 0) {
    u.dispose();
    v.dispose();
    return { x, iterations, stop: STOPS[0], normR: beta, normAR: 0, normA: alpha, condA: 1, normX: 0, normB };
  }

  let zetabar = alpha * beta;
  let alphabar = alpha;
  let rho = 1;
  let rhobar = 1;
  let cbar = 1;
  let sbar = 0;
  let h = v.clone();
  let hbar = tf.zerosLike(v);

  // Quantities for estimating ‖r‖.
  let betadd = beta;
  let betad = 0;
  let rhodold = 1;
  let tautildeold = 0;
  let thetatilde = 0;
  let zeta = 0;
  let d = 0;

  let normA2 = alpha * alpha;
  let maxrbar = 0;
  let minrbar = 1e100;
  let normA = Math.sqrt(normA2);
  let condA = 1;
  let normX = 0;
  let normR = beta;
  const ctol = conlim > 0 ? 1 / conlim : 0;
  let istop = 0;

  while (iterations < maxIter) {
    iterations++;
    // Bidiagonalisation step.
    {
      const a = alpha;
      u = swap(u, tf.tidy(() => tf.sub(A.apply(v), tf.mul(u, a))));
    }
    beta = norm(u);
    if (beta > 0) {
      const bt = beta;
      u = swap(u, tf.div(u, bt));
      v = swap(v, tf.tidy(() => tf.sub(A.applyT(u), tf.mul(v, bt))));
      alpha = norm(v);
      if (alpha > 0) v = swap(v, tf.div(v, alpha));
    }

    // Rotations.
    const [chat, shat, alphahat] = symOrtho(alphabar, damp);
    const rhoold = rho;
    const [c, s, rhoNew] = symOrtho(alphahat, beta);
    rho = rhoNew;
    const thetanew = s * alpha;
    alphabar = c * alpha;

    const rhobarold = rhobar;
    const zetaold = zeta;
    const thetabar = sbar * rho;
    const rhotemp = cbar * rho;
    [cbar, sbar, rhobar] = symOrtho(cbar * rho, thetanew);
    zeta = cbar * zetabar;
    zetabar = -sbar * zetabar;

    // Update h, hbar, x.
    {
      const k1 = (thetabar * rho) / (rhoold * rhobarold);
      const k2 = zeta / (rho * rhobar);
      const k3 = thetanew / rho;
      hbar = swap(hbar, tf.tidy(() => tf.sub(h, tf.mul(hbar, k1))));
      x = swap(x, tf.tidy(() => tf.add(x, tf.mul(hbar, k2))));
      h = swap(h, tf.tidy(() => tf.sub(v, tf.mul(h, k3))));
    }

    // Estimate ‖r‖.
    const betaacute = chat * betadd;
    const betacheck = -shat * betadd;
    const betahat = c * betaacute;
    betadd = -s * betaacute;
    const thetatildeold = thetatilde;
    const [ctildeold, stildeold, rhotildeold] = symOrtho(rhodold, thetabar);
    thetatilde = stildeold * rhobar;
    rhodold = ctildeold * rhobar;
    betad = -stildeold * betad + ctildeold * betahat;
    tautildeold = (zetaold - thetatildeold * tautildeold) / rhotildeold;
    const taud = (zeta - thetatilde * tautildeold) / rhodold;
    d += betacheck * betacheck;
    normR = Math.sqrt(d + (betad - taud) ** 2 + betadd * betadd);

    // Estimate ‖A‖, cond(A), ‖x‖.
    normA2 += beta * beta;
    normA = Math.sqrt(normA2);
    normA2 += alpha * alpha;
    maxrbar = Math.max(maxrbar, rhobarold);
    if (iterations > 1) minrbar = Math.min(minrbar, rhobarold);
    condA = Math.max(maxrbar, rhotemp) / Math.min(minrbar, rhotemp);
    normAR = Math.abs(zetabar);
    normX = norm(x);

    // Convergence tests.
    const test1 = normR / normB;
    const test2 = normA * normR !== 0 ? normAR / (normA * normR) : Infinity;
    const test3 = 1 / condA;
    const t1 = test1 / (1 + (normA * normX) / normB);
    const rtol = btol + (atol * normA * normX) / normB;
    if (iterations >= maxIter) istop = 7;
    if (1 + test3 <= 1) istop = 6;
    if (1 + test2 <= 1) istop = 5;
    if (1 + t1 <= 1) istop = 4;
    if (test3 <= ctol) istop = 3;
    if (test2 <= atol) istop = 2;
    if (test1 <= rtol) istop = 1;
    if (istop > 0) break;
  }
  u.dispose();
  v.dispose();
  h.dispose();
  hbar.dispose();
  // LSMR's ‖r‖ estimate includes the damping term; report the data residual ‖b − Ax‖.
  const dataR = Math.sqrt(Math.max(0, normR * normR - damp * damp * normX * normX));
  return { x, iterations, stop: STOPS[istop], normR: dataR, normAR, normA, condA, normX, normB };
}

/**
 * Largest singular value of A by power iteration on AᵀA (a few iterations are plenty for a damping
 * scale). `like` is any tensor of the input-space shape; the start vector is seeded for reproducibility.
 */
export function sigmaMax(A: LinearOperator, like: tf.Tensor, iterations = 8, seed = 7): number {
  let v = tf.randomNormal(like.shape, 0, 1, 'float32', seed);
  let sigma = 0;
  for (let i = 0; i < iterations; i++) {
    const n = norm(v);
    if (n === 0) break;
    const w = tf.tidy(() => A.applyT(A.apply(tf.div(v, n))));
    sigma = Math.sqrt(norm(w));
    v = swap(v, w);
  }
  v.dispose();
  return sigma;
}
