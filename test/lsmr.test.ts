/**
 * LSMR against the dense damped least-squares solution (AᵀA + λ²I)⁻¹Aᵀb computed here in float64 by
 * Gaussian elimination, for over- and under-determined random systems, λ = 0 and λ > 0.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { lsmr, lsmrArrays, sigmaMax, sigmaMaxArrays, type ArrayOperator, type LinearOperator } from '../src/solve/lsmr.js';
import { rng } from './helpers/rng.js';

/** Solve the square system M y = rhs in float64 (Gaussian elimination with partial pivoting). */
function gaussSolve(M0: number[][], rhs: number[]): number[] {
  const n = rhs.length;
  const M = M0.map((row, i) => [...row, rhs[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      for (let j = c; j <= n; j++) M[r][j] -= f * M[c][j];
    }
  }
  return M.map((row, i) => row[n] / M[i][i]);
}

const gram = (rows: number[][]) => rows.map((ri) => rows.map((rj) => ri.reduce((s, a, k) => s + a * rj[k], 0)));
const addDiag = (M: number[][], v: number) => M.map((row, i) => row.map((x, j) => x + (i === j ? v : 0)));

/** The damped least-squares solution: (AᵀA + λ²I)⁻¹Aᵀb, or Aᵀ(AAᵀ + λ²I)⁻¹b (the same for λ > 0,
 * and the minimum-norm solution for λ = 0) when A is wide. */
function denseSolve(A: number[][], b: number[], lambda: number): number[] {
  const At = A[0].map((_, j) => A.map((row) => row[j]));
  if (A.length >= At.length)
    return gaussSolve(
      addDiag(gram(At), lambda * lambda),
      At.map((col) => col.reduce((s, a, k) => s + a * b[k], 0)),
    );
  const y = gaussSolve(addDiag(gram(A), lambda * lambda), b);
  return At.map((col) => col.reduce((s, a, k) => s + a * y[k], 0));
}

/** The same matrix on flat float32 arrays (the vector space native kernels use), products in float64. */
function arrayOperator(A: number[][]): ArrayOperator {
  const n = A[0].length;
  return {
    apply: (x) => Float32Array.from(A, (row) => row.reduce((s, a, j) => s + a * x[j], 0)),
    applyT: (u) => Float32Array.from({ length: n }, (_, j) => A.reduce((s, row, k) => s + row[j] * u[k], 0)),
  };
}

function operator(A: number[][]): LinearOperator {
  const t = tf.tensor2d(A);
  const tt = tf.transpose(t);
  return {
    apply: (x) => tf.reshape(tf.matMul(t, tf.reshape(x, [-1, 1])), [A.length]),
    applyT: (u) => tf.reshape(tf.matMul(tt, tf.reshape(u, [-1, 1])), [A[0].length]),
  };
}

test('LSMR matches the dense damped least-squares solution (rel. error ≤ 1e-4)', async () => {
  await initBackend({ backend: 'cpu' });
  const before = tf.memory().numTensors;
  for (const [m, n] of [
    [30, 12],
    [12, 30],
    [20, 20],
  ]) {
    const uniform = rng(m * 100 + n);
    const r = () => uniform() / 2; // [-0.5, 0.5)
    const A = Array.from({ length: m }, () => Array.from({ length: n }, () => r()));
    const bArr = Array.from({ length: m }, () => r());
    tf.tidy(() => {
      const op = operator(A);
      const b = tf.tensor1d(bArr);
      const smax = sigmaMax(op, tf.zeros([n]), 30);
      for (const rho of [0, 0.1]) {
        const lambda = rho * smax;
        const want = denseSolve(A, bArr, lambda);
        const options = { damp: lambda, atol: 1e-10, btol: 1e-10, maxIter: 500 };
        const res = lsmr(op, b, options);
        const resArr = lsmrArrays(arrayOperator(A), Float32Array.from(bArr), options);
        for (const [space, x, r] of [
          ['tensors', res.x.dataSync(), res],
          ['arrays', resArr.x, resArr],
        ] as const) {
          const scale = Math.max(...want.map(Math.abs));
          const err = Math.max(...want.map((w, i) => Math.abs(w - x[i]))) / scale;
          assert.ok(err <= 1e-4, `${space} ${m}×${n}, rho ${rho}: rel. error ${err} after ${r.iterations} iterations (${r.stop})`);
          const trueR = Math.sqrt(A.reduce((acc, row, k) => acc + (row.reduce((s, a, j) => s + a * x[j], 0) - bArr[k]) ** 2, 0));
          assert.ok(Math.abs(trueR - r.normR) <= 1e-3 * Math.max(1, trueR), `${space}: reported residual ${r.normR} vs true ${trueR}`);
        }
        res.x.dispose();
      }
    });
  }
  assert.equal(tf.memory().numTensors, before, 'LSMR frees every tensor it allocates');
});

test('sigmaMax recovers the largest singular value of a diagonal operator', async () => {
  await initBackend({ backend: 'cpu' });
  tf.tidy(() => {
    const d = tf.tensor1d([0.5, 3, -4, 1]);
    const op: LinearOperator = { apply: (x) => tf.mul(d, x), applyT: (u) => tf.mul(d, u) };
    const s = sigmaMax(op, tf.zeros([4]), 40);
    assert.ok(Math.abs(s - 4) < 1e-3, `sigma ${s}`);
    const dArr = [0.5, 3, -4, 1];
    const mul = (x: Float32Array) => Float32Array.from(x, (v, i) => v * dArr[i]);
    const sArr = sigmaMaxArrays({ apply: mul, applyT: mul }, [4], 40);
    assert.ok(Math.abs(sArr - 4) < 1e-3, `sigma (arrays) ${sArr}`);
  });
});
