/**
 * TF shape ops → naflow Identity / Reshape / Concat / Pad / Transpose / Slice (TF graphs are NHWC, so
 * axes carry over unchanged); Identity-like and float Cast nodes become aliases.
 */
import type { Shape } from '../../ir/graph.js';
import { normAxis, resolveReshape } from '../tfjs-common.js';
import { attrInt, attrInts, attrStr, attrType, tfDtype } from './attrs.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';
import { ConvertFallback } from './values.js';

/** Pass-through: an alias, or an Identity node where the TF node is a graph output. */
const identity: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  if (g.outputSet.has(n.name) && x.kind === 'act') g.final(n, 'Identity', [x.name], {}, xs);
  else g.alias(n, x);
  return true;
};

const cast: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  const d = tfDtype(attrType(n, 'DstT'));
  if (d !== 'float32' || g.b.dtypes.get(x.name) === 'int32') return false;
  if (g.outputSet.has(n.name)) g.final(n, 'Identity', [x.name], {}, xs);
  else g.alias(n, x);
  return true;
};

const reshape: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  const target = g.constInts(ins[1], n, 'the target shape');
  // a negative size other than -1 comes from shape arithmetic on the unknown batch
  if (target.some((d) => d < -1)) throw new ConvertFallback('reshape target computed from an unknown batch');
  const shape = resolveReshape(xs, target);
  const out = xs ? [xs[0] < 0 && shape[0] < 0 ? -1 : shape[0], ...shape.slice(1)] : undefined;
  g.final(n, 'Reshape', [x.name], { shape }, out);
  return true;
};

const squeeze: TfGraphHandler = (g, n, ins) => {
  const { x, xs, rank } = firstInput(g, ins);
  if (!xs) return false;
  let dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
  dims = dims.length ? dims.map((d) => normAxis(d, rank)) : xs.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  const out = xs.filter((_, i) => !dims.includes(i));
  g.final(n, 'Reshape', [x.name], { shape: [xs[0] < 0 ? -1 : out[0], ...out.slice(1)] }, out);
  return true;
};

const expandDims: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  if (!xs) return false;
  let d = g.constInts(ins[1], n, 'the axis')[0];
  if (d < 0) d += xs.length + 1;
  const out = [...xs.slice(0, d), 1, ...xs.slice(d)];
  g.final(n, 'Reshape', [x.name], { shape: out.map((v, i) => (i === 0 && v < 0 ? -1 : v)) }, out);
  return true;
};

const concat: TfGraphHandler = (g, n, ins) => {
  const parts = n.op === 'ConcatV2' ? ins.slice(0, -1) : ins.slice(1);
  const axisVal = n.op === 'ConcatV2' ? ins[ins.length - 1] : ins[0];
  const shapes = parts.map((p) => g.shape(p));
  const r = shapes[0]?.length;
  const axis = normAxis(g.constInts(axisVal, n, 'the axis')[0], r);
  let out: Shape | undefined;
  if (shapes.every((s) => s)) {
    out = shapes[0]!.slice();
    out[axis] = shapes.some((s) => s![axis] < 0) ? -1 : shapes.reduce((a, s) => a + s![axis], 0);
    if (out[0] !== -1 && shapes.some((s) => s![0] === -1)) out[0] = -1;
  }
  g.final(
    n,
    'Concat',
    parts.map((p) => g.constRef(p)),
    { axis },
    out,
  );
  return true;
};

const pad: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  const p = g.constInts(ins[1], n, 'the paddings');
  const pads: Array<[number, number]> = [];
  for (let i = 0; i < p.length; i += 2) pads.push([p[i], p[i + 1]]);
  let mode: 'constant' | 'reflect' = 'constant';
  let value = 0;
  if (n.op === 'MirrorPad') {
    const m = (attrStr(n, 'mode') ?? 'REFLECT').toUpperCase();
    if (m !== 'REFLECT') return false;
    mode = 'reflect';
  } else if (n.op === 'PadV2') {
    value = g.constInts(ins[2], n, 'the pad value')[0];
  }
  const out = xs ? xs.map((d, i) => (d < 0 ? -1 : d + pads[i][0] + pads[i][1])) : undefined;
  g.final(n, 'Pad', [x.name], { pads, mode, value }, out);
  return true;
};

const transpose: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  const perm = g.constInts(ins[1], n, 'the permutation');
  g.final(n, 'Transpose', [x.name], { perm }, xs ? perm.map((p) => xs[p]) : undefined);
  return true;
};

const slice: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  if (!xs) return false;
  const begin = g.constInts(ins[1], n, 'begin');
  const size = g.constInts(ins[2], n, 'size');
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const out = xs.slice();
  begin.forEach((bg, i) => {
    const sz = size[i] < 0 ? (xs[i] < 0 ? -1 : xs[i] - bg) : size[i];
    if (bg === 0 && size[i] < 0) return;
    if (sz < 0) throw new ConvertFallback('slice of an unknown dimension');
    axes.push(i);
    starts.push(bg);
    ends.push(bg + sz);
    out[i] = sz;
  });
  g.final(n, 'Slice', [x.name], { starts, ends, axes, steps: axes.map(() => 1) }, out);
  return true;
};

const stridedSlice: TfGraphHandler = (g, n, ins) => {
  const [x] = ins;
  const xs = g.shape(x);
  if (!xs || x.kind !== 'act') return false;
  if (attrInt(n, 'ellipsis_mask', 0) || attrInt(n, 'new_axis_mask', 0)) return false;
  const begin = g.constInts(ins[1], n, 'begin');
  const end = g.constInts(ins[2], n, 'end');
  const strides = g.constInts(ins[3], n, 'strides');
  const bm = attrInt(n, 'begin_mask', 0);
  const em = attrInt(n, 'end_mask', 0);
  const sm = attrInt(n, 'shrink_axis_mask', 0);
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const steps: number[] = [];
  const out = xs.slice();
  for (let i = 0; i < begin.length; i++) {
    const dim = xs[i];
    const st = strides[i] ?? 1;
    const shrink = (sm >> i) & 1;
    let b0 = (bm >> i) & 1 ? (st > 0 ? 0 : dim - 1) : begin[i];
    let e0 = shrink ? b0 + 1 : (em >> i) & 1 ? (st > 0 ? dim : -1 - dim) : end[i];
    if ((bm >> i) & 1 && (em >> i) & 1 && st === 1 && !shrink) continue;
    if (dim < 0) return false;
    if (b0 < 0) b0 += dim;
    if (e0 < 0 && !((em >> i) & 1 && st < 0)) e0 += dim;
    b0 = Math.max(0, Math.min(b0, dim));
    e0 = st > 0 ? Math.max(0, Math.min(e0, dim)) : Math.max(-1, Math.min(e0, dim - 1));
    if (st === 1 && b0 === 0 && e0 === dim && !shrink) continue;
    axes.push(i);
    starts.push(b0);
    ends.push(e0);
    steps.push(st);
    out[i] = Math.max(0, Math.ceil((e0 - b0) / st));
  }
  const shrunk = out.filter((_, i) => !((sm >> i) & 1));
  if (axes.length === 0) {
    if (shrunk.length === out.length) {
      g.final(n, 'Identity', [x.name], {}, out);
      return true;
    }
  }
  if (shrunk.length === out.length) {
    g.final(n, 'Slice', [x.name], { starts, ends, axes, steps }, out);
    return true;
  }
  const sl = axes.length ? g.step(n, 'slice', 'Slice', [x.name], { starts, ends, axes, steps }, out) : x.name;
  g.final(n, 'Reshape', [sl], { shape: shrunk.map((d, i) => (i === 0 && xs[0] < 0 ? -1 : d)) }, shrunk);
  return true;
};

export const SHAPE_HANDLERS: TfGraphHandlerTable = {
  Identity: identity,
  StopGradient: identity,
  Snapshot: identity,
  IdentityN: identity,
  Cast: cast,
  Reshape: reshape,
  Squeeze: squeeze,
  ExpandDims: expandDims,
  ConcatV2: concat,
  Concat: concat,
  Pad: pad,
  PadV2: pad,
  MirrorPad: pad,
  Transpose: transpose,
  Slice: slice,
  StridedSlice: stridedSlice,
};
