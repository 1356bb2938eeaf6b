/** Helpers shared by the op rule files (no rules are registered here). */
import * as tf from '@tensorflow/tfjs-core';
import type { AnyNode, Graph, Shape } from '../ir/graph.js';
import type { OpContext } from './registry.js';

/** Whether input `i` of the node is a graph constant (constants never receive a gradient). */
export function isConst(ctx: { node: AnyNode; graph: Graph }, i: number): boolean {
  const name = ctx.node.inputs[i];
  return name === undefined || name === '' || ctx.graph.constants.has(name);
}

/** Input `i` is present (ONNX marks omitted optional inputs with ''). */
export function hasInput(ctx: { node: AnyNode }, i: number): boolean {
  const name = ctx.node.inputs[i];
  return name !== undefined && name !== '';
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** numpy broadcasting of static shapes; -1 (unknown) against 1 stays unknown, against k becomes k. */
export function broadcastShapes(...shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d === 1 || d === -1) d = v;
      else if (v !== -1 && v !== d) throw new Error(`shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
    }
    out.push(d);
  }
  return out;
}

/** Product of dims, -1 if any is unknown. */
export function prodOrUnknown(dims: number[]): number {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}

/** Sum a broadcast gradient back to an operand's shape (the adjoint of numpy broadcasting). */
export function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g.clone();
  return tf.tidy(() => {
    const lead = g.rank - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
    const s = axes.length ? tf.sum(g, axes) : g;
    return tf.reshape(s, shape);
  });
}

/**
 * Zero insertion along the spatial axes of an NHWC tensor: k-1 zeros between neighbours, none after the
 * last (the adjoint of a stride-k subsampling, used to turn strided backprops into stride-1 convs).
 */
export function zeroInsert2d(t: tf.Tensor4D, s: [number, number]): tf.Tensor4D {
  if (s[0] === 1 && s[1] === 1) return t.clone();
  return tf.tidy((): tf.Tensor4D => {
    const [n, h, w, c] = t.shape;
    const r = tf.reshape(t, [n, h, 1, w, 1, c]);
    const p = tf.pad(r, [
      [0, 0],
      [0, 0],
      [0, s[0] - 1],
      [0, 0],
      [0, s[1] - 1],
      [0, 0],
    ]);
    const full = tf.reshape(p, [n, h * s[0], w * s[1], c]);
    return tf.slice(full, [0, 0, 0, 0], [n, (h - 1) * s[0] + 1, (w - 1) * s[1] + 1, c]) as tf.Tensor4D;
  });
}

/** Zero insertion along one axis of any rank (adjoint of taking every k-th element). */
export function zeroInsertAxis(t: tf.Tensor, axis: number, k: number): tf.Tensor {
  if (k === 1) return t.clone();
  return tf.tidy(() => {
    const shp = t.shape;
    const n = shp[axis];
    const r = tf.reshape(t, [...shp.slice(0, axis + 1), 1, ...shp.slice(axis + 1)]);
    const pads: Array<[number, number]> = r.shape.map(() => [0, 0] as [number, number]);
    pads[axis + 1] = [0, k - 1];
    const full = tf.reshape(tf.pad(r, pads), [...shp.slice(0, axis), n * k, ...shp.slice(axis + 1)]);
    const size = full.shape.slice();
    size[axis] = (n - 1) * k + 1;
    return tf.slice(
      full,
      full.shape.map(() => 0),
      size,
    );
  });
}

/**
 * Pad (positive) or crop (negative) the H and W axes of an NHWC tensor by [top, bottom, left, right].
 * Used where a transposed conv asks for a negative padding.
 */
export function padOrCrop2d(t: tf.Tensor4D, p: [number, number, number, number], value = 0): tf.Tensor4D {
  const [top, bottom, left, right] = p;
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) {
    if (top + bottom + left + right === 0) return t.clone();
    return tf.pad(
      t,
      [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      value,
    );
  }
  return tf.tidy(() => {
    const [n, h, w, c] = t.shape;
    const ct = Math.max(0, -top),
      cb = Math.max(0, -bottom),
      cl = Math.max(0, -left),
      cr = Math.max(0, -right);
    const cropped = tf.slice(t, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]);
    return tf.pad(
      cropped,
      [
        [0, 0],
        [Math.max(0, top), Math.max(0, bottom)],
        [Math.max(0, left), Math.max(0, right)],
        [0, 0],
      ],
      value,
    );
  });
}

/**
 * Elements start, start+k, …, start+(count−1)·k along one axis. Built from slices and reshapes of rank
 * ≤ 4 only: tfjs-wasm's stridedSlice, and its slice/transpose above rank 4, are slow JS loops (≈25x).
 */
export function takeEvery(t: tf.Tensor, axis: number, start: number, count: number, k: number): tf.Tensor {
  return tf.tidy(() => {
    const shp = t.shape;
    const pre = shp.slice(0, axis).reduce((p, d) => p * d, 1),
      post = shp.slice(axis + 1).reduce((p, d) => p * d, 1);
    const n = shp[axis];
    const out = [...shp.slice(0, axis), count, ...shp.slice(axis + 1)];
    if (count <= 0) return tf.zeros(out, t.dtype);
    const t3 = tf.reshape(t, [pre, n, post]);
    if (k === 1) return tf.reshape(tf.slice(t3, [0, start, 0], [pre, count, post]), out);
    const need = count * k,
      avail = Math.min(need, n - start);
    let region = tf.slice(t3, [0, start, 0], [pre, avail, post]);
    if (avail < need)
      region = tf.pad(region, [
        [0, 0],
        [0, need - avail],
        [0, 0],
      ]);
    return tf.reshape(tf.slice(tf.reshape(region, [pre, count, k, post]), [0, 0, 0, 0], [pre, count, 1, post]), out);
  });
}

/** t broadcast to `shape` by adding zeros (tfjs-wasm's broadcastTo goes through a slow Tile). */
export function expandTo(t: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = shape.length - t.rank;
  const own = [...Array(lead).fill(1), ...t.shape];
  if (own.every((d, i) => d === shape[i])) return tf.reshape(t, shape);
  return tf.add(
    t,
    tf.zeros(
      shape.map((d, i) => (own[i] === 1 ? d : 1)),
      t.dtype,
    ),
  );
}

/** Output size of a strided, padded, dilated window op along one axis (-1 stays unknown). */
export function windowOut(inSize: number, k: number, s: number, d: number, padA: number, padB: number): number {
  if (inSize < 0) return -1;
  return Math.floor((inSize + padA + padB - ((k - 1) * d + 1)) / s) + 1;
}

/** The constant behind input i, if it is one. */
export function constOf(ctx: Pick<OpContext, 'node' | 'graph'>, i: number): tf.Tensor | undefined {
  const n = ctx.node.inputs[i];
  return n ? ctx.graph.constants.get(n) : undefined;
}

/** Same-shape elementwise ops: one output shaped like input 0. */
export const sameShape = (s: Shape[]): Shape[] => [s[0].slice()];

/* ---- shared pieces of the JVP and inverse rules (docs/spec.md §5) ---- */

/** The tangent of input i, or zeros shaped like `like` where it has none. */
export function tangentOr(t: tf.Tensor | null | undefined, like: number[]): tf.Tensor {
  return t ?? tf.zeros(like);
}

/** One entry per node input: `t` for input `i`, null for the others. */
export function onlyAt(n: number, i: number, t: tf.Tensor | null): Array<tf.Tensor | null> {
  return Array.from({ length: n }, (_, k) => (k === i ? t : null));
}

/** The indices of the activation (non-constant) inputs among the first n. */
export function activationIndices(ctx: { node: AnyNode; graph: Graph }, n: number): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => !isConst(ctx, i));
}

/** ‖t‖₂ read back as a number. */
export function l2(t: tf.Tensor): number {
  return tf.tidy(() => Math.sqrt(tf.sum(tf.square(t)).dataSync()[0]));
}

/** Whether two static shapes are equal. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The axes of `out` along which an operand of shape `s` is broadcast (missing leading axes included). */
export function broadcastAxes(s: readonly number[], out: readonly number[]): number[] {
  const lead = out.length - s.length;
  const axes: number[] = [];
  for (let i = 0; i < out.length; i++) if ((i < lead || s[i - lead] === 1) && out[i] !== 1) axes.push(i);
  return axes;
}
