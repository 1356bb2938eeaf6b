/**
 * ONNX shape ops on activations → naflow Flatten / Reshape / Transpose / Slice / Pad / Concat, with
 * axes remapped to the NHWC storage of rank-4 tensors and transposes inserted where memory order matters.
 */
import { attrInt, attrInts, attrStr } from './attributes.js';
import { broadcastDims, flattenDims, reshapeDims, sliceLength, sliceRanges, splitSizes, squeezeDims, toInts, unsqueezeDims } from './host/dims.js';
import { dtypeFromOnnx, isFloat } from './host/tensor.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { AX, LOGICAL, fmtDims, isBatchDim, memNoop, nhwc, type Act, type OnnxNode } from './layout.js';

function flatten(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  let axis = attrInt(n, 'axis', 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) im.fail(`axis out of range for rank ${r}`);
  const out = flattenDims(d, axis);
  if (out.filter(isBatchDim).length > 1 || (isBatchDim(out[1]) && !isBatchDim(out[0]) && out[0] !== 1))
    im.fail(`flattening mixes the symbolic batch into the feature dimension`);
  let ref = x.ref;
  if (r === 4 && !(memNoop(d) && axis <= 1)) ref = im.nchw(x);
  im.emit('Flatten', [ref], [n.outputs[0]], { axis });
  im.setAct(n.outputs[0], out);
}

function reshape(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const shape = toInts(im.needConst(n.inputs[1], 'the target shape'));
  const out = reshapeDims(d, shape, attrInt(n, 'allowzero', 0) === 1);
  im.reshapeTo(x, out, n.outputs[0]);
  im.setAct(n.outputs[0], out);
}

function squeeze(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const axes = im.opset >= 13 ? (n.inputs[1] ? toInts(im.needConst(n.inputs[1], 'axes')) : []) : (attrInts(n, 'axes') ?? []);
  const out = n.opType === 'Squeeze' ? squeezeDims(d, axes) : unsqueezeDims(d, axes);
  im.reshapeTo(x, out, n.outputs[0]);
  im.setAct(n.outputs[0], out);
}

const CHANNELS_LAST = [0, 2, 3, 1];
const CHANNELS_FIRST = [0, 3, 1, 2];
const samePerm = (p: number[], q: number[]) => p.length === q.length && p.every((v, k) => v === q[k]);

function transpose(im: OnnxImporter, n: OnnxNode): void {
  // NCHW → NHWC and back move no memory in naflow's NHWC storage: the result is a view (Act.channelsLast)
  const v = im.valAnyLayout(n.inputs[0]);
  const p = attrInts(n, 'perm');
  if (v.kind === 'act' && v.dims?.length === 4 && p) {
    const to = samePerm(p, CHANNELS_LAST) && !v.channelsLast ? true : samePerm(p, CHANNELS_FIRST) && v.channelsLast ? false : undefined;
    if (to !== undefined)
      return im.alias(
        n.outputs[0],
        v,
        p.map((k) => v.dims![k]),
        to,
      );
  }
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  const perm = attrInts(n, 'perm') ?? d.map((_, k) => r - 1 - k);
  if (perm.length !== r) im.fail(`perm [${perm}] does not match rank ${r}`);
  const out = perm.map((p) => d[p]);
  const q = r === 4 ? LOGICAL.map((l) => AX[perm[l]]) : perm;
  if (q.every((p, k) => p === k)) im.emit('Identity', [x.ref], [n.outputs[0]], {});
  else im.emit('Transpose', [x.ref], [n.outputs[0]], { perm: q });
  im.setAct(n.outputs[0], out);
}

function slice(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const starts = toInts(im.needConst(n.inputs[1], 'starts'));
  const ends = toInts(im.needConst(n.inputs[2], 'ends'));
  const axes = n.inputs[3] ? toInts(im.needConst(n.inputs[3], 'axes')) : undefined;
  const steps = n.inputs[4] ? toInts(im.needConst(n.inputs[4], 'steps')) : undefined;
  const ranges = sliceRanges(d, starts, ends, axes, steps);
  const out = ranges.map((rg) => sliceLength(...rg));
  if (out.some((v) => v === 0)) im.fail(`slice result is empty (${fmtDims(out)})`);
  im.sliceTo(x, ranges, n.outputs[0]);
  im.setAct(n.outputs[0], out);
}

function gather(im: OnnxImporter, n: OnnxNode): boolean {
  const v = im.val(n.inputs[0]);
  const idx = im.constOf(n.inputs[1]);
  if (v.kind !== 'act' || !idx) return false;
  const d = im.dimsOf(v);
  const r = d.length;
  let axis = attrInt(n, 'axis', 0);
  if (axis < 0) axis += r;
  const ind = Array.from(idx.data, (i) => (i < 0 ? i + d[axis] : i));
  if (idx.dims.length > 1 || !ind.length) return false;
  const contiguous = ind.every((i, k) => i === ind[0] + k);
  if (!contiguous || ind[0] < 0 || ind[ind.length - 1] >= d[axis]) return false;
  const ranges = d.map((dim, k): [number, number, number] => (k === axis ? [ind[0], ind[0] + ind.length, 1] : [0, dim, 1]));
  const sliced = ranges.map((rg) => sliceLength(...rg));
  const o = n.outputs[0];
  if (idx.dims.length === 1) {
    im.sliceTo(v, ranges, o);
    im.setAct(o, sliced);
    return true;
  }
  const tmp = im.freshTensor(`${o}::slice`);
  im.sliceTo(v, ranges, tmp, 'slice');
  im.setAct(tmp, sliced);
  const out = d.filter((_, k) => k !== axis);
  im.reshapeTo(im.vals.get(tmp) as Act, out, o);
  im.vals.delete(tmp);
  if (sliced.length === 4) im.tmpShapes.set(tmp, nhwc(sliced));
  else im.tmpShapes.set(tmp, sliced);
  im.setAct(o, out);
  return true;
}

function split(im: OnnxImporter, n: OnnxNode): boolean {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  let axis = attrInt(n, 'axis', 0);
  if (axis < 0) axis += r;
  const given = im.opset >= 13 ? (n.inputs[1] ? toInts(im.needConst(n.inputs[1], 'split')) : []) : (attrInts(n, 'split') ?? []);
  const sizes = splitSizes(d[axis], given, n.outputs.length, n.attrs);
  let off = 0;
  n.outputs.forEach((o, k) => {
    const ranges = d.map((dim, a): [number, number, number] => (a === axis ? [off, off + sizes[k], 1] : [0, dim, 1]));
    off += sizes[k];
    if (!o) return;
    im.sliceTo(x, ranges, o, k ? `out${k}` : undefined);
    im.setAct(
      o,
      ranges.map((rg) => sliceLength(...rg)),
    );
  });
  return true;
}

function expand(im: OnnxImporter, n: OnnxNode): boolean {
  const v = im.val(n.inputs[0]);
  const s = im.constOf(n.inputs[1]);
  if (v.kind !== 'act' || !s) return false;
  const d = im.dimsOf(v);
  let out: number[];
  try {
    out = broadcastDims(d, toInts(s));
  } catch (e) {
    im.fail((e as Error).message);
  }
  if (out.length !== d.length || out.some((x, k) => x !== d[k])) return false;
  im.unary(n, 'Identity', {});
  return true;
}

function cast(im: OnnxImporter, n: OnnxNode): boolean {
  const x = im.act(n.inputs[0]);
  const to = dtypeFromOnnx(attrInt(n, 'to', 1), 'Cast');
  if (isFloat(to) && isFloat(x.dtype)) {
    im.unary(n, 'Identity', {});
    return true;
  }
  if (x.tainted || !x.dims) return false;
  im.fail(`casts activation '${n.inputs[0]}' from ${x.dtype} to ${to}; naflow computes activations in float32 only (integer ops must fold at load time)`);
}

function pad(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  const mode = attrStr(n, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') im.fail(`pad mode '${mode}' is not supported`);
  const raw = n.inputs[1] ? toInts(im.needConst(n.inputs[1], 'pads')) : (attrInts(n, 'pads') ?? []);
  const axes0 = n.inputs[3] ? toInts(im.needConst(n.inputs[3], 'axes')) : d.map((_, k) => k);
  const axes = axes0.map((a) => (a < 0 ? a + r : a));
  if (raw.length !== 2 * axes.length) im.fail(`pads [${raw}] does not match ${axes.length} axes`);
  const pairs: Array<[number, number]> = d.map(() => [0, 0]);
  axes.forEach((a, k) => {
    pairs[a] = [raw[k], raw[k + axes.length]];
  });
  let value = typeof n.attrs.value === 'number' ? (n.attrs.value as number) : 0;
  if (n.inputs[2]) {
    const cv = im.needConst(n.inputs[2], 'constant_value');
    value = cv.data.length ? cv.data[0] : 0;
  }
  pairs.forEach(([b, e], a) => {
    if ((b || e) && isBatchDim(d[a])) im.fail(`padding the symbolic batch dimension is not supported`);
  });
  const out = d.map((v, a) => v + pairs[a][0] + pairs[a][1]);
  if (pairs.every(([b, e]) => b === 0 && e === 0)) {
    im.emit('Identity', [x.ref], [n.outputs[0]], {});
  } else {
    const stored = r === 4 ? LOGICAL.map((l) => pairs[l]) : pairs;
    im.emit('Pad', [x.ref], [n.outputs[0]], { pads: stored, mode: mode as 'constant', value });
  }
  im.setAct(n.outputs[0], out);
}

function concat(im: OnnxImporter, n: OnnxNode): void {
  const parts = n.inputs.filter((i) => {
    if (!i) return false;
    const c = im.constOf(i);
    return !(c && c.data.length === 0);
  });
  const first = im.val(parts[0]);
  const r = first.kind === 'const' ? first.t.dims.length : im.dimsOf(first).length;
  const axis0 = attrInt(n, 'axis', 0);
  const axis = axis0 < 0 ? axis0 + r : axis0;
  if (axis < 0 || axis >= r) im.fail(`axis ${axis0} is out of range for rank ${r}`);
  const refs: string[] = [];
  let dims: number[] | undefined;
  for (const p of parts) {
    const v = im.val(p);
    const d = v.kind === 'const' ? v.t.dims : im.dimsOf(v);
    if (d.length !== r) im.fail(`inputs have different ranks`);
    if (!dims) dims = d.slice();
    else dims[axis] += d[axis];
    refs.push(v.kind === 'const' ? im.act(p).ref : v.ref);
  }
  im.emit('Concat', refs, [n.outputs[0]], { axis: r === 4 ? AX[axis] : axis });
  im.setAct(n.outputs[0], dims, 'float32');
}

export const SHAPE_HANDLERS: OnnxHandlerTable = {
  Flatten: flatten,
  Reshape: reshape,
  Squeeze: squeeze,
  Unsqueeze: squeeze,
  Transpose: transpose,
  Slice: slice,
  Gather: gather,
  Split: split,
  Expand: expand,
  Cast: cast,
  Pad: pad,
  Concat: concat,
};
