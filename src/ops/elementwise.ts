/**
 * Add, Sub, Mul, Div with numpy broadcasting. Each gradient is summed back over the axes its operand
 * was broadcast along; constant operands get none.
 *
 * NAFlow inverses (docs/spec.md §5), with r = B_out − A_out:
 *
 * * Add / Sub: the minimum-norm split. The activation operands x_k (signs s_k = ±1, broadcast operators
 *   E_k) get x_k + d_k with d = argmin Σ‖d_k‖² subject to Σ s_k E_k d_k = r (least squares in r where no
 *   exact split exists). With equal shapes that is d_k = s_k·r/n. **[decision]** With broadcasting it
 *   is the exact minimum-norm solution d_k = s_k E_kᵀ μ, (Σ E_k E_kᵀ) μ = r: each E_k E_kᵀ is m_k times
 *   the "mean over the operand's broadcast axes" projector; these projectors commute, so μ is
 *   computed exactly on their common eigenspaces (per axis: the mean, or the deviation from it), e.g.
 *   for x [N,H,W,C] + b [N,1,1,C]: d_b = Σ_{H,W} r / (1 + H·W), d_x = r − d_b (broadcast).
 *   A constant operand (a bias) gets nothing, a lone activation operand the whole correction.
 * * Mul **[decision]**: the gate operand s — the one broadcast over the other (the smaller one if both
 *   are), or else the one the gate pass marked (produced by an op with the role `gate`, Sigmoid,
 *   HardSigmoid, Softmax, looking through layout ops: ops/gate-pass.ts) — is held at its forward value and gives no estimate (null); the other operand x gets
 *   the damped least-squares correction of y = s ⊙ E x. Its Jacobian s⊙E has disjoint columns, so the
 *   solution is closed form: d = Eᵀ(s·r) / (Eᵀ(s²) + λ²), λ = ρ·σ_max = ρ·√max Eᵀ(s²); without
 *   broadcasting that is the spec's s·Δ/(s² + λ²), λ = ρ·max|s| (`diagonalCorrection`). Mul by a
 *   constant c is the same rule with s = c. Two same-shape activation operands with no gate: both move,
 *   by the damped least-squares solution of the joint linearisation [diag(b), diag(a)]:
 *   d_a = b·r/(a² + b² + λ²), d_b = a·r/(a² + b² + λ²), λ = ρ·max √(a² + b²).
 * * Div: by a constant (or by an activation, which is then held like a gate **[decision]**) the
 *   numerator gets the Mul rule with s = 1/b; a constant over an activation, c/x, moves x with the
 *   diagonal rule j = −y/x.
 */
import * as tf from '@tensorflow/tfjs-core';
import { markedGate } from './gate-pass.js';
import { registerOp, type InverseArgs, type InverseResult, type JvpArgs, type OnnxRule, type OpContext, type SolverStats, Unemittable } from './registry.js';
import { diagonalCorrection } from './least-squares.js';
import { activationIndices, broadcastAxes, broadcastShapes, expandTo, isConst, onlyAt, sameDims, sumToShape } from './util.js';

type Partials = (a: tf.Tensor, b: tf.Tensor, y: tf.Tensor, dy: tf.Tensor) => [() => tf.Tensor, () => tf.Tensor];
type Jvp = (args: JvpArgs, ctx: OpContext) => tf.Tensor[];
type Inverse = (args: InverseArgs, ctx: OpContext) => InverseResult;

/** The inverse and its line in the op table. */
interface BinaryInverse {
  inverse: Inverse;
  inverseRule: string;
}

function binary(op: string, fwd: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, partials: Partials, jvp: Jvp, inv: BinaryInverse, onnx?: OnnxRule): void {
  const { inverse, inverseRule } = inv;
  registerOp({
    op,
    inverseRule,
    onnx,
    forward: (inputs) => [fwd(inputs[0], inputs[1])],
    vjp: ({ inputs, outputs, dys }, ctx: OpContext) => {
      const dy = dys[0];
      const [a, b] = inputs;
      if (!dy) return [null, null];
      const [da, db] = partials(a, b, outputs[0], dy);
      return [isConst(ctx, 0) ? null : tf.tidy(() => sumToShape(da(), a.shape)), isConst(ctx, 1) ? null : tf.tidy(() => sumToShape(db(), b.shape))];
    },
    jvp,
    inverse,
    inferShape: (shapes) => [broadcastShapes(shapes[0], shapes[1])],
  });
}

/** Σ_k term_k(t_k) over the inputs that have a tangent, broadcast to the output shape. */
function sumTerms(args: JvpArgs, terms: Array<(t: tf.Tensor) => tf.Tensor>): tf.Tensor[] {
  const out = args.outputs[0].shape;
  return [
    tf.tidy(() => {
      let y: tf.Tensor | null = null;
      args.tangents.forEach((t, i) => {
        if (!t || !terms[i]) return;
        const v = terms[i](t);
        y = y ? tf.add(y, v) : v;
      });
      return y ? expandTo(y, out) : tf.zeros(out);
    }),
  ];
}

/* ---- Add / Sub: minimum-norm split ---- */

/**
 * d_k (one per operand shape, sign s_k) of minimum Σ‖d_k‖² with Σ s_k E_k d_k = r in the least-squares
 * sense (see the file comment).
 */
export function minNormSplit(r: tf.Tensor, shapes: number[][], signs: number[]): tf.Tensor[] {
  return tf.tidy(() => {
    const out = r.shape;
    const S = shapes.map((s) => broadcastAxes(s, out));
    const n = shapes.length;
    if (S.every((s) => s.length === 0)) return signs.map((sg) => tf.mul(r, sg / n));
    const U = [...new Set(S.flat())].sort((p, q) => p - q);
    const m = S.map((s) => s.reduce((p, ax) => p * out[ax], 1));
    const masks = S.map((s) => s.reduce((bits, ax) => bits | (1 << U.indexOf(ax)), 0));
    let mu: tf.Tensor | null = null;
    for (let T = 0; T < 1 << U.length; T++) {
      // eigenvalue of Σ E_k E_kᵀ on the component "mean along the axes in T, deviation along the rest"
      let lambda = 0;
      masks.forEach((mk, k) => {
        if ((mk & ~T) === 0) lambda += m[k];
      });
      if (lambda === 0) continue;
      let q = r;
      U.forEach((ax, j) => {
        const mean = tf.mean(q, ax, true);
        q = T & (1 << j) ? mean : tf.sub(q, mean);
      });
      const part = tf.div(q, lambda);
      mu = mu ? tf.add(mu, part) : part;
    }
    const full = mu ? expandTo(mu, out) : tf.zeros(out);
    return shapes.map((s, k) => tf.mul(sumToShape(full, s), signs[k]));
  });
}

function addSubInverse(sign1: 1 | -1): Inverse {
  return ({ inputs, outputs, bOut }, ctx) => {
    const bo = bOut[0];
    const acts = activationIndices(ctx, inputs.length);
    const b: Array<tf.Tensor | null> = inputs.map(() => null);
    if (!bo || !acts.length) return { b };
    const signs = acts.map((i) => (i === 1 ? sign1 : 1));
    const ds = tf.tidy(() =>
      minNormSplit(
        tf.sub(bo, outputs[0]),
        acts.map((i) => inputs[i].shape),
        signs,
      ),
    );
    acts.forEach((i, k) => {
      b[i] = tf.add(inputs[i], ds[k]);
      ds[k].dispose();
    });
    return { b };
  };
}

/* ---- Mul / Div: gates and diagonal rules ---- */

/**
 * The damped least-squares correction of y = j ⊙ E x (j output-shaped, E the broadcast of x): JᵀJ is
 * diagonal, so d = Eᵀ(j·r)/(Eᵀ(j²) + λ²), λ = ρ·√max Eᵀ(j²). `j` is consumed.
 */
function scaledCorrection(x: tf.Tensor, y: tf.Tensor, bOut: tf.Tensor, j: tf.Tensor, rho: number): { b: tf.Tensor; solver: SolverStats } {
  if (sameDims(x.shape, y.shape)) return diagonalCorrection(x, y, bOut, j, rho);
  const col = tf.tidy(() => sumToShape(tf.square(j), x.shape));
  const sigma = Math.sqrt(tf.tidy(() => tf.max(col).dataSync()[0]));
  const lambda = rho * sigma;
  const b = tf.tidy(() => {
    const num = sumToShape(tf.mul(j, tf.sub(bOut, y)), x.shape);
    const denom = tf.add(col, lambda * lambda);
    return tf.add(x, tf.where(tf.greater(denom, 0), tf.div(num, tf.maximum(denom, 1e-30)), tf.zerosLike(x)));
  });
  col.dispose();
  j.dispose();
  return { b, solver: { method: 'diagonal', iterations: 0, relResidual: NaN, damping: lambda, sigmaMax: sigma, stop: 'closed form' } };
}

/** Which operand of a product of two activations is the gate (held), or −1 when none is. */
export function gateOperand(inputs: tf.Tensor[], outShape: number[], ctx: Pick<OpContext, 'node' | 'graph'>): number {
  const total = outShape.reduce((p, d) => p * d, 1);
  const broadcast = [0, 1].filter((i) => inputs[i].size < total);
  if (broadcast.length === 1) return broadcast[0];
  if (broadcast.length === 2) {
    if (inputs[0].size !== inputs[1].size) return inputs[0].size < inputs[1].size ? 0 : 1;
    throw new Error(
      `node '${ctx.node.name}' (${ctx.node.sourceOp ?? ctx.node.op}): both operands are broadcast and equally large; naflow cannot tell which one gates the other`,
    );
  }
  return markedGate(ctx.graph, ctx.node);
}

/** The joint damped rule for a · b with both operands moving (same shapes, no gate). */
function jointProduct(a: tf.Tensor, bb: tf.Tensor, y: tf.Tensor, bOut: tf.Tensor, rho: number): { b: [tf.Tensor, tf.Tensor]; solver: SolverStats } {
  const n2 = tf.tidy(() => tf.add(tf.square(a), tf.square(bb)));
  const sigma = Math.sqrt(tf.tidy(() => tf.max(n2).dataSync()[0]));
  const lambda = rho * sigma;
  const [da, db] = tf.tidy(() => {
    const denom = tf.add(n2, lambda * lambda);
    const ok = tf.greater(denom, 0);
    const w = tf.where(ok, tf.div(tf.sub(bOut, y), tf.maximum(denom, 1e-30)), tf.zerosLike(y));
    return [tf.add(a, tf.mul(bb, w)), tf.add(bb, tf.mul(a, w))];
  });
  n2.dispose();
  return { b: [da, db], solver: { method: 'diagonal', iterations: 0, relResidual: NaN, damping: lambda, sigmaMax: sigma, stop: 'closed form' } };
}

const mulInverse: Inverse = ({ inputs, outputs, bOut, settings }, ctx) => {
  const bo = bOut[0];
  const y = outputs[0];
  const acts = activationIndices(ctx, 2);
  if (!bo || !acts.length) return { b: [null, null] };
  let x: number;
  if (acts.length === 1) x = acts[0];
  else {
    const gate = gateOperand(inputs, y.shape, ctx);
    if (gate < 0) {
      const { b, solver } = jointProduct(inputs[0], inputs[1], y, bo, settings.rho);
      return { b, solver };
    }
    x = 1 - gate;
  }
  const j = tf.tidy(() => expandTo(inputs[1 - x], y.shape));
  const { b, solver } = scaledCorrection(inputs[x], y, bo, j, settings.rho);
  return { b: onlyAt(2, x, b), solver };
};

const divInverse: Inverse = ({ inputs, outputs, bOut, settings }, ctx) => {
  const bo = bOut[0];
  const y = outputs[0];
  const acts = activationIndices(ctx, 2);
  if (!bo || !acts.length) return { b: [null, null] };
  const x = acts.includes(0) ? 0 : 1;
  // numerator: y = (1/b) ⊙ a; denominator alone (c / x): j = −c/x² = −y/x
  const j = tf.tidy(() => expandTo(x === 0 ? tf.div(1, inputs[1]) : tf.neg(tf.div(y, inputs[1])), y.shape));
  const { b, solver } = scaledCorrection(inputs[x], y, bo, j, settings.rho);
  return { b: onlyAt(2, x, b), solver };
};

/**
 * ONNX form of Add for two same-shape activations (residual joins), or an activation plus a constant
 * scalar; broadcasting joins are left to the per-op path.
 */
const onnxAdd: OnnxRule = {
  forward: (e, node, { ins, inShapes }) => {
    const [a, b] = ins;
    if (a && b) {
      if (inShapes[0].join() !== inShapes[1].join()) throw new Unemittable(`Add '${node.name}': broadcasting join`);
      return [e.op('Add', [a, b])];
    }
    const k = a ? 1 : 0;
    const c = e.constant(node.inputs[k]);
    if (c?.size !== 1 || !ins[1 - k]) throw new Unemittable(`Add '${node.name}': a constant that is not a scalar`);
    return [e.op('Add', [ins[1 - k]!, e.float(c.dataSync() as Float32Array, [])])];
  },
  vjp: (_e, _node, { ins, dys }) => ins.map((v) => (v ? dys[0] : undefined)),
};

const SPLIT = 'minimum-norm split of the correction';
binary(
  'Add',
  tf.add,
  (_a, _b, _y, dy) => [() => dy, () => dy],
  (args) => sumTerms(args, [(t) => t, (t) => t]),
  { inverse: addSubInverse(1), inverseRule: SPLIT },
  onnxAdd,
);
binary(
  'Sub',
  tf.sub,
  (_a, _b, _y, dy) => [() => dy, () => tf.neg(dy)],
  (args) => sumTerms(args, [(t) => t, (t) => tf.neg(t)]),
  { inverse: addSubInverse(-1), inverseRule: SPLIT },
);
binary(
  'Mul',
  tf.mul,
  (a, b, _y, dy) => [() => tf.mul(dy, b), () => tf.mul(dy, a)],
  (args) => sumTerms(args, [(t) => tf.mul(t, args.inputs[1]), (t) => tf.mul(t, args.inputs[0])]),
  { inverse: mulInverse, inverseRule: 'gate held at its forward value; damped diagonal rule on the other operand' },
);
// d(a/b)/db = −a/b² = −y/b
binary(
  'Div',
  tf.div,
  (_a, b, y, dy) => [() => tf.div(dy, b), () => tf.neg(tf.div(tf.mul(dy, y), b))],
  (args) => sumTerms(args, [(t) => tf.div(t, args.inputs[1]), (t) => tf.neg(tf.div(tf.mul(t, args.outputs[0]), args.inputs[1]))]),
  { inverse: divInverse, inverseRule: 'damped diagonal rule on the numerator (an activation denominator is held like a gate); c / x: diagonal rule' },
);
