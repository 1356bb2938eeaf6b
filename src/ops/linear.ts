/**
 * Gemm (dense layer, weight constant stored [in, out]) and general MatMul (numpy semantics: 1-D
 * promotion, broadcast batch dims). Transposed copies of constant matrices are prepared once because
 * transposeB matmuls are 5-8x slower on wasm — except for large matrices, where the copy would cost
 * more memory than the one backward product per explanation saves time (VGG16's first dense layer:
 * 400 MB for a few hundred milliseconds).
 *
 * Both have a JVP (they are linear in each operand) but no NAFlow inverse: they are head ops, and the
 * cascade stops at the last trunk tensor (a Gemm/MatMul inside the trunk gets the cascade's clear error).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from '../ir/graph.js';
import { registerOp, Unemittable, type OnnxEmitter } from './registry.js';
import { activation, constInput } from './onnx-emit.js';
import type { AnyNode } from '../ir/graph.js';

/** A constant rank-2 operand as an ONNX initializer (shared by the forward and the VJP). */
function onnxMatrix(e: OnnxEmitter, node: AnyNode, i: number): string {
  return e.shared(`${node.name}/matrix${i}`, () => {
    const w = constInput(e, node, i);
    if (w.rank !== 2) throw new Unemittable(`${node.op} '${node.name}': a rank-${w.rank} constant operand`);
    return e.float(w.dataSync() as Float32Array, w.shape);
  });
}

/** dy · Wᵀ (times alpha): Gemm with transB for a 2-D dy, so the weight is stored once. */
function onnxTimesTransposed(e: OnnxEmitter, node: AnyNode, dy: string, rank: number, alpha = 1): string {
  if (rank !== 2) throw new Unemittable(`${node.op} '${node.name}': a rank-${rank} activation`);
  return e.op('Gemm', [dy, onnxMatrix(e, node, 1)], { transB: { i: 1 }, alpha: { f: alpha } });
}

/** Only a rank-2 activation times a constant matrix. */
function checkOperands(node: AnyNode, ins: Array<string | undefined>, rank: number): string {
  if (rank !== 2) throw new Unemittable(`${node.op} '${node.name}': a rank-${rank} activation`);
  return activation(node, ins, 0);
}
import { broadcastShapes, constOf, expandTo, hasInput, isConst, sumToShape } from './util.js';

/** Above this many elements (16 MB) a constant matrix gets no transposed copy. */
const MAX_TRANSPOSED_COPY = 1 << 22;

const swapLast = (t: tf.Tensor) => {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return tf.transpose(t, perm);
};

registerOp({
  op: 'Gemm',
  inverseRule: 'none: a head op (the cascade starts below it)',
  roles: { place: 'head', weightInput: 1 },
  prepare: (ctx) => {
    const w = constOf(ctx, 1);
    const out: Record<string, tf.Tensor> = {};
    if (w && w.size <= MAX_TRANSPOSED_COPY) out.wt = swapLast(w);
    return out;
  },
  forward: (inputs, ctx) => {
    const { alpha, beta } = ctx.node.attrs;
    return [
      tf.tidy(() => {
        let y = tf.matMul(inputs[0], inputs[1]);
        if (alpha !== 1) y = tf.mul(y, alpha);
        if (hasInput(ctx, 2) && beta !== 0) y = tf.add(y, beta === 1 ? inputs[2] : tf.mul(inputs[2], beta));
        return y;
      }),
    ];
  },
  onnx: {
    forward: (e, node, { ins, inShapes }) => {
      const x = checkOperands(node, ins, inShapes[0].length);
      const { alpha, beta } = node.attrs;
      let y = e.op('MatMul', [x, onnxMatrix(e, node, 1)]);
      if (alpha !== 1) y = e.op('Mul', [y, e.float([alpha], [])]);
      if (node.inputs[2] && beta !== 0) {
        const c = constInput(e, node, 2);
        const cv = e.float(
          Float32Array.from(c.dataSync(), (v) => v * beta),
          c.shape,
        );
        y = e.op('Add', [y, cv]);
      }
      return [y];
    },
    vjp: (e, node, { dys, outShapes }) => (dys[0] ? [onnxTimesTransposed(e, node, dys[0], outShapes[0].length, node.attrs.alpha)] : []),
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    const { alpha, beta } = ctx.node.attrs;
    const [x, w, c] = inputs;
    const scaled = (t: tf.Tensor) => (alpha === 1 ? t : tf.mul(t, alpha));
    const dx = isConst(ctx, 0) ? null : tf.tidy(() => scaled(ctx.prepared?.wt ? tf.matMul(dy, ctx.prepared.wt) : tf.matMul(dy, w, false, true)));
    const dw = isConst(ctx, 1) ? null : tf.tidy(() => scaled(tf.matMul(x, dy, true, false)));
    const dc = !hasInput(ctx, 2) || isConst(ctx, 2) ? null : tf.tidy(() => sumToShape(tf.mul(dy, beta), c.shape));
    return hasInput(ctx, 2) ? [dx, dw, dc] : [dx, dw];
  },
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const { alpha, beta } = ctx.node.attrs;
    const [x, w] = inputs;
    const [tx, tw, tc] = tangents;
    return [
      tf.tidy(() => {
        let y = tf.zerosLike(outputs[0]);
        if (tx) y = tf.add(y, tf.mul(tf.matMul(tx, w), alpha));
        if (tw) y = tf.add(y, tf.mul(tf.matMul(x, tw), alpha));
        if (tc && beta !== 0) y = tf.add(y, tf.mul(tc, beta));
        return y;
      }),
    ];
  },
  inferShape: (shapes) => [[shapes[0][0], shapes[1][1]]],
});

/**
 * Operands promoted to rank ≥ 2 as numpy does for 1-D arguments, and broadcast to the common batch
 * shape where tfjs would get it wrong: it flattens the batch dims, so only a batch equal to the full
 * one or of size 1 broadcasts correctly.
 */
function promote(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const pa = a.rank === 1 ? tf.reshape(a, [1, a.shape[0]]) : a;
  const pb = b.rank === 1 ? tf.reshape(b, [b.shape[0], 1]) : b;
  const batch = broadcastShapes(pa.shape.slice(0, -2), pb.shape.slice(0, -2));
  const fix = (t: tf.Tensor) => {
    const tb = t.shape.slice(0, -2);
    const ok = tb.reduce((p, d) => p * d, 1) === 1 || (tb.length === batch.length && tb.every((d, i) => d === batch[i]));
    return ok ? t : expandTo(t, [...batch, ...t.shape.slice(-2)]);
  };
  return [fix(pa), fix(pb)];
}

function matmulShape(a: Shape, b: Shape): Shape {
  const pa = a.length === 1 ? [1, a[0]] : a;
  const pb = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcastShapes(pa.slice(0, -2), pb.slice(0, -2));
  const out = [...batch, pa[pa.length - 2], pb[pb.length - 1]];
  if (b.length === 1) out.splice(out.length - 1, 1);
  if (a.length === 1) out.splice(out.length - (b.length === 1 ? 1 : 2), 1);
  return out;
}

registerOp({
  op: 'MatMul',
  inverseRule: 'none: a head op (the cascade starts below it)',
  roles: { place: 'head', weightInput: 1 },
  prepare: (ctx) => {
    const out: Record<string, tf.Tensor> = {};
    const a = constOf(ctx, 0),
      b = constOf(ctx, 1);
    if (a && a.rank === 2 && a.size <= MAX_TRANSPOSED_COPY) out.at = swapLast(a);
    if (b && b.rank === 2 && b.size <= MAX_TRANSPOSED_COPY) out.bt = swapLast(b);
    return out;
  },
  onnx: {
    forward: (e, node, { ins, inShapes }) => [e.op('MatMul', [checkOperands(node, ins, inShapes[0].length), onnxMatrix(e, node, 1)])],
    vjp: (e, node, { dys, outShapes }) => (dys[0] ? [onnxTimesTransposed(e, node, dys[0], outShapes[0].length)] : []),
  },
  forward: (inputs) => [
    tf.tidy(() => {
      const [a, b] = inputs;
      const [pa, pb] = promote(a, b);
      return tf.reshape(tf.matMul(pa, pb), matmulShape(a.shape, b.shape));
    }),
  ],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    const [a, b] = inputs;
    if (!dy) return [null, null];
    const grad = (i: 0 | 1) =>
      tf.tidy(() => {
        const [pa, pb] = promote(a, b);
        const outShape = [...broadcastShapes(pa.shape.slice(0, -2), pb.shape.slice(0, -2)), pa.shape[pa.rank - 2], pb.shape[pb.rank - 1]];
        const g = tf.reshape(dy, outShape);
        const p = ctx.prepared;
        const full =
          i === 0
            ? b.rank === 2 && p?.bt
              ? tf.matMul(g, p.bt)
              : tf.matMul(g, pb, false, true)
            : a.rank === 2 && p?.at
              ? tf.matMul(p.at, g)
              : tf.matMul(pa, g, true, false);
        const own = i === 0 ? (a.rank === 1 ? [1, a.shape[0]] : a.shape) : b.rank === 1 ? [b.shape[0], 1] : b.shape;
        return tf.reshape(sumToShape(full, own), (i === 0 ? a : b).shape);
      });
    return [isConst(ctx, 0) ? null : grad(0), isConst(ctx, 1) ? null : grad(1)];
  },
  jvp: ({ inputs, outputs, tangents }) => {
    const [a, b] = inputs;
    const [ta, tb] = tangents;
    const mm = (p: tf.Tensor, q: tf.Tensor) => {
      const [pp, pq] = promote(p, q);
      return tf.reshape(tf.matMul(pp, pq), matmulShape(p.shape, q.shape));
    };
    return [
      tf.tidy(() => {
        let y = tf.zerosLike(outputs[0]);
        if (ta) y = tf.add(y, mm(ta, b));
        if (tb) y = tf.add(y, mm(a, tb));
        return y;
      }),
    ];
  },
  inferShape: (shapes) => [matmulShape(shapes[0], shapes[1])],
});
