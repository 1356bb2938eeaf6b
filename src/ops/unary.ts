/**
 * The shape of every one-input elementwise op (the activations): forward f(x), VJP dy·f'(x, y), JVP
 * t·f'(x, y) and one of three NAFlow inverses. A new activation is one `registerOp(unary(…))` call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerOp, type InverseArgs, type InverseResult, type OnnxRule, type OpContext, type OpRoles, type OpRule, type VjpArgs } from './registry.js';
import { diagonalCorrection } from './least-squares.js';
import { sameShape } from './util.js';

/**
 * How a unary op inverts: 'identity' (B_in = B_out), 'diagonal' (the damped diagonal rule of docs/spec.md §5:
 * B_in = A_in + j·Δ/(j² + λ²) with j = f'(A_in), Δ = B_out − A_out, λ = ρ·max|j|), or an exact inverse
 * of (B_out, A_in, A_out).
 */
export type UnaryInverse<O extends string> = 'identity' | 'diagonal' | ((bOut: tf.Tensor, x: tf.Tensor, y: tf.Tensor, ctx: OpContext<O>) => tf.Tensor);

/** What `unary` needs besides the op: its formulas, its inverse and, optionally, roles and an ONNX form. */
export interface UnarySpec<O extends string> {
  fwd: (x: tf.Tensor, ctx: OpContext<O>) => tf.Tensor;
  /** f'(x) at the recorded point (x the input, y the output: whichever is cheaper) */
  dydx: (x: tf.Tensor, y: tf.Tensor, ctx: OpContext<O>) => tf.Tensor;
  inverse: UnaryInverse<O>;
  /** the line of the op table (docs/ops.md) */
  inverseRule: string;
  roles?: OpRoles<O>;
  onnx?: OnnxRule<O>;
}

/** The rule of a unary op (register it with `registerOp`). */
export function unary<O extends string>(op: O, spec: UnarySpec<O>): OpRule<O> {
  const { fwd, dydx, inverse: inv } = spec;
  return {
    op,
    inverseRule: spec.inverseRule,
    roles: spec.roles,
    onnx: spec.onnx,
    blockRole: 'pointwise',
    forward: (inputs, ctx) => [tf.tidy(() => fwd(inputs[0], ctx))],
    vjp: ({ inputs, outputs, dys }: VjpArgs, ctx) => {
      const dy = dys[0];
      return [dy ? tf.tidy(() => tf.mul(dy, dydx(inputs[0], outputs[0], ctx))) : null];
    },
    jvp: ({ inputs, outputs, tangents }, ctx) => [
      tf.tidy(() => (tangents[0] ? tf.mul(tangents[0], dydx(inputs[0], outputs[0], ctx)) : tf.zerosLike(outputs[0]))),
    ],
    inverse: ({ inputs, outputs, bOut, settings }: InverseArgs, ctx): InverseResult => {
      const bo = bOut[0];
      if (!bo) return { b: [null] };
      if (inv === 'identity') return { b: [bo.clone()] };
      if (inv === 'diagonal') {
        const j = tf.tidy(() => dydx(inputs[0], outputs[0], ctx));
        const { b, solver } = diagonalCorrection(inputs[0], outputs[0], bo, j, settings.rho);
        return { b: [b], solver };
      }
      return { b: [tf.tidy(() => inv(bo, inputs[0], outputs[0], ctx))] };
    },
    inferShape: sameShape,
  };
}

/** Register a unary op: the one call a rule file for a new activation makes. */
export function registerUnary<O extends string>(op: O, spec: UnarySpec<O>): void {
  registerOp(unary(op, spec));
}
