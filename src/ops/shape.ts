/**
 * Data-movement ops: Flatten, Reshape, Transpose, Concat, Dropout, Identity (Slice and Pad: slice-pad.ts).
 *
 * Their JVP is the op applied to the tangent. NAFlow inverses (docs/spec.md §5) are exact shape inverses:
 * reshape back, inverse permutation, split along the concat axis, pass-through for Dropout/Identity.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../ir/graph.js';
import { registerOp, Unemittable, type InverseArgs, type InverseResult, type JvpArgs, type OnnxEmitArgs, type OnnxEmitter, type OnnxRule } from './registry.js';
import { activation, storedAxis } from './onnx-emit.js';
import { isConst, normAxis, prodOrUnknown, sameShape } from './util.js';

/** Gradient of a pure reshape: dy back to the input's shape. */
const reshapeBack = ({ inputs, dys }: { inputs: tf.Tensor[]; dys: Array<tf.Tensor | null> }) => [
  dys[0] ? tf.reshape(dys[0], inputs[0].shape) : null,
  ...inputs.slice(1).map(() => null),
];

/** JVP of a single-input op that is linear in it: the op's own forward on the tangent. */
export const linearJvp =
  (fwd: (x: tf.Tensor) => tf.Tensor) =>
  ({ outputs, tangents }: JvpArgs) => [tangents[0] ? fwd(tangents[0]) : tf.zerosLike(outputs[0])];

/** Inverse of a pure reshape: B_out back to the input's shape. */
const reshapeInverse = ({ inputs, bOut }: InverseArgs): InverseResult => ({
  b: [bOut[0] ? tf.reshape(bOut[0], inputs[0].shape) : null, ...inputs.slice(1).map(() => null)],
});

/** ONNX Flatten's axis lies in [-r, r]. */
function flattenAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a > rank) throw new Error(`Flatten: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * ONNX form of a data-movement op that depends on the memory order: applied in the IR's (NHWC) order,
 * so stored rank-4 values are transposed in and out (onnxruntime cancels the adjacent transposes).
 */
export function onnxInIROrder<O extends string>(
  fwd: (e: OnnxEmitter, x: string, args: OnnxEmitArgs, node: Node<O>) => string,
  back: (e: OnnxEmitter, dy: string, args: OnnxEmitArgs, node: Node<O>) => string,
): OnnxRule<O> {
  return {
    forward: (e, node, args) => {
      const [inRank, outRank] = [args.inShapes[0].length, args.outShapes[0].length];
      return [e.fromIR(fwd(e, e.toIR(activation(node, args.ins, 0), inRank), args, node), outRank)];
    },
    vjp: (e, node, args) => {
      const dy = args.dys[0];
      if (!dy) return [];
      const [inRank, outRank] = [args.inShapes[0].length, args.outShapes[0].length];
      return [e.fromIR(back(e, e.toIR(dy, outRank), args, node), inRank)];
    },
  };
}

const reshapeTo = (e: OnnxEmitter, v: string, shape: number[]) => e.op('Reshape', [v, e.int64(shape)]);
const onnxReshape = onnxInIROrder(
  (e, x, { outShapes }) => reshapeTo(e, x, outShapes[0]),
  (e, dy, { inShapes }) => reshapeTo(e, dy, inShapes[0]),
);

const inversePerm = (perm: number[]) => {
  const inv = perm.slice();
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};

registerOp({
  op: 'Flatten',
  inverseRule: 'exact: reshape back',
  roles: { place: 'layout' },
  onnx: onnxReshape,
  forward: (inputs, ctx) => {
    const x = inputs[0];
    const axis = flattenAxis(ctx.node.attrs.axis, x.rank);
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    return [tf.reshape(x, [outer, x.size / Math.max(outer, 1)])];
  },
  vjp: reshapeBack,
  jvp: ({ outputs, tangents }) => [tangents[0] ? tf.reshape(tangents[0], outputs[0].shape) : tf.zerosLike(outputs[0])],
  inverse: reshapeInverse,
  inferShape: (shapes, ctx) => {
    const s = shapes[0];
    const axis = flattenAxis(ctx.node.attrs.axis, s.length);
    return [[prodOrUnknown(s.slice(0, axis)), prodOrUnknown(s.slice(axis))]];
  },
});

registerOp({
  op: 'Reshape',
  inverseRule: 'exact: reshape back',
  roles: { place: 'layout' },
  onnx: onnxReshape,
  forward: (inputs, ctx) => [tf.reshape(inputs[0], ctx.node.attrs.shape)],
  vjp: reshapeBack,
  jvp: ({ outputs, tangents }) => [tangents[0] ? tf.reshape(tangents[0], outputs[0].shape) : tf.zerosLike(outputs[0])],
  inverse: reshapeInverse,
  inferShape: (shapes, ctx) => {
    const target = ctx.node.attrs.shape.slice();
    const free = target.indexOf(-1);
    const size = prodOrUnknown(shapes[0]);
    // an unknown (batch) input dim keeps the -1 in the output
    if (free >= 0 && size >= 0) target[free] = size / target.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    return [target];
  },
});

registerOp({
  op: 'Transpose',
  inverseRule: 'exact: the inverse permutation',
  roles: { place: 'layout' },
  onnx: onnxInIROrder<'Transpose'>(
    (e, x, _args, node) => e.op('Transpose', [x], { perm: { ints: node.attrs.perm } }),
    (e, dy, _args, node) => e.op('Transpose', [dy], { perm: { ints: inversePerm(node.attrs.perm) } }),
  ),
  forward: (inputs, ctx) => [tf.transpose(inputs[0], ctx.node.attrs.perm)],
  vjp: ({ dys }, ctx) => {
    const perm = ctx.node.attrs.perm;
    const inv = perm.slice();
    perm.forEach((p, i) => (inv[p] = i));
    return [dys[0] ? tf.transpose(dys[0], inv) : null];
  },
  jvp: (args, ctx) => linearJvp((t) => tf.transpose(t, ctx.node.attrs.perm))(args),
  inverse: ({ bOut }, ctx) => {
    const perm = ctx.node.attrs.perm;
    const inv = perm.slice();
    perm.forEach((p, i) => (inv[p] = i));
    return { b: [bOut[0] ? tf.transpose(bOut[0], inv) : null] };
  },
  inferShape: (shapes, ctx) => [ctx.node.attrs.perm.map((p) => shapes[0][p])],
});

registerOp({
  op: 'Concat',
  inverseRule: 'exact: split along the axis',
  onnx: {
    forward: (e, node, { ins, inShapes }) => {
      const axis = storedAxis(node.attrs.axis, inShapes[0].length);
      return [
        e.op(
          'Concat',
          ins.map((_, i) => activation(node, ins, i)),
          { axis: { i: axis } },
        ),
      ];
    },
    vjp: (e, node, { dys, inShapes }) => {
      const dy = dys[0];
      if (!dy) return [];
      const rank = inShapes[0].length;
      const irAxis = normAxis(node.attrs.axis, rank);
      const sizes = inShapes.map((s) => s[irAxis]);
      return e.node('Split', [dy, e.int64(sizes)], { axis: { i: storedAxis(irAxis, rank) } }, sizes.length);
    },
  },
  forward: (inputs, ctx) => [tf.concat(inputs, normAxis(ctx.node.attrs.axis, inputs[0].rank))],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    const axis = normAxis(ctx.node.attrs.axis, inputs[0].rank);
    const parts = tf.split(
      dy,
      inputs.map((t) => t.shape[axis]),
      axis,
    );
    return parts.map((p, i) => {
      if (!isConst(ctx, i)) return p;
      p.dispose();
      return null;
    });
  },
  jvp: ({ inputs, tangents }, ctx) => {
    const axis = normAxis(ctx.node.attrs.axis, inputs[0].rank);
    return [
      tf.tidy(() =>
        tf.concat(
          inputs.map((x, i) => tangents[i] ?? tf.zerosLike(x)),
          axis,
        ),
      ),
    ];
  },
  // exact: split B_out along the axis (constants get none)
  inverse: ({ inputs, bOut }, ctx) => {
    const bo = bOut[0];
    if (!bo) return { b: inputs.map(() => null) };
    const axis = normAxis(ctx.node.attrs.axis, inputs[0].rank);
    const parts = tf.split(
      bo,
      inputs.map((t) => t.shape[axis]),
      axis,
    );
    return {
      b: parts.map((p, i) => {
        if (!isConst(ctx, i)) return p;
        p.dispose();
        return null;
      }),
    };
  },
  inferShape: (shapes, ctx) => {
    const axis = normAxis(ctx.node.attrs.axis, shapes[0].length);
    const out = shapes[0].slice();
    out[axis] = shapes.some((s) => s[axis] < 0) ? -1 : shapes.reduce((p, s) => p + s[axis], 0);
    return [out];
  },
});

/** Inference-time pass-through; an ONNX Dropout's optional mask output is all ones. */
function passThrough(op: 'Dropout' | 'Identity'): void {
  registerOp({
    op,
    inverseRule: 'exact: pass-through',
    roles: { place: 'layout' },
    onnx: {
      forward: (e, node, { ins }) => {
        if (node.outputs.length > 1 && node.outputs[1] !== '') throw new Unemittable(`${op} '${node.name}': mask output`);
        return [e.op('Identity', [activation(node, ins, 0)])];
      },
      vjp: (_e, _node, { dys }) => [dys[0]],
    },
    forward: (inputs, ctx) => {
      const outs = [inputs[0].clone()];
      if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '') outs.push(tf.onesLike(inputs[0]));
      return outs;
    },
    vjp: ({ inputs, dys }) => [dys[0] ? dys[0].clone() : null, ...inputs.slice(1).map(() => null)],
    jvp: ({ inputs, outputs, tangents }, ctx) => {
      const outs = [tangents[0] ? tangents[0].clone() : tf.zerosLike(inputs[0])];
      if (outputs.length > 1) outs.push(tf.zerosLike(outputs[1]));
      void ctx;
      return outs;
    },
    inverse: ({ inputs, bOut }) => ({ b: [bOut[0] ? bOut[0].clone() : null, ...inputs.slice(1).map(() => null)] }),
    inferShape: (shapes, ctx) => {
      const s = sameShape(shapes);
      return ctx.node.outputs.length > 1 ? [...s, shapes[0].slice()] : s;
    },
  });
}
passThrough('Dropout');
passThrough('Identity');
