/**
 * Pointwise activations and Softmax. Gradients at the kinks follow PyTorch: Relu/LeakyRelu/PRelu use
 * the negative-side slope at exactly 0; HardSigmoid and HardSwish use their strict interior; Clip
 * passes the gradient on the closed interval [min, max] (torch.clamp, and tfjs' clipByValue).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AxisAttrs, ClipAttrs, HardSigmoidAttrs, LeakyReluAttrs } from '../ir/graph.js';
import { registerOp, type OpContext, type OpRule, type VjpArgs } from './registry.js';
import { attrs, isConst, normAxis, sameShape, sumToShape } from './util.js';

/** A unary op whose vjp is dy·f'(x, y). */
function unary(
  op: string,
  fwd: (x: tf.Tensor, ctx: OpContext) => tf.Tensor,
  dydx: (x: tf.Tensor, y: tf.Tensor, ctx: OpContext) => tf.Tensor,
): OpRule {
  return {
    op,
    forward: (inputs, ctx) => [tf.tidy(() => fwd(inputs[0], ctx))],
    vjp: ({ inputs, outputs, dys }: VjpArgs, ctx) => {
      const dy = dys[0];
      return [dy ? tf.tidy(() => tf.mul(dy, dydx(inputs[0], outputs[0], ctx))) : null];
    },
    inferShape: sameShape,
  };
}

/** 1 inside the open interval (lo, hi), else 0. */
const inside = (t: tf.Tensor, lo: number, hi: number) =>
  tf.cast(tf.logicalAnd(tf.greater(t, lo), tf.less(t, hi)), 'float32');

registerOp(unary('Relu', (x) => tf.relu(x), (x) => tf.step(x)));

registerOp(
  unary(
    'LeakyRelu',
    (x, ctx) => tf.leakyRelu(x, attrs<LeakyReluAttrs>(ctx).alpha),
    (x, _y, ctx) => tf.step(x, attrs<LeakyReluAttrs>(ctx).alpha),
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
  ),
);

registerOp(unary('Sigmoid', (x) => tf.sigmoid(x), (_x, y) => tf.mul(y, tf.sub(1, y))));
registerOp(unary('Tanh', (x) => tf.tanh(x), (_x, y) => tf.sub(1, tf.square(y))));

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
  inferShape: sameShape,
});
