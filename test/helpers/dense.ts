/** Dense float64 linear algebra for small reference computations in the tests. */
import assert from 'node:assert/strict';

/** Row-major m×n. */
export interface Mat {
  m: number;
  n: number;
  a: Float64Array;
}

export function transpose(A: Mat): Mat {
  const t = new Float64Array(A.m * A.n);
  for (let i = 0; i < A.m; i++) for (let j = 0; j < A.n; j++) t[j * A.m + i] = A.a[i * A.n + j];
  return { m: A.n, n: A.m, a: t };
}

export function matmul(A: Mat, B: Mat): Mat {
  const out = new Float64Array(A.m * B.n);
  for (let i = 0; i < A.m; i++)
    for (let k = 0; k < A.n; k++) {
      const v = A.a[i * A.n + k];
      if (v !== 0) for (let j = 0; j < B.n; j++) out[i * B.n + j] += v * B.a[k * B.n + j];
    }
  return { m: A.m, n: B.n, a: out };
}

export function matvec(A: Mat, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(A.m);
  for (let i = 0; i < A.m; i++) {
    let s = 0;
    for (let j = 0; j < A.n; j++) s += A.a[i * A.n + j] * x[j];
    y[i] = s;
  }
  return y;
}

/** Solve S x = b for symmetric positive definite S (Cholesky). */
export function spdSolve(S: Mat, b: ArrayLike<number>): Float64Array {
  const n = S.n;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = S.a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        assert.ok(s > 0, 'matrix is not positive definite');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/** Eigenvalues of a symmetric matrix (cyclic Jacobi). */
export function symEigenvalues(S: Mat): Float64Array {
  const n = S.n;
  const a = Float64Array.from(S.a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-26) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p],
            akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k],
            aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  return Float64Array.from({ length: n }, (_, i) => a[i * n + i]);
}

export const addDiag = (S: Mat, v: number): Mat => {
  const a = Float64Array.from(S.a);
  for (let i = 0; i < S.n; i++) a[i * S.n + i] += v;
  return { m: S.m, n: S.n, a };
};

export const norm2 = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
export const sub = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v - b[i]);
