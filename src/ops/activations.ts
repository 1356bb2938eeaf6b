/**
 * Pointwise activations and Softmax. Gradients at the kinks follow PyTorch: Relu/LeakyRelu/PRelu use
 * the negative-side slope at exactly 0; HardSigmoid and HardSwish use their strict interior; Clip
 * passes the gradient on the closed interval [min, max] (torch.clamp, and tfjs' clipByValue).
 *
 * JVPs are t ⊙ f'(x) at the recorded point. NAFlow inverses (docs/spec.md §5):
 * * Relu, Clip: identity on values (the abandonment comes from the mask [G ≠ 0]);
 * * LeakyRelu(α), PRelu(slope): exact, y ≥ 0 as is, y < 0 divided by the slope (for a slope ≤ 0 the
 *   branch is taken from the forward input's sign instead; a zero slope on the negative side keeps the
 *   forward input, whose importance is zero there anyway);
 * * Sigmoid, Tanh, HardSigmoid, HardSwish: the diagonal damped rule, j = f'(A_in);
 * * Softmax: none (a head op).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../ir/graph.js';
import { registerOp, type OnnxEmitter, type OnnxRule } from './registry.js';
import { activation } from './onnx-emit.js';
import { registerUnary } from './unary.js';
import { isConst, normAxis, sameShape, sumToShape } from './util.js';

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
const inside = (t: tf.Tensor, lo: number, hi: number) => tf.cast(tf.logicalAnd(tf.greater(t, lo), tf.less(t, hi)), 'float32');

/** ONNX form of a unary op whose VJP is dy where `pass(x)` holds, else `other(dy)` (0 by default). */
function onnxPiecewise<O extends string>(
  fwd: OnnxRule<O>['forward'],
  pass: (e: OnnxEmitter, x: string, node: Node<O>) => string,
  other?: (e: OnnxEmitter, dy: string, node: Node<O>) => string,
): OnnxRule<O> {
  return {
    forward: fwd,
    vjp: (e, node, { ins, dys }) => {
      const dy = dys[0];
      if (!dy) return [];
      return [e.op('Where', [pass(e, activation(node, ins, 0), node), dy, other ? other(e, dy, node) : e.float([0], [])])];
    },
  };
}

const RELU_INVERSE = 'identity (abandonment comes from the mask)';

registerUnary('Relu', {
  fwd: (x) => tf.relu(x),
  dydx: (x) => tf.step(x),
  inverse: 'identity',
  inverseRule: RELU_INVERSE,
  roles: { rectifier: () => ({ negativeSlope: 0 }) },
  onnx: onnxPiecewise(
    (e, node, { ins }) => [e.op('Relu', [activation(node, ins, 0)])],
    (e, x) => e.op('Greater', [x, e.float([0], [])]),
  ),
});

registerUnary('LeakyRelu', {
  fwd: (x, ctx) => tf.leakyRelu(x, ctx.node.attrs.alpha),
  dydx: (x, _y, ctx) => tf.step(x, ctx.node.attrs.alpha),
  inverse: (bo, x, _y, ctx) => leakyInverse(bo, x, tf.scalar(ctx.node.attrs.alpha)),
  inverseRule: 'exact (y < 0 divided by the slope)',
  roles: { rectifier: (node) => ({ negativeSlope: node.attrs.alpha }) },
  onnx: onnxPiecewise(
    (e, node, { ins }) => [e.op('LeakyRelu', [activation(node, ins, 0)], { alpha: { f: node.attrs.alpha } })],
    (e, x) => e.op('Greater', [x, e.float([0], [])]),
    (e, dy, node) => e.op('Mul', [dy, e.float([node.attrs.alpha], [])]),
  ),
});

registerUnary('Clip', {
  fwd: (x, ctx) => {
    const { min, max } = ctx.node.attrs;
    return tf.clipByValue(x, min, max);
  },
  dydx: (x, _y, ctx) => {
    const { min, max } = ctx.node.attrs;
    return tf.cast(tf.logicalAnd(tf.greaterEqual(x, min), tf.lessEqual(x, max)), 'float32');
  },
  inverse: 'identity',
  inverseRule: RELU_INVERSE,
  // a Clip from 0 (Relu6) is a rectifier cut off at its maximum; other clips are not rectifiers
  roles: { rectifier: (node) => (node.attrs.min === 0 ? { negativeSlope: 0, max: node.attrs.max } : undefined) },
  onnx: onnxPiecewise(
    (e, node, { ins }) => {
      const { min, max } = node.attrs;
      return [e.op('Clip', [activation(node, ins, 0), e.float([min], []), e.float([max], [])])];
    },
    (e, x, node) => {
      const { min, max } = node.attrs;
      return e.op('And', [e.op('GreaterOrEqual', [x, e.float([min], [])]), e.op('LessOrEqual', [x, e.float([max], [])])]);
    },
  ),
});

const DIAGONAL = "damped diagonal rule, j = f'(x)";

registerUnary('Sigmoid', {
  fwd: (x) => tf.sigmoid(x),
  dydx: (_x, y) => tf.mul(y, tf.sub(1, y)),
  inverse: 'diagonal',
  inverseRule: DIAGONAL,
  roles: { gate: true, probabilities: true },
});
registerUnary('Tanh', { fwd: (x) => tf.tanh(x), dydx: (_x, y) => tf.sub(1, tf.square(y)), inverse: 'diagonal', inverseRule: DIAGONAL });

registerUnary('HardSigmoid', {
  fwd: (x, ctx) => {
    const { alpha, beta } = ctx.node.attrs;
    return tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1);
  },
  dydx: (x, _y, ctx) => {
    const { alpha, beta } = ctx.node.attrs;
    return tf.mul(inside(tf.add(tf.mul(x, alpha), beta), 0, 1), alpha);
  },
  inverse: 'diagonal',
  inverseRule: DIAGONAL,
  roles: { gate: true },
});

// x·relu6(x+3)/6; derivative (PyTorch): 0 for x < -3, x/3 + 1/2 for -3 ≤ x ≤ 3, 1 above.
registerUnary('HardSwish', {
  fwd: (x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1)),
  dydx: (x) => {
    const mid = tf.add(tf.div(x, 3), 0.5);
    const inMid = tf.cast(tf.logicalAnd(tf.greaterEqual(x, -3), tf.lessEqual(x, 3)), 'float32');
    return tf.add(tf.mul(mid, inMid), tf.cast(tf.greater(x, 3), 'float32'));
  },
  inverse: 'diagonal',
  inverseRule: DIAGONAL,
});

// y = relu(x) + slope·min(x, 0): one formula for every slope shape that broadcasts against x.
registerOp({
  op: 'PRelu',
  inverseRule: 'exact (y < 0 divided by the slope); the slope gets no estimate',
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
  inverseRule: 'none: an output op (the explained score is its input)',
  roles: { gate: true, probabilities: true },
  forward: (inputs, ctx) => {
    const x = inputs[0];
    const axis = normAxis(ctx.node.attrs.axis, x.rank);
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
    const axis = normAxis(ctx.node.attrs.axis, y.rank);
    return [tf.tidy(() => tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), axis, true))))];
  },
  // J t = y ⊙ (t − Σ_axis t ⊙ y) (the same symmetric Jacobian); no inverse: Softmax is a head op
  jvp: ({ outputs, tangents }, ctx) => {
    const y = outputs[0];
    const t = tangents[0];
    if (!t) return [tf.zerosLike(y)];
    const axis = normAxis(ctx.node.attrs.axis, y.rank);
    return [tf.tidy(() => tf.mul(y, tf.sub(t, tf.sum(tf.mul(t, y), axis, true))))];
  },
  inferShape: sameShape,
});
