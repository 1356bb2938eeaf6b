/** Shape arithmetic of the ONNX ops the importer resolves at load (broadcast, slice, reshape, split, …). */
import { FoldError, attrInt, makeTensor, sizeOf, type Attrs, type HostTensor } from './tensor.js';

export function broadcastDims(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else throw new FoldError(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  }
  return out;
}

export function normAxis(a: number, r: number, what = 'axis'): number {
  const x = a < 0 ? a + r : a;
  if (x < 0 || x >= r) throw new FoldError(`${what} ${a} is out of range for rank ${r}`);
  return x;
}

export function toInts(t: HostTensor | undefined): number[] {
  return t ? Array.from(t.data) : [];
}

/** ONNX Slice index normalisation for one axis: returns [start, end, step] clamped as the spec says. */
export function sliceRange(dim: number, start: number, end: number, step: number): [number, number, number] {
  if (step === 0) throw new FoldError('slice step 0');
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
  }
  return [s, e, step];
}

export function sliceLength(s: number, e: number, step: number): number {
  return Math.max(0, Math.ceil((e - s) / step));
}

/** Largest host tensor the folder will materialise (guards against batch-dependent constants). */
export const MAX_FOLD_ELEMENTS = 1 << 28;

export function checkHostSize(dims: number[]): void {
  if (dims.some((d) => d < 0 || !Number.isFinite(d)) || sizeOf(dims) > MAX_FOLD_ELEMENTS)
    throw new FoldError(`refusing to build a constant of shape [${dims.join(',')}]`);
}

export function shapeTensor(dims: number[], attrs: Attrs): HostTensor {
  const r = dims.length;
  let start = attrInt(attrs, 'start', 0);
  let end = attrInt(attrs, 'end', r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = Math.min(Math.max(start, 0), r);
  end = Math.min(Math.max(end, 0), r);
  return makeTensor('int64', [Math.max(0, end - start)], dims.slice(start, end));
}

export function unsqueezeDims(dims: number[], axes: number[]): number[] {
  const r = dims.length + axes.length;
  const ax = axes.map((a) => normAxis(a, r, 'unsqueeze axis')).sort((a, b) => a - b);
  const out: number[] = [];
  let j = 0;
  for (let k = 0; k < r; k++) out.push(ax.includes(k) ? 1 : dims[j++]);
  return out;
}

export function squeezeDims(dims: number[], axes: number[]): number[] {
  if (!axes.length) return dims.filter((d) => d !== 1);
  const ax = axes.map((a) => normAxis(a, dims.length, 'squeeze axis'));
  for (const a of ax) if (dims[a] !== 1) throw new FoldError(`cannot squeeze axis ${a} of size ${dims[a]}`);
  return dims.filter((_, k) => !ax.includes(k));
}

export function flattenDims(dims: number[], axis: number): number[] {
  const r = dims.length;
  const a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r) throw new FoldError(`flatten axis ${axis} out of range for rank ${r}`);
  return [sizeOf(dims.slice(0, a)), sizeOf(dims.slice(a))];
}

/** ONNX Reshape target resolution (0 copies, -1 infers). */
export function reshapeDims(inDims: number[], shape: number[], allowZero: boolean): number[] {
  const out = shape.map((d, k) => (d === 0 && !allowZero ? inDims[k] : d));
  if (out.some((d) => d === undefined)) throw new FoldError(`reshape target [${shape}] copies a dimension the input [${inDims}] lacks`);
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1) throw new FoldError(`reshape target [${shape}] has more than one -1`);
  const total = sizeOf(inDims);
  if (neg === 1) {
    const rest = sizeOf(out.filter((d) => d !== -1));
    if (rest === 0 || total % rest !== 0) throw new FoldError(`cannot reshape [${inDims}] to [${shape}]`);
    out[out.indexOf(-1)] = total / rest;
  }
  if (sizeOf(out) !== total) throw new FoldError(`cannot reshape [${inDims}] (${total} elements) to [${shape}]`);
  return out;
}

export function sliceRanges(
  dims: number[],
  starts: number[],
  ends: number[],
  axes: number[] | undefined,
  steps: number[] | undefined,
): Array<[number, number, number]> {
  const r = dims.length;
  const ranges: Array<[number, number, number]> = dims.map((d) => [0, d, 1]);
  const ax = axes?.length ? axes : starts.map((_, k) => k);
  if (starts.length !== ax.length || ends.length !== ax.length) throw new FoldError(`slice starts/ends/axes have different lengths`);
  ax.forEach((a0, k) => {
    const a = normAxis(a0, r, 'slice axis');
    ranges[a] = sliceRange(dims[a], starts[k], ends[k], steps?.length ? steps[k] : 1);
  });
  return ranges;
}

export function splitSizes(dim: number, split: number[], nOutputs: number, attrs: Attrs): number[] {
  if (split.length) {
    if (split.reduce((a, b) => a + b, 0) !== dim) throw new FoldError(`split sizes [${split}] do not add up to ${dim}`);
    return split;
  }
  const n = attrInt(attrs, 'num_outputs', nOutputs);
  const chunk = Math.ceil(dim / n);
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(Math.max(0, Math.min(chunk, dim - k * chunk)));
  return out;
}
