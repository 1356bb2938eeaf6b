/**
 * The checks every elementwise activation rule gets against closed forms computed here in float64:
 * forward f(x); the VJP vs f'(x), vs tfjs autodiff of a reference and vs finite differences; the
 * gradient exactly at 0 (PyTorch's branch); the NAFlow inverse vs the damped diagonal rule
 * B_in = A_in + j·Δ/(j² + λ²), j = f'(A_in), Δ = B_out − A_out, λ = ρ·max|j| (and B_out = A_out gives A_in).
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertClose, awayFrom, checkVjp, makeContext, uniform } from './op-context.js';

export interface UnaryCase {
  op: string;
  attrs: object;
  f: (x: number) => number;
  df: (x: number) => number;
  /** a differentiable tfjs reference for the autodiff comparison */
  ref: (x: tf.Tensor) => tf.Tensor;
  range?: [number, number];
}

const SHAPE = [2, 3, 3, 4];

export function checkUnaryOp(c: UnaryCase): void {
  const [lo, hi] = c.range ?? [-4, 4];
  // away from the kink at 0 so that finite differences do not straddle it
  const v = awayFrom(uniform(SHAPE, 11, lo, hi), [0], 0.02);
  const x = tf.tensor(v, SHAPE);
  const h = makeContext(c.op, c.attrs, [x]);
  try {
    assert.equal(h.rule.blockRole, 'pointwise');
    assert.deepEqual(h.rule.inferShape!([[-1, 3, 3, 4]], h.ctx), [[-1, 3, 3, 4]]);
    const [y] = h.rule.forward([x], h.ctx);
    assertClose(y.dataSync(), Array.from(v, c.f), 1e-6, 1e-7, `${c.op} forward`);

    const { grads, dy } = checkVjp({ op: c.op, attrs: c.attrs, inputs: [x], ref: c.ref });
    assertClose(
      grads[0]!,
      Array.from(v, (xi, i) => dy[i] * c.df(xi)),
      1e-5,
      1e-7,
      `${c.op} vjp vs f'`,
    );

    const zero = tf.tensor1d([0, 0]);
    const [yz] = h.rule.forward([zero], h.ctx);
    const [gz] = h.rule.vjp!({ inputs: [zero], outputs: [yz], dys: [tf.onesLike(yz)] }, h.ctx);
    assertClose(gz!.dataSync(), [c.df(-1e-300), c.df(-1e-300)], 1e-6, 0, `${c.op} gradient at 0 (PyTorch: the x ≤ 0 branch)`);
    tf.dispose([zero, yz, gz!]);

    const bOut = tf.tensor(uniform(SHAPE, 12, -2, 2), SHAPE);
    const rho = 0.5;
    const res = h.rule.inverse!({ inputs: [x], outputs: [y], bOut: [bOut], settings: { rho, atol: 0, btol: 0, maxIter: 0, powerIterations: 0 } }, h.ctx);
    const j = Array.from(v, c.df);
    const lambda = rho * Math.max(...j.map(Math.abs));
    const yv = y.dataSync(),
      bo = bOut.dataSync();
    assertClose(
      res.b[0]!.dataSync(),
      Array.from(v, (xi, i) => xi + (j[i] * (bo[i] - yv[i])) / (j[i] ** 2 + lambda ** 2)),
      1e-5,
      1e-6,
      `${c.op} inverse`,
    );
    assert.equal(res.solver?.method, 'diagonal');
    const same = h.rule.inverse!({ inputs: [x], outputs: [y], bOut: [y], settings: { rho, atol: 0, btol: 0, maxIter: 0, powerIterations: 0 } }, h.ctx);
    assert.deepEqual(Array.from(same.b[0]!.dataSync()), Array.from(x.dataSync()), `${c.op}: B_out = A_out gives A_in`);
    tf.dispose([y, bOut, res.b[0]!, same.b[0]!]);
  } finally {
    h.dispose();
    x.dispose();
  }
}
