/**
 * Pointwise activations and Softmax. Gradients at the kinks follow PyTorch: Relu/LeakyRelu/PRelu use
 * the negative-side slope at exactly 0; HardSigmoid and HardSwish use their strict interior; Clip
 * passes the gradient on the closed interval [min, max] (torch.clamp, and tfjs' clipByValue).
 *
 * JVPs are t ⊙ f'(x) at the recorded point. NAFlow inverses (spec §5):
 * * Relu, Clip: identity on values (the abandonment comes from the mask [G ≠ 0]);
 * * LeakyRelu(α), PRelu(slope): exact, y ≥ 0 as is, y < 0 divided by the slope (for a slope ≤ 0 the
 *   branch is taken from the forward input's sign instead; a zero slope on the negative side keeps the
 *   forward input, whose importance is zero there anyway);
 * * Sigmoid, Tanh, HardSigmoid, HardSwish: the diagonal damped rule, j = f'(A_in);
 * * Softmax: none (a head op).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AnyNode, AxisAttrs, ClipAttrs, HardSigmoidAttrs, LeakyReluAttrs } from '../ir/graph.js';
import { registerOp, type InverseArgs, type InverseResult, type OnnxEmitter, type OnnxRule, type OpContext, type OpRule, type VjpArgs } from './registry.js';
import { activation } from './onnx-emit.js';
import { diagonalCorrection } from './least-squares.js';
import { attrs, isConst, normAxis, sameShape, sumToShape } from './util.js';

/**
 * How a unary op inverts: 'identity' (B_in = B_out), 'diagonal' (damped diagonal rule with j = f'(x)),
 * or an exact inverse of (B_out, A_in, A_out).
 */
type UnaryInverse = 'identity' | 'diagonal' | ((bOut: tf.Tensor, x: tf.Tensor, y: tf.Tensor, ctx: OpContext) => tf.Tensor);

/** A unary op whose vjp is dy·f'(x, y) and whose jvp is t·f'(x, y). */
function unary(
  op: string,
  fwd: (x: tf.Tensor, ctx: OpContext) => tf.Tensor,
  dydx: (x: tf.Tensor, y: tf.Tensor, ctx: OpContext) => tf.Tensor,
  inv: UnaryInverse,
  onnx?: OnnxRule,
): OpRule {
  return {
    op,
    onnx,
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

/**
 * Exact inverse of the piecewise-linear y = x (x > 0), slope·x (x ≤ 0), slope broadcast against y.
 * slope > 0: branch by the sign of y (a bijection). slope < 0: branch by the forward input's sign.
 * slope = 0: the negative side keeps the forward input.
 */
function leakyInverse(y: tf.Tensor, x: tf.Tensor, slope: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const s = tf.add(slope, tf.zerosLike(y));
    // (no tf.where on bool operands: tfjs-wasm 4.22's Select reads them as float32, out of bounds)
    const sPos = tf.greater(s, 0);
    const positive = tf.logicalOr(tf.logicalAnd(sPos, tf.greaterEqual(y, 0)), tf.logicalAnd(tf.logicalNot(sPos), tf.greater(x, 0)));
    const nonzero = tf.notEqual(s, 0);
    const neg = tf.where(nonzero, tf.div(y, tf.where(nonzero, s, tf.onesLike(s))), x);
    return tf.where(positive, y, neg);
  });
}

/** 1 inside the open interval (lo, hi), else 0. */
const inside = (t: tf.Tensor, lo: number, hi: number) =>
  tf.cast(tf.logicalAnd(tf.greater(t, lo), tf.less(t, hi)), 'float32');

/** ONNX form of a unary op whose VJP is dy where `pass(x)` holds, else `other(dy)` (0 by default). */
function onnxPiecewise(
  fwd: OnnxRule['forward'],
  pass: (e: OnnxEmitter, x: string, node: AnyNode) => string,
  other?: (e: OnnxEmitter, dy: string, node: AnyNode) => string,
): OnnxRule {
  return {
    forward: fwd,
    vjp: (e, node, { ins, dys }) => {
      const dy = dys[0];
      if (!dy) return [];
      return [e.op('Where', [pass(e, activation(node, ins, 0), node), dy, other ? other(e, dy, node) : e.float([0], [])])];
    },
  };
}

registerOp(
  unary('Relu', (x) => tf.relu(x), (x) => tf.step(x), 'identity',
    onnxPiecewise((e, node, { ins }) => [e.op('Relu', [activation(node, ins, 0)])], (e, x) => e.op('Greater', [x, e.float([0], [])]))),
);

registerOp(
  unary(
    'LeakyRelu',
    (x, ctx) => tf.leakyRelu(x, attrs<LeakyReluAttrs>(ctx).alpha),
    (x, _y, ctx) => tf.step(x, attrs<LeakyReluAttrs>(ctx).alpha),
    (bo, x, _y, ctx) => leakyInverse(bo, x, tf.scalar(attrs<LeakyReluAttrs>(ctx).alpha)),
    onnxPiecewise(
      (e, node, { ins }) => [e.op('LeakyRelu', [activation(node, ins, 0)], { alpha: { f: attrs<LeakyReluAttrs>({ node }).alpha } })],
      (e, x) => e.op('Greater', [x, e.float([0], [])]),
      (e, dy, node) => e.op('Mul', [dy, e.float([attrs<LeakyReluAttrs>({ node }).alpha], [])]),
    ),
  ),
);

registerOp(
  unary(
    'Clip',
    (x, ctx) => {
      const { min, max } = attrs<ClipAttrs>(ctx);
      return tf.clipByValue(x, min, max);
    },
    (x, _y, ctx) => {
      const { min, max } = attrs<ClipAttrs>(ctx);
      return tf.cast(tf.logicalAnd(tf.greaterEqual(x, min), tf.lessEqual(x, max)), 'float32');
    },
    'identity',
    onnxPiecewise(
      (e, node, { ins }) => {
        const { min, max } = attrs<ClipAttrs>({ node });
        return [e.op('Clip', [activation(node, ins, 0), e.float([min], []), e.float([max], [])])];
      },
      (e, x, node) => {
        const { min, max } = attrs<ClipAttrs>({ node });
        return e.op('And', [e.op('GreaterOrEqual', [x, e.float([min], [])]), e.op('LessOrEqual', [x, e.float([max], [])])]);
      },
    ),
  ),
);

registerOp(unary('Sigmoid', (x) => tf.sigmoid(x), (_x, y) => tf.mul(y, tf.sub(1, y)), 'diagonal'));
registerOp(unary('Tanh', (x) => tf.tanh(x), (_x, y) => tf.sub(1, tf.square(y)), 'diagonal'));

registerOp(
  unary(
    'HardSigmoid',
    (x, ctx) => {
      const { alpha, beta } = attrs<HardSigmoidAttrs>(ctx);
      return tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1);
    },
    (x, _y, ctx) => {
      const { alpha, beta } = attrs<HardSigmoidAttrs>(ctx);
      return tf.mul(inside(tf.add(tf.mul(x, alpha), beta), 0, 1), alpha);
    },
    'diagonal',
  ),
);

// x·relu6(x+3)/6; derivative (PyTorch): 0 for x < -3, x/3 + 1/2 for -3 ≤ x ≤ 3, 1 above.
registerOp(
  unary(
    'HardSwish',
    (x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1)),
    (x) => {
      const mid = tf.add(tf.div(x, 3), 0.5);
      const inMid = tf.cast(tf.logicalAnd(tf.greaterEqual(x, -3), tf.lessEqual(x, 3)), 'float32');
      return tf.add(tf.mul(mid, inMid), tf.cast(tf.greater(x, 3), 'float32'));
    },
    'diagonal',
  ),
);

// y = relu(x) + slope·min(x, 0): one formula for every slope shape that broadcasts against x.
registerOp({
  op: 'PRelu',
  forward: (inputs) => [tf.tidy(() => tf.add(tf.relu(inputs[0]), tf.mul(inputs[1], tf.minimum(inputs[0], 0))))],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null, null];
    const [x, slope] = inputs;
    const dx = tf.tidy(() => {
      const pos = tf.step(x);
      const g = tf.mul(dy, tf.add(pos, tf.mul(slope, tf.sub(1, pos))));
      return sumToShape(g, x.shape);
    });
    const ds = isConst(ctx, 1) ? null : tf.tidy(() => sumToShape(tf.mul(dy, tf.minimum(x, 0)), slope.shape));
    return [dx, ds];
  },
  jvp: ({ inputs, outputs, tangents }) => [
    tf.tidy(() => {
      const [x, slope] = inputs;
      const [t, ts] = tangents;
      let y = tf.zerosLike(outputs[0]);
      if (t) {
        const pos = tf.step(x);
        y = tf.add(y, tf.mul(t, tf.add(pos, tf.mul(slope, tf.sub(1, pos)))));
      }
      if (ts) y = tf.add(y, tf.mul(ts, tf.minimum(x, 0)));
      return y;
    }),
  ],
  // the slope gets no estimate
  inverse: ({ inputs, bOut }) => {
    const bo = bOut[0];
    return { b: [bo ? leakyInverse(bo, inputs[0], inputs[1]) : null, null] };
  },
  inferShape: sameShape,
});

registerOp({
  op: 'Softmax',
  forward: (inputs, ctx) => {
    const x = inputs[0];
    const axis = normAxis(attrs<AxisAttrs>(ctx).axis, x.rank);
    if (axis === x.rank - 1) return [tf.softmax(x)];
    return [
      tf.tidy(() => {
        const e = tf.exp(tf.sub(x, tf.max(x, axis, true)));
        return tf.div(e, tf.sum(e, axis, true));
      }),
    ];
  },
  // dx = y ⊙ (dy − Σ_axis dy ⊙ y)
  vjp: ({ outputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null];
    const y = outputs[0];
    const axis = normAxis(attrs<AxisAttrs>(ctx).axis, y.rank);
    return [tf.tidy(() => tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), axis, true))))];
  },
  // J t = y ⊙ (t − Σ_axis t ⊙ y) (the same symmetric Jacobian); no inverse: Softmax is a head op
  jvp: ({ outputs, tangents }, ctx) => {
    const y = outputs[0];
    const t = tangents[0];
    if (!t) return [tf.zerosLike(y)];
    const axis = normAxis(attrs<AxisAttrs>(ctx).axis, y.rank);
    return [tf.tidy(() => tf.mul(y, tf.sub(t, tf.sum(tf.mul(t, y), axis, true))))];
  },
  inferShape: sameShape,
});
