/**
 * Matrix-free LSMR (D. C.-L. Fong and M. A. Saunders, "LSMR: An iterative algorithm for sparse
 * least-squares problems", SIAM J. Sci. Comput. 33(5), 2011), written from the paper's recurrences.
 *
 * Solves  min ‖A x − b‖² + damp² ‖x‖²  given only x ↦ A x and u ↦ Aᵀ u on tfjs tensors of any shape
 * (x lives in the input space, b in the output space). No matrix is ever formed. The vectors stay on
 * the tensor backend; only scalars are read back (a few per iteration).
 */
import * as tf from '@tensorflow/tfjs-core';

/** A linear map on vectors of type V, given only by its products. */
export interface Operator<V> {
  /** A x */
  apply(x: V): V;
  /** Aᵀ u */
  applyT(u: V): V;
}

/** A linear operator on tfjs tensors (any shapes). */
export type LinearOperator = Operator<tf.Tensor>;
/** A linear operator on flat float32 vectors (e.g. native kernels: no tensor per step). */
export type ArrayOperator = Operator<Float32Array>;

/**
 * The vector arithmetic LSMR needs. Methods documented as consuming a vector may reuse its storage
 * (the array space updates in place) or free it (the tensor space); the caller never uses it again.
 */
export interface VectorSpace<V> {
  norm(x: V): number;
  clone(x: V): V;
  zerosLike(x: V): V;
  /** s·x, consuming x */
  scale(x: V, s: number): V;
  /** a·x + b·y, consuming y (x is kept), and its norm */
  axpbyNorm(a: number, x: V, b: number, y: V): [V, number];
  /** LSMR's update hbar ← h − k1·hbar, x ← x + k2·hbar, h ← sv·v − k3·h, consuming h, hbar and x; also ‖x‖ */
  update(h: V, hbar: V, x: V, v: V, sv: number, k1: number, k2: number, k3: number): { h: V; hbar: V; x: V; normX: number };
  dispose(x: V): void;
}

/** Tensors on the tfjs backend; only scalars are read back. */
export const tensorSpace: VectorSpace<tf.Tensor> = {
  norm: (x) => tf.tidy(() => Math.sqrt(tf.sum(tf.square(x)).dataSync()[0])),
  clone: (x) => x.clone(),
  zerosLike: (x) => tf.zerosLike(x),
  scale: (x, s) => swap(x, tf.mul(x, s)),
  axpbyNorm: (a, x, b, y) => {
    const r = swap(
      y,
      tf.tidy(() => (a === 1 ? tf.add(x, tf.mul(y, b)) : tf.add(tf.mul(x, a), tf.mul(y, b)))),
    );
    return [r, tensorSpace.norm(r)];
  },
  update: (h, hbar, x, v, sv, k1, k2, k3) => {
    const hbarNew = swap(
      hbar,
      tf.tidy(() => tf.sub(h, tf.mul(hbar, k1))),
    );
    const xNew = swap(
      x,
      tf.tidy(() => tf.add(x, tf.mul(hbarNew, k2))),
    );
    const hNew = swap(
      h,
      tf.tidy(() => tf.sub(sv === 1 ? v : tf.mul(v, sv), tf.mul(h, k3))),
    );
    return { h: hNew, hbar: hbarNew, x: xNew, normX: tensorSpace.norm(xNew) };
  },
  dispose: (x) => x.dispose(),
};

/** Flat float32 arrays, updated in place with fused loops; sums in float64. */
export const arraySpace: VectorSpace<Float32Array> = {
  norm: (x) => {
    let s = 0;
    const n = x.length;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return Math.sqrt(s);
  },
  clone: (x) => x.slice(),
  zerosLike: (x) => new Float32Array(x.length),
  scale: (x, s) => {
    const n = x.length;
    for (let i = 0; i < n; i++) x[i] *= s;
    return x;
  },
  axpbyNorm: (a, x, b, y) => {
    const n = y.length;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const yi = a * x[i] + b * y[i];
      y[i] = yi;
      s += yi * yi;
    }
    return [y, Math.sqrt(s)];
  },
  update: (h, hbar, x, v, sv, k1, k2, k3) => {
    let nx = 0;
    const n = x.length;
    for (let i = 0; i < n; i++) {
      const hb = h[i] - k1 * hbar[i];
      hbar[i] = hb;
      const xi = x[i] + k2 * hb;
      x[i] = xi;
      nx += xi * xi;
      h[i] = sv * v[i] - k3 * h[i];
    }
    return { h, hbar, x, normX: Math.sqrt(nx) };
  },
  dispose: () => {},
};

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

export interface LsmrResult<V = tf.Tensor> {
  x: V;
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

/** Replace `old` by `next` and free `old` (the vectors are rebuilt every iteration). */
function swap(old: tf.Tensor, next: tf.Tensor): tf.Tensor {
  old.dispose();
  return next;
}

/** LSMR on tfjs tensors (each product runs in its own tf.tidy). */
export function lsmr(A: LinearOperator, b: tf.Tensor, options: LsmrOptions = {}): LsmrResult {
  const tidy: LinearOperator = { apply: (x) => tf.tidy(() => A.apply(x)), applyT: (u) => tf.tidy(() => A.applyT(u)) };
  return lsmrIn(tensorSpace, tidy, b, options);
}

/** LSMR on float32 arrays. */
export function lsmrArrays(A: ArrayOperator, b: Float32Array, options: LsmrOptions = {}): LsmrResult<Float32Array> {
  return lsmrIn(arraySpace, A, b, options);
}

/**
 * The scalars LSMR carries from one iteration to the next (names as in Fong & Saunders and SciPy's
 * lsmr); su and sv are the scale factors of the unnormalised u and v.
 */
interface LsmrScalars {
  alpha: number;
  beta: number;
  su: number;
  sv: number;
  zetabar: number;
  alphabar: number;
  rho: number;
  rhobar: number;
  cbar: number;
  sbar: number;
  // for estimating ‖r‖
  betadd: number;
  betad: number;
  rhodold: number;
  tautildeold: number;
  thetatilde: number;
  zeta: number;
  d: number;
  // for estimating ‖A‖, cond(A), ‖x‖, ‖r‖, ‖Aᵀr‖
  normA2: number;
  maxrbar: number;
  minrbar: number;
  normA: number;
  condA: number;
  normX: number;
  normR: number;
  normAR: number;
}

/** The vectors of one LSMR run: the bidiagonalisation's u and v, the search directions h and hbar, and x. */
interface LsmrVectors<V> {
  u: V;
  v: V;
  h: V;
  hbar: V;
  x: V;
}

/** The values of one iteration's rotations that the later estimates of the same iteration use. */
interface LsmrRotation {
  chat: number;
  shat: number;
  c: number;
  s: number;
  rhoold: number;
  rhobarold: number;
  zetaold: number;
  thetanew: number;
  thetabar: number;
  rhotemp: number;
}

/** LSMR in any vector space; `b` is kept, the result's x belongs to the caller. */
export function lsmrIn<V>(S: VectorSpace<V>, A: Operator<V>, b: V, options: LsmrOptions = {}): LsmrResult<V> {
  const damp = options.damp ?? 0;
  const atol = options.atol ?? 1e-6;
  const btol = options.btol ?? 1e-6;
  const conlim = options.conlim ?? 1e8;
  const maxIter = options.maxIter ?? 100;

  // u and v are held unnormalised: the unit vectors of the recurrences are su·u and sv·v. The scale
  // factors fold into the next products and updates (A is linear), which saves two passes over the
  // vectors per iteration.
  const u = S.clone(b);
  const normB = S.norm(u);
  const beta = normB;
  let su = 1;
  let v: V;
  let sv = 1;
  let alpha = 0;
  if (beta > 0) {
    su = 1 / beta;
    v = A.applyT(u); // Aᵀ(su·u) = su·v
    alpha = su * S.norm(v);
    if (alpha > 0) sv = su / alpha;
  } else {
    const t = A.applyT(u);
    v = S.zerosLike(t);
    S.dispose(t);
  }

  const x = S.zerosLike(v);
  if (alpha * beta === 0) {
    S.dispose(u);
    S.dispose(v);
    return { x, iterations: 0, stop: STOPS[0], normR: beta, normAR: 0, normA: alpha, condA: 1, normX: 0, normB };
  }

  const vec: LsmrVectors<V> = { u, v, x, h: S.scale(S.clone(v), sv), hbar: S.zerosLike(v) };
  const sc: LsmrScalars = {
    alpha,
    beta,
    su,
    sv,
    zetabar: alpha * beta,
    alphabar: alpha,
    rho: 1,
    rhobar: 1,
    cbar: 1,
    sbar: 0,
    betadd: beta,
    betad: 0,
    rhodold: 1,
    tautildeold: 0,
    thetatilde: 0,
    zeta: 0,
    d: 0,
    normA2: alpha * alpha,
    maxrbar: 0,
    minrbar: 1e100,
    normA: Math.sqrt(alpha * alpha),
    condA: 1,
    normX: 0,
    normR: beta,
    normAR: alpha * beta,
  };
  const ctol = conlim > 0 ? 1 / conlim : 0;
  let iterations = 0;
  let istop = 0;
  while (iterations < maxIter) {
    iterations++;
    bidiagonalise(S, A, vec, sc);
    const r = rotate(sc, damp);
    updateIterates(S, vec, sc, r);
    estimateResidual(sc, r);
    estimateNorms(sc, r, iterations);
    istop = stopReason(sc, iterations, { maxIter, atol, btol, ctol, normB });
    if (istop > 0) break;
  }
  for (const t of [vec.u, vec.v, vec.h, vec.hbar]) S.dispose(t);
  const { normR, normX, normAR, normA, condA } = sc;
  // LSMR's ‖r‖ estimate includes the damping term; report the data residual ‖b − Ax‖.
  const dataR = Math.sqrt(Math.max(0, normR * normR - damp * damp * normX * normX));
  return { x: vec.x, iterations, stop: STOPS[istop], normR: dataR, normAR, normA, condA, normX, normB };
}

/** Golub–Kahan bidiagonalisation step: the next u, β, v, α. */
function bidiagonalise<V>(S: VectorSpace<V>, A: Operator<V>, vec: LsmrVectors<V>, sc: LsmrScalars): void {
  // β·u' = A v − α u with the unit vectors v = sv·v_held, u = su·u_held
  const av = A.apply(vec.v);
  [vec.u, sc.beta] = S.axpbyNorm(sc.sv, av, -sc.alpha * sc.su, vec.u);
  S.dispose(av);
  if (sc.beta > 0) {
    sc.su = 1 / sc.beta;
    // α·v' = Aᵀu − β v
    const atu = A.applyT(vec.u);
    [vec.v, sc.alpha] = S.axpbyNorm(sc.su, atu, -sc.beta * sc.sv, vec.v);
    S.dispose(atu);
    sc.sv = sc.alpha > 0 ? 1 / sc.alpha : 1;
  } else sc.su = 1;
}

/** The iteration's plane rotations (the damping one, then the two of the QR factorisations). */
function rotate(sc: LsmrScalars, damp: number): LsmrRotation {
  const [chat, shat, alphahat] = symOrtho(sc.alphabar, damp);
  const rhoold = sc.rho;
  const [c, s, rhoNew] = symOrtho(alphahat, sc.beta);
  sc.rho = rhoNew;
  const thetanew = s * sc.alpha;
  sc.alphabar = c * sc.alpha;

  const rhobarold = sc.rhobar;
  const zetaold = sc.zeta;
  const thetabar = sc.sbar * sc.rho;
  const rhotemp = sc.cbar * sc.rho;
  [sc.cbar, sc.sbar, sc.rhobar] = symOrtho(sc.cbar * sc.rho, thetanew);
  sc.zeta = sc.cbar * sc.zetabar;
  sc.zetabar = -sc.sbar * sc.zetabar;
  return { chat, shat, c, s, rhoold, rhobarold, zetaold, thetanew, thetabar, rhotemp };
}

/** Update h, hbar and x (and ‖x‖). */
function updateIterates<V>(S: VectorSpace<V>, vec: LsmrVectors<V>, sc: LsmrScalars, r: LsmrRotation): void {
  const k1 = (r.thetabar * sc.rho) / (r.rhoold * r.rhobarold);
  const k2 = sc.zeta / (sc.rho * sc.rhobar);
  const k3 = r.thetanew / sc.rho;
  ({ h: vec.h, hbar: vec.hbar, x: vec.x, normX: sc.normX } = S.update(vec.h, vec.hbar, vec.x, vec.v, sc.sv, k1, k2, k3));
}

/** Estimate ‖r‖. */
function estimateResidual(sc: LsmrScalars, r: LsmrRotation): void {
  const betaacute = r.chat * sc.betadd;
  const betacheck = -r.shat * sc.betadd;
  const betahat = r.c * betaacute;
  sc.betadd = -r.s * betaacute;
  const thetatildeold = sc.thetatilde;
  const [ctildeold, stildeold, rhotildeold] = symOrtho(sc.rhodold, r.thetabar);
  sc.thetatilde = stildeold * sc.rhobar;
  sc.rhodold = ctildeold * sc.rhobar;
  sc.betad = -stildeold * sc.betad + ctildeold * betahat;
  sc.tautildeold = (r.zetaold - thetatildeold * sc.tautildeold) / rhotildeold;
  const taud = (sc.zeta - sc.thetatilde * sc.tautildeold) / sc.rhodold;
  sc.d += betacheck * betacheck;
  sc.normR = Math.sqrt(sc.d + (sc.betad - taud) ** 2 + sc.betadd * sc.betadd);
}

/** Estimate ‖A‖, cond(A) and ‖Aᵀr‖. */
function estimateNorms(sc: LsmrScalars, r: LsmrRotation, iterations: number): void {
  sc.normA2 += sc.beta * sc.beta;
  sc.normA = Math.sqrt(sc.normA2);
  sc.normA2 += sc.alpha * sc.alpha;
  sc.maxrbar = Math.max(sc.maxrbar, r.rhobarold);
  if (iterations > 1) sc.minrbar = Math.min(sc.minrbar, r.rhobarold);
  sc.condA = Math.max(sc.maxrbar, r.rhotemp) / Math.min(sc.minrbar, r.rhotemp);
  sc.normAR = Math.abs(sc.zetabar);
}

/** Convergence tests: the index into STOPS of the reason to stop, 0 to go on (the lowest reason wins). */
function stopReason(sc: LsmrScalars, iterations: number, t: { maxIter: number; atol: number; btol: number; ctol: number; normB: number }): number {
  const { normR, normA, normX, normAR, condA } = sc;
  const test1 = normR / t.normB;
  const test2 = normA * normR !== 0 ? normAR / (normA * normR) : Infinity;
  const test3 = 1 / condA;
  const t1 = test1 / (1 + (normA * normX) / t.normB);
  const rtol = t.btol + (t.atol * normA * normX) / t.normB;
  let istop = 0;
  if (iterations >= t.maxIter) istop = 7;
  if (1 + test3 <= 1) istop = 6;
  if (1 + test2 <= 1) istop = 5;
  if (1 + t1 <= 1) istop = 4;
  if (test3 <= t.ctol) istop = 3;
  if (test2 <= t.atol) istop = 2;
  if (test1 <= rtol) istop = 1;
  return istop;
}

/**
 * Largest singular value of A by power iteration on AᵀA (a few iterations are plenty for a damping
 * scale). `like` is any tensor of the input-space shape; the start vector is seeded for reproducibility.
 */
export function sigmaMax(A: LinearOperator, like: tf.Tensor, iterations = 8, seed = 7): number {
  const start = tf.randomNormal(like.shape, 0, 1, 'float32', seed);
  const tidy: LinearOperator = { apply: (x) => tf.tidy(() => A.apply(x)), applyT: (u) => tf.tidy(() => A.applyT(u)) };
  return sigmaMaxIn(tensorSpace, tidy, start, iterations);
}

/** sigmaMax on float32 arrays, from the same seeded start vector as the tensor version. */
export function sigmaMaxArrays(A: ArrayOperator, shape: number[], iterations = 8, seed = 7): number {
  // (not returned through tf.tidy: tidy walks a returned array element by element)
  const t = tf.randomNormal(shape, 0, 1, 'float32', seed);
  const start = t.dataSync() as Float32Array;
  t.dispose();
  return sigmaMaxIn(arraySpace, A, start, iterations);
}

/** Power iteration on AᵀA from `start` (consumed). */
export function sigmaMaxIn<V>(S: VectorSpace<V>, A: Operator<V>, start: V, iterations: number): number {
  let v = start;
  let sigma = 0;
  for (let i = 0; i < iterations; i++) {
    const n = S.norm(v);
    if (n === 0) break;
    v = S.scale(v, 1 / n);
    const av = A.apply(v);
    const w = A.applyT(av);
    S.dispose(av);
    sigma = Math.sqrt(S.norm(w));
    S.dispose(v);
    v = w;
  }
  S.dispose(v);
  return sigma;
}
