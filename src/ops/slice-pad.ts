/**
 * Slice and Pad: data movement that picks or adds cells (the helpers they share with the other shape ops live in shape.ts).
 *
 * Their JVP is the op applied to the tangent (a constant Pad's fill value excluded). NAFlow inverses
 * (docs/spec.md §5): crop for a constant Pad, as in the spec's table. Beyond it:
 * * Slice **[decision]**: the BPFM is scattered back into the forward input; positions the slice did not
 *   pick keep their forward value (the slice says nothing about them; their importance through this
 *   path is zero anyway).
 * * Pad in reflect/edge mode: the least-squares inverse, each input cell gets the mean of its copies'
 *   corrections (exact when B_out is a padded tensor); cells a negative pad cropped away keep their
 *   forward value, as for Slice.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node, PadAttrs, SliceAttrs } from '../ir/graph.js';
import { registerOp, Unemittable, type OnnxEmitter } from './registry.js';
import { linearJvp, onnxInIROrder } from './shape.js';
import { normAxis, takeEvery, zeroInsertAxis } from './util.js';

interface AxisSlice {
  axis: number;
  lo: number;
  count: number;
  step: number;
}

/**
 * ONNX Slice semantics per axis (negative starts/ends count from the end, clamping differs for negative
 * steps) resolved to the lowest selected index, the count and the step.
 */
function resolveSlice(a: SliceAttrs, shape: number[]): AxisSlice[] {
  return a.axes.map((ax, i) => {
    const axis = normAxis(ax, shape.length);
    const dim = shape[axis];
    const step = a.steps[i] ?? 1;
    if (step === 0) throw new Error('Slice: step 0');
    let start = a.starts[i],
      end = a.ends[i];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    let count: number;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
      count = Math.max(0, Math.ceil((end - start) / step));
      return { axis, lo: start, count, step };
    }
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
    count = Math.max(0, Math.ceil((start - end) / -step));
    return { axis, lo: start + (count - 1) * step, count, step };
  });
}

/** The slice of x (positive-step slice from the lowest index, then the negative-step axes reversed). */
function sliceOf(x: tf.Tensor, sl: AxisSlice[]): tf.Tensor {
  return tf.tidy(() => {
    const begin = x.shape.map(() => 0),
      size = x.shape.slice();
    for (const s of sl) {
      begin[s.axis] = s.lo;
      size[s.axis] = Math.abs(s.step) === 1 ? s.count : x.shape[s.axis] - s.lo;
    }
    let y = tf.slice(x, begin, size);
    for (const s of sl) if (Math.abs(s.step) > 1) y = takeEvery(y, s.axis, 0, s.count, Math.abs(s.step));
    const rev = sl.filter((s) => s.step < 0).map((s) => s.axis);
    return rev.length ? tf.reverse(y, rev) : y.clone();
  });
}

/** The adjoint of the slice: un-reverse, zero-insert between the picked elements, pad back to x's extent. */
function sliceAdjoint(dy: tf.Tensor, x: tf.Tensor, sl: AxisSlice[]): tf.Tensor {
  return tf.tidy(() => {
    if (sl.some((s) => s.count === 0)) return tf.zerosLike(x);
    const rev = sl.filter((s) => s.step < 0).map((s) => s.axis);
    let g = rev.length ? tf.reverse(dy, rev) : dy;
    const pads: Array<[number, number]> = x.shape.map(() => [0, 0]);
    for (const s of sl) {
      g = zeroInsertAxis(g, s.axis, Math.abs(s.step));
      const span = (s.count - 1) * Math.abs(s.step) + 1;
      pads[s.axis] = [s.lo, x.shape[s.axis] - s.lo - span];
    }
    return tf.pad(g, pads);
  });
}

/**
 * For every element of a tensor of shape `outShape` (row-major), the flat row-major index into a tensor
 * of shape `srcShape` given by `coord(axis, i)` per axis (−1: outside, the element maps nowhere).
 */
function flatIndices(outShape: number[], srcShape: number[], coord: (axis: number, i: number) => number): number[] {
  const strides = srcShape.map((_, a) => srcShape.slice(a + 1).reduce((p, d) => p * d, 1));
  const perAxis = outShape.map((d, a) => Array.from({ length: d }, (_, i) => coord(a, i)));
  const out: number[] = [];
  const walk = (a: number, base: number, valid: boolean) => {
    if (a === outShape.length) return void out.push(valid ? base : -1);
    for (const c of perAxis[a]) walk(a + 1, base + Math.max(c, 0) * strides[a], valid && c >= 0);
  };
  walk(0, 0, true);
  return out;
}

/** Gather / scatter along precomputed flat IR-order indices (ONNX form of Slice and constant Pad). */
const flatGather = (e: OnnxEmitter, v: string, idx: number[], shape: number[]) =>
  e.op('Reshape', [e.op('Gather', [e.op('Reshape', [v, e.int64([-1])]), e.int64(idx)], { axis: { i: 0 } }), e.int64(shape)]);
const flatScatter = (e: OnnxEmitter, v: string, idx: number[], shape: number[]) => {
  const zeros = e.op('ConstantOfShape', [e.int64([shape.reduce((p, d) => p * d, 1)])]);
  return e.op('Reshape', [e.op('ScatterElements', [zeros, e.int64(idx), e.op('Reshape', [v, e.int64([-1])])], { axis: { i: 0 } }), e.int64(shape)]);
};

/** Flat input index of every slice output element (IR order). */
function sliceIndices(node: Node<'Slice'>, inShape: number[], outShape: number[]): number[] {
  const sl = resolveSlice(node.attrs, inShape);
  const byAxis = new Map(sl.map((a) => [a.axis, a]));
  return flatIndices(outShape, inShape, (axis, i) => {
    const a = byAxis.get(axis);
    if (!a) return i;
    return a.step > 0 ? a.lo + i * a.step : a.lo + (a.count - 1 - i) * -a.step;
  });
}

/** Flat output index of every input element of a constant Pad with non-negative pads (IR order). */
function padIndices(node: Node<'Pad'>, inShape: number[], outShape: number[]): number[] {
  const a = node.attrs;
  if (a.mode !== 'constant' || a.pads.some(([b, e]) => b < 0 || e < 0)) throw new Unemittable(`Pad '${node.name}': ${a.mode} mode or cropping`);
  return flatIndices(inShape, outShape, (axis, i) => i + a.pads[axis][0]);
}

registerOp({
  op: 'Slice',
  inverseRule: 'exact: scattered back; cells not picked keep their forward value',
  onnx: onnxInIROrder<'Slice'>(
    (e, x, { inShapes, outShapes }, node) => flatGather(e, x, sliceIndices(node, inShapes[0], outShapes[0]), outShapes[0]),
    (e, dy, { inShapes, outShapes }, node) => flatScatter(e, dy, sliceIndices(node, inShapes[0], outShapes[0]), inShapes[0]),
  ),
  // no stridedSlice: it is a slow JS loop on wasm
  forward: (inputs, ctx) => [sliceOf(inputs[0], resolveSlice(ctx.node.attrs, inputs[0].shape))],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    const x = inputs[0];
    return [sliceAdjoint(dy, x, resolveSlice(ctx.node.attrs, x.shape)), ...inputs.slice(1).map(() => null)];
  },
  jvp: (args, ctx) => linearJvp((t) => sliceOf(t, resolveSlice(ctx.node.attrs, t.shape)))(args),
  // B_out scattered back into the forward input; the positions not picked keep their forward value
  inverse: ({ inputs, bOut }, ctx) => {
    const bo = bOut[0];
    const x = inputs[0];
    const b: Array<tf.Tensor | null> = inputs.map(() => null);
    if (!bo) return { b };
    b[0] = tf.tidy(() => {
      const sl = resolveSlice(ctx.node.attrs, x.shape);
      const picked = tf.greater(sliceAdjoint(tf.onesLike(bo), x, sl), 0);
      return tf.where(picked, sliceAdjoint(bo, x, sl), x);
    });
    return { b };
  },
  inferShape: (shapes, ctx) => {
    const s = shapes[0];
    const a = ctx.node.attrs;
    const out = s.slice();
    a.axes.forEach((ax, i) => {
      const axis = normAxis(ax, s.length);
      if (s[axis] < 0) return; // unknown (batch) extent stays unknown
      const one: SliceAttrs = { starts: [a.starts[i]], ends: [a.ends[i]], axes: [axis], steps: [a.steps[i] ?? 1] };
      out[axis] = resolveSlice(one, s)[0].count;
    });
    return [out];
  },
});

/** Edge padding along one axis: repeat the first/last slice. */
function edgePadAxis(t: tf.Tensor, axis: number, before: number, after: number): tf.Tensor {
  const n = t.shape[axis];
  const sliceAt = (i: number) => {
    const b = t.shape.map(() => 0),
      sz = t.shape.slice();
    b[axis] = i;
    sz[axis] = 1;
    return tf.slice(t, b, sz);
  };
  const reps = (k: number) => t.shape.map((_, i) => (i === axis ? k : 1));
  const parts: tf.Tensor[] = [];
  if (before > 0) parts.push(tf.tile(sliceAt(0), reps(before)));
  parts.push(t);
  if (after > 0) parts.push(tf.tile(sliceAt(n - 1), reps(after)));
  return parts.length === 1 ? t : tf.concat(parts, axis);
}

/** Adjoint of reflect/edge padding along one axis: fold the padded parts back onto their sources. */
function unpadAxis(g: tf.Tensor, axis: number, before: number, after: number, n: number, mode: 'reflect' | 'edge'): tf.Tensor {
  const part = (start: number, len: number) => {
    const b = g.shape.map(() => 0),
      sz = g.shape.slice();
    b[axis] = start;
    sz[axis] = len;
    return tf.slice(g, b, sz);
  };
  const padAlong = (t: tf.Tensor, lo: number, hi: number) => tf.pad(t, t.shape.map((_, i) => (i === axis ? [lo, hi] : [0, 0])) as Array<[number, number]>);
  let dx = part(before, n);
  if (before > 0) {
    const gb = part(0, before);
    dx = mode === 'edge' ? tf.add(dx, padAlong(tf.sum(gb, axis, true), 0, n - 1)) : tf.add(dx, padAlong(tf.reverse(gb, [axis]), 1, n - 1 - before)); // padded i ← source before−i
  }
  if (after > 0) {
    const ga = part(before + n, after);
    dx = mode === 'edge' ? tf.add(dx, padAlong(tf.sum(ga, axis, true), n - 1, 0)) : tf.add(dx, padAlong(tf.reverse(ga, [axis]), n - 1 - after, 1)); // source n−2−j
  }
  return dx;
}

/** Negative ONNX pads crop; split them off so the padding proper is non-negative. */
function splitPads(a: PadAttrs, shape: number[]) {
  const crop = a.pads.map(([b, e]) => [Math.max(0, -b), Math.max(0, -e)]);
  const pad = a.pads.map(([b, e]) => [Math.max(0, b), Math.max(0, e)] as [number, number]);
  const begin = crop.map((c) => c[0]);
  const size = shape.map((d, i) => d - crop[i][0] - crop[i][1]);
  return { begin, size, pad, cropped: crop.some((c) => c[0] || c[1]) };
}

/** The padded x, filled with `value` in constant mode. */
function padded(x: tf.Tensor, a: PadAttrs, value: number): tf.Tensor {
  if (a.pads.length !== x.rank) throw new Error(`Pad: ${a.pads.length} pad pairs for a rank-${x.rank} tensor`);
  return tf.tidy(() => {
    const { begin, size, pad, cropped } = splitPads(a, x.shape);
    let t = cropped ? tf.slice(x, begin, size) : x;
    if (a.mode === 'constant') return tf.pad(t, pad, value);
    if (a.mode === 'reflect') return tf.mirrorPad(t, pad, 'reflect');
    pad.forEach(([b, e], axis) => (t = edgePadAxis(t, axis, b, e)));
    return t === x ? t.clone() : t;
  });
}

/** The adjoint of the padding: dy folded back onto x's cells (zero on the cells a negative pad cropped). */
function padAdjoint(dy: tf.Tensor, x: tf.Tensor, a: PadAttrs): tf.Tensor {
  return tf.tidy(() => {
    const { begin, size, pad, cropped } = splitPads(a, x.shape);
    let g = dy;
    if (a.mode === 'constant')
      g = tf.slice(
        g,
        pad.map((p) => p[0]),
        size,
      );
    else pad.forEach(([b, e], axis) => (g = unpadAxis(g, axis, b, e, size[axis], a.mode as 'reflect' | 'edge')));
    if (cropped)
      g = tf.pad(
        g,
        begin.map((b, i) => [b, x.shape[i] - b - size[i]] as [number, number]),
      );
    return g === dy ? g.clone() : g;
  });
}

registerOp({
  op: 'Pad',
  inverseRule: 'exact crop (constant); least squares (reflect, edge)',
  onnx: onnxInIROrder<'Pad'>(
    (e, x, { inShapes, outShapes }, node) => {
      padIndices(node, inShapes[0], outShapes[0]); // covered configurations only
      const a = node.attrs;
      const pads = [...a.pads.map((p) => p[0]), ...a.pads.map((p) => p[1])];
      return e.op('Pad', [x, e.int64(pads), e.float([a.value], [])], { mode: { s: 'constant' } });
    },
    (e, dy, { inShapes, outShapes }, node) => flatGather(e, dy, padIndices(node, inShapes[0], outShapes[0]), inShapes[0]),
  ),
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    return [padded(inputs[0], a, a.value)];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return inputs.map(() => null);
    return [padAdjoint(dy, inputs[0], ctx.node.attrs), ...inputs.slice(1).map(() => null)];
  },
  // the fill value is a constant: J t pads with zeros
  jvp: (args, ctx) => linearJvp((t) => padded(t, ctx.node.attrs, 0))(args),
  inverse: ({ inputs, outputs, bOut }, ctx) => {
    const bo = bOut[0];
    const x = inputs[0];
    const b: Array<tf.Tensor | null> = inputs.map(() => null);
    if (!bo) return { b };
    const a = ctx.node.attrs;
    b[0] = tf.tidy(() => {
      const { pad, size, cropped } = splitPads(a, x.shape);
      // constant padding without crop: the exact inverse is the crop
      if (a.mode === 'constant' && !cropped)
        return tf.slice(
          bo,
          pad.map((p) => p[0]),
          size,
        );
      // otherwise the least-squares inverse: mean of the copies' corrections; cropped cells stay
      const count = padAdjoint(tf.onesLike(bo), x, a);
      const d = padAdjoint(tf.sub(bo, outputs[0]), x, a);
      return tf.add(x, tf.div(d, tf.maximum(count, 1)));
    });
    return { b };
  },
  inferShape: (shapes, ctx) => [shapes[0].map((d, i) => (d < 0 ? -1 : d + ctx.node.attrs.pads[i][0] + ctx.node.attrs.pads[i][1]))],
});
