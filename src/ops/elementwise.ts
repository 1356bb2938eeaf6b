/**
 * Add, Sub, Mul, Div with numpy broadcasting. Each gradient is summed back over the axes its operand
 * was broadcast along; constant operands get none.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerOp, type OpContext } from './registry.js';
import { broadcastShapes, isConst, sumToShape } from './util.js';

type Partials = (a: tf.Tensor, b: tf.Tensor, y: tf.Tensor, dy: tf.Tensor) => [() => tf.Tensor, () => tf.Tensor];

function binary(op: string, fwd: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, partials: Partials): void {
  registerOp({
    op,
    forward: (inputs) => [fwd(inputs[0], inputs[1])],
    vjp: ({ inputs, outputs, dys }, ctx: OpContext) => {
      const dy = dys[0];
      const [a, b] = inputs;
      if (!dy) return [null, null];
      const [da, db] = partials(a, b, outputs[0], dy);
      return [
        isConst(ctx, 0) ? null : tf.tidy(() => sumToShape(da(), a.shape)),
        isConst(ctx, 1) ? null : tf.tidy(() => sumToShape(db(), b.shape)),
      ];
    },
    inferShape: (shapes) => [broadcastShapes(shapes[0], shapes[1])],
  });
}

binary('Add', tf.add, (_a, _b, _y, dy) => [() => dy, () => dy]);
binary('Sub', tf.sub, (_a, _b, _y, dy) => [() => dy, () => tf.neg(dy)]);
binary('Mul', tf.mul, (a, b, _y, dy) => [() => tf.mul(dy, b), () => tf.mul(dy, a)]);
// d(a/b)/db = −a/b² = −y/b
binary('Div', tf.div, (_a, b, y, dy) => [() => tf.div(dy, b), () => tf.neg(tf.div(tf.mul(dy, y), b))]);
