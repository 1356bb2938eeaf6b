/**
 * Host-side (plain JS) tensors for the ONNX importer: decoding ONNX TensorProto/AttributeProto values and
 * evaluating the ops that the importer folds at load (shape arithmetic, casts, dequantisation, …).
 * Nothing here touches tfjs; values are in ONNX order (NCHW for rank-4 tensors).
 */

/** Element types the host evaluator distinguishes (float16/bfloat16 are widened to float32 at read). */
export type HDType =
  | 'float32'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export interface HostTensor {
  dtype: HDType;
  dims: number[];
  /** float32 data is a Float32Array; every other type is held exactly in a Float64Array */
  data: Float32Array | Float64Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Raised by the host evaluator for malformed inputs; the importer adds the node name. */
export class FoldError extends Error {}

/** ONNX TensorProto.DataType → host dtype (undefined for unsupported: string, complex). */
export const ONNX_DTYPES: Record<number, { name: string; host?: HDType }> = {
  1: { name: 'float32', host: 'float32' },
  2: { name: 'uint8', host: 'uint8' },
  3: { name: 'int8', host: 'int8' },
  4: { name: 'uint16', host: 'uint16' },
  5: { name: 'int16', host: 'int16' },
  6: { name: 'int32', host: 'int32' },
  7: { name: 'int64', host: 'int64' },
  8: { name: 'string' },
  9: { name: 'bool', host: 'bool' },
  10: { name: 'float16', host: 'float32' },
  11: { name: 'float64', host: 'float64' },
  12: { name: 'uint32', host: 'uint32' },
  13: { name: 'uint64', host: 'uint64' },
  14: { name: 'complex64' },
  15: { name: 'complex128' },
  16: { name: 'bfloat16', host: 'float32' },
};

export function isFloat(d: HDType): boolean {
  return d === 'float32' || d === 'float64';
}

export function sizeOf(dims: number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function makeTensor(dtype: HDType, dims: number[], values: ArrayLike<number>): HostTensor {
  const n = sizeOf(dims);
  if (values.length !== n) throw new FoldError(`tensor of shape [${dims.join(',')}] given ${values.length} values`);
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = castValue(values[i], dtype);
  return { dtype, dims: dims.slice(), data };
}

export function scalar(dtype: HDType, v: number): HostTensor {
  return makeTensor(dtype, [], [v]);
}

function castValue(v: number, dtype: HDType): number {
  switch (dtype) {
    case 'float32':
    case 'float64':
      return v;
    case 'bool':
      return v !== 0 && !Number.isNaN(v) ? 1 : 0;
    default: {
      // float → int casts truncate toward zero (ONNX Cast); saturate on the narrow types
      if (!Number.isFinite(v)) return v;
      const t = Math.trunc(v);
      switch (dtype) {
        case 'int8':
          return ((t << 24) >> 24);
        case 'uint8':
          return t & 0xff;
        case 'int16':
          return ((t << 16) >> 16);
        case 'uint16':
          return t & 0xffff;
        case 'int32':
          return t | 0;
        case 'uint32':
          return t >>> 0;
        default:
          return t;
      }
    }
  }
}

/** Converts a protobuf int64 (number or Long) to a JS number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === null || v === undefined) return 0;
  if (typeof v === 'bigint') return Number(v);
  const l = v as { toNumber?: () => number; low?: number; high?: number; unsigned?: boolean };
  if (typeof l.toNumber === 'function') return l.toNumber();
  if (typeof l.low === 'number' && typeof l.high === 'number') return l.high * 4294967296 + (l.low >>> 0);
  return Number(v);
}

function float16ToFloat32(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  let v: number;
  if (e === 0) v = (f / 1024) * 2 ** -14;
  else if (e === 31) v = f ? NaN : Infinity;
  else v = (1 + f / 1024) * 2 ** (e - 15);
  return s ? -v : v;
}

function bfloat16ToFloat32(h: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, (h & 0xffff) << 16);
  return b.getFloat32(0);
}

/** Minimal view of onnx.ITensorProto (so callers need not import onnx-proto types). */
export interface TensorProtoLike {
  name?: string | null;
  dims?: Array<number | unknown> | null;
  dataType?: number | null;
  rawData?: Uint8Array | null;
  floatData?: number[] | null;
  int32Data?: number[] | null;
  int64Data?: Array<number | unknown> | null;
  doubleData?: number[] | null;
  uint64Data?: Array<number | unknown> | null;
  dataLocation?: number | null;
  externalData?: Array<{ key?: string | null; value?: string | null }> | null;
  segment?: unknown;
}

/** Decode an ONNX TensorProto into a host tensor; throws a FoldError with a specific message. */
export function decodeTensor(t: TensorProtoLike): HostTensor {
  const what = `tensor '${t.name ?? ''}'`;
  const dims = (t.dims ?? []).map(num);
  const code = t.dataType ?? 0;
  const info = ONNX_DTYPES[code];
  if (!info) throw new FoldError(`${what} has unknown data type ${code}`);
  if (!info.host) throw new FoldError(`${what} has data type ${info.name}, which naflow does not support`);
  if (t.dataLocation === 1 || (t.externalData && t.externalData.length)) {
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    throw new FoldError(
      `${what} is stored as external data${loc ? ` in '${loc}'` : ''}; naflow reads self-contained .onnx files only (re-save the model with all tensors inside it)`,
    );
  }
  if (t.segment) throw new FoldError(`${what} is segmented; naflow does not support segmented tensors`);
  const n = sizeOf(dims);
  const dtype = info.host;
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const raw = t.rawData;
  if (raw && raw.length) {
    const bytes = Uint8Array.prototype.slice.call(raw);
    if (info.name === 'float32' && LITTLE_ENDIAN && bytes.byteLength === n * 4)
      return { dtype, dims, data: new Float32Array(bytes.buffer, bytes.byteOffset, n) };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width: Record<string, number> = {
      float32: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, bool: 1, float16: 2, float64: 8, uint32: 4,
      uint64: 8, bfloat16: 2,
    };
    const w = width[info.name];
    if (bytes.byteLength !== n * w)
      throw new FoldError(`${what} of shape [${dims.join(',')}] (${info.name}) has ${bytes.byteLength} bytes of raw data, expected ${n * w}`);
    for (let i = 0; i < n; i++) {
      const o = i * w;
      let v: number;
      switch (info.name) {
        case 'float32': v = dv.getFloat32(o, true); break;
        case 'float64': v = dv.getFloat64(o, true); break;
        case 'float16': v = float16ToFloat32(dv.getUint16(o, true)); break;
        case 'bfloat16': v = bfloat16ToFloat32(dv.getUint16(o, true)); break;
        case 'uint8': case 'bool': v = dv.getUint8(o); break;
        case 'int8': v = dv.getInt8(o); break;
        case 'uint16': v = dv.getUint16(o, true); break;
        case 'int16': v = dv.getInt16(o, true); break;
        case 'int32': v = dv.getInt32(o, true); break;
        case 'uint32': v = dv.getUint32(o, true); break;
        case 'int64': v = Number(dv.getBigInt64(o, true)); break;
        default: v = Number(dv.getBigUint64(o, true));
      }
      out[i] = v;
    }
    return { dtype, dims, data: out };
  }
  let src: ArrayLike<number> | undefined;
  let conv: ((x: number) => number) | undefined;
  switch (info.name) {
    case 'float32': src = t.floatData ?? []; break;
    case 'float64': src = t.doubleData ?? []; break;
    case 'int64': src = (t.int64Data ?? []).map(num); break;
    case 'uint32': case 'uint64': src = (t.uint64Data ?? []).map(num); break;
    case 'float16': src = t.int32Data ?? []; conv = float16ToFloat32; break;
    case 'bfloat16': src = t.int32Data ?? []; conv = bfloat16ToFloat32; break;
    default: src = t.int32Data ?? [];
  }
  if (src.length !== n)
    throw new FoldError(`${what} of shape [${dims.join(',')}] (${info.name}) holds ${src.length} values, expected ${n}`);
  for (let i = 0; i < n; i++) out[i] = conv ? conv(src[i]) : src[i];
  return { dtype, dims, data: out };
}

/** Row-major strides. */
export function stridesOf(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

export function transposeHost(t: HostTensor, perm: number[]): HostTensor {
  const r = t.dims.length;
  if (perm.length !== r) throw new FoldError(`transpose perm [${perm}] does not match rank ${r}`);
  const outDims = perm.map((p) => t.dims[p]);
  const inStr = stridesOf(t.dims);
  const n = t.data.length;
  const out = t.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  const stepIn = perm.map((p) => inStr[p]);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = t.data[src];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      src += stepIn[k];
      if (idx[k] < outDims[k]) break;
      src -= stepIn[k] * outDims[k];
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, dims: outDims, data: out };
}

export function reshapeHost(t: HostTensor, dims: number[]): HostTensor {
  if (sizeOf(dims) !== t.data.length) throw new FoldError(`cannot reshape [${t.dims}] to [${dims}]`);
  return { dtype: t.dtype, dims: dims.slice(), data: t.data };
}

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

/** Index map from an output position to an input (broadcast) position. */
function broadcastIndexer(inDims: number[], outDims: number[]): (i: number) => number {
  const r = outDims.length;
  const padded = new Array(r - inDims.length).fill(1).concat(inDims);
  const inStr = stridesOf(padded);
  const outStr = stridesOf(outDims);
  if (padded.every((d, k) => d === outDims[k])) return (i) => i;
  return (i) => {
    let src = 0;
    for (let k = 0; k < r; k++) {
      const c = Math.floor(i / outStr[k]) % outDims[k];
      if (padded[k] !== 1) src += c * inStr[k];
    }
    return src;
  };
}

export function elementwise(
  inputs: HostTensor[],
  outType: HDType,
  f: (...v: number[]) => number,
): HostTensor {
  let dims: number[] = [];
  for (const t of inputs) dims = broadcastDims(dims, t.dims);
  const n = sizeOf(dims);
  const idx = inputs.map((t) => broadcastIndexer(t.dims, dims));
  const out = outType === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) args[k] = inputs[k].data[idx[k](i)];
    out[i] = castValue(f(...args), outType);
  }
  return { dtype: outType, dims, data: out };
}

function normAxis(a: number, r: number, what = 'axis'): number {
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

export function sliceHost(t: HostTensor, ranges: Array<[number, number, number]>): HostTensor {
  const dims = t.dims.map((d, k) => sliceLength(...ranges[k]));
  const n = sizeOf(dims);
  const out = t.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const inStr = stridesOf(t.dims);
  const outStr = stridesOf(dims);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let k = 0; k < dims.length; k++) {
      const c = Math.floor(i / outStr[k]) % dims[k];
      src += (ranges[k][0] + c * ranges[k][2]) * inStr[k];
    }
    out[i] = t.data[src];
  }
  return { dtype: t.dtype, dims, data: out };
}

function concatHost(ts: HostTensor[], axis: number): HostTensor {
  const r = ts[0].dims.length;
  const ax = normAxis(axis, r);
  const dims = ts[0].dims.slice();
  dims[ax] = ts.reduce((a, t) => a + t.dims[ax], 0);
  for (const t of ts)
    if (t.dims.length !== r || t.dims.some((d, k) => k !== ax && d !== dims[k]))
      throw new FoldError(`concat of [${ts.map((x) => x.dims.join(',')).join('] and [')}] on axis ${axis}`);
  const outer = sizeOf(dims.slice(0, ax));
  const dtype = ts.some((t) => t.dtype === 'float32') ? 'float32' : ts[0].dtype;
  const out = dtype === 'float32' ? new Float32Array(sizeOf(dims)) : new Float64Array(sizeOf(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const t of ts) {
      const chunk = sizeOf(t.dims.slice(ax));
      for (let j = 0; j < chunk; j++) out[o++] = t.data[i * chunk + j];
    }
  return { dtype, dims, data: out };
}

function gatherHost(t: HostTensor, indices: HostTensor, axis: number): HostTensor {
  const r = t.dims.length;
  const ax = normAxis(axis, r);
  const dims = [...t.dims.slice(0, ax), ...indices.dims, ...t.dims.slice(ax + 1)];
  const outer = sizeOf(t.dims.slice(0, ax));
  const inner = sizeOf(t.dims.slice(ax + 1));
  const out = t.dtype === 'float32' ? new Float32Array(sizeOf(dims)) : new Float64Array(sizeOf(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (let j = 0; j < indices.data.length; j++) {
      let k = indices.data[j];
      if (k < 0) k += t.dims[ax];
      if (k < 0 || k >= t.dims[ax]) throw new FoldError(`gather index ${indices.data[j]} out of range for size ${t.dims[ax]}`);
      for (let m = 0; m < inner; m++) out[o++] = t.data[(i * t.dims[ax] + k) * inner + m];
    }
  return { dtype: t.dtype, dims, data: out };
}

function reduceHost(t: HostTensor, axes: number[], keep: boolean, kind: string): HostTensor {
  const r = t.dims.length;
  const ax = axes.length ? axes.map((a) => normAxis(a, r)) : t.dims.map((_, k) => k);
  const kdims = t.dims.map((d, k) => (ax.includes(k) ? 1 : d));
  const n = sizeOf(kdims);
  const acc = new Float64Array(n).fill(kind === 'ReduceProd' ? 1 : kind === 'ReduceMax' ? -Infinity : kind === 'ReduceMin' ? Infinity : 0);
  const idx = broadcastIndexer(kdims, t.dims);
  for (let i = 0; i < t.data.length; i++) {
    const o = idx(i);
    const v = t.data[i];
    switch (kind) {
      case 'ReduceProd': acc[o] *= v; break;
      case 'ReduceMax': acc[o] = Math.max(acc[o], v); break;
      case 'ReduceMin': acc[o] = Math.min(acc[o], v); break;
      case 'ReduceSumSquare': acc[o] += v * v; break;
      default: acc[o] += v;
    }
  }
  if (kind === 'ReduceMean') {
    const cnt = t.data.length / Math.max(1, n);
    for (let i = 0; i < n; i++) acc[i] /= cnt;
  }
  const dims = keep ? kdims : t.dims.filter((_, k) => !ax.includes(k));
  return makeTensor(t.dtype, dims, acc);
}

function matmulHost(a: HostTensor, b: HostTensor): HostTensor {
  if (a.dims.length !== 2 || b.dims.length !== 2) throw new FoldError('constant MatMul folds only 2-D operands');
  const [m, k] = a.dims;
  const [k2, n] = b.dims;
  if (k !== k2) throw new FoldError(`MatMul of [${a.dims}] and [${b.dims}]`);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a.data[i * k + q] * b.data[q * n + j];
      out[i * n + j] = s;
    }
  return makeTensor(a.dtype, [m, n], out);
}

export type Attrs = Record<string, unknown>;

function attrInt(a: Attrs, k: string, d: number): number {
  const v = a[k];
  return typeof v === 'number' ? v : d;
}
function attrInts(a: Attrs, k: string): number[] | undefined {
  const v = a[k];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

export function dtypeFromOnnx(code: number, what: string): HDType {
  const info = ONNX_DTYPES[code];
  if (!info?.host) throw new FoldError(`${what}: data type ${info?.name ?? code} is not supported`);
  return info.host;
}

const UNARY: Record<string, (x: number) => number> = {
  Neg: (x) => -x,
  Abs: Math.abs,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Exp: Math.exp,
  Log: Math.log,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Round: (x) => {
    const f = Math.floor(x);
    const d = x - f;
    return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  },
  Sign: Math.sign,
  Relu: (x) => Math.max(0, x),
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  Tanh: Math.tanh,
  Erf: (x) => {
    // Numerical Recipes erfc approximation (relative error < 1.2e-7)
    const t = 1 / (1 + 0.5 * Math.abs(x));
    const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? y : -y;
  },
};

const BINARY: Record<string, (a: number, b: number, int: boolean) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b, int) => (int ? Math.trunc(a / b) : a / b),
  Pow: (a, b) => a ** b,
  Max: (a, b) => Math.max(a, b),
  Min: (a, b) => Math.min(a, b),
  Sum: (a, b) => a + b,
};

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  Equal: (a, b) => a === b,
  Less: (a, b) => a < b,
  Greater: (a, b) => a > b,
  LessOrEqual: (a, b) => a <= b,
  GreaterOrEqual: (a, b) => a >= b,
  And: (a, b) => a !== 0 && b !== 0,
  Or: (a, b) => a !== 0 || b !== 0,
  Xor: (a, b) => (a !== 0) !== (b !== 0),
};

/** Ops the host evaluator knows (the importer folds a node of these types when all its inputs are constant). */
export function canFold(op: string): boolean {
  return op in UNARY || op in BINARY || op in COMPARE || FOLDABLE.has(op);
}

const FOLDABLE = new Set([
  'Identity', 'Dropout', 'Cast', 'CastLike', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Transpose', 'Concat', 'Gather',
  'Slice', 'ConstantOfShape', 'Range', 'Not', 'Where', 'Mod', 'Mean', 'Expand', 'Tile', 'DequantizeLinear', 'QuantizeLinear',
  'ReduceProd', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceMean', 'ReduceSumSquare', 'Split', 'MatMul', 'Clip', 'Size',
  'Shape', 'Softmax',
]);

/**
 * Evaluate one node on constant inputs. `inputs` holds undefined for omitted optional inputs.
 * Returns one tensor per output (trailing optional outputs may be missing).
 */
export function foldOp(op: string, inputs: Array<HostTensor | undefined>, attrs: Attrs, opset: number, nOutputs: number): HostTensor[] {
  const need = (k: number): HostTensor => {
    const t = inputs[k];
    if (!t) throw new FoldError(`input ${k} is missing`);
    return t;
  };
  if (op in UNARY) {
    const f = UNARY[op];
    return [elementwise([need(0)], need(0).dtype, f)];
  }
  if (op in BINARY) {
    const ts = inputs.filter((t): t is HostTensor => !!t);
    const dtype = ts[0].dtype;
    const int = !isFloat(dtype);
    const f = BINARY[op];
    let acc = ts[0];
    for (let k = 1; k < ts.length; k++) acc = elementwise([acc, ts[k]], dtype, (a, b) => f(a, b, int));
    if (ts.length === 1) acc = elementwise([acc], dtype, (a) => a);
    return [acc];
  }
  if (op in COMPARE) {
    const f = COMPARE[op];
    return [elementwise([need(0), need(1)], 'bool', (a, b) => (f(a, b) ? 1 : 0))];
  }
  switch (op) {
    case 'Identity':
      return [need(0)];
    case 'Dropout': {
      const t = need(0);
      return nOutputs > 1 ? [t, elementwise([t], 'bool', () => 1)] : [t];
    }
    case 'Not':
      return [elementwise([need(0)], 'bool', (a) => (a ? 0 : 1))];
    case 'Mean': {
      const ts = inputs.filter((t): t is HostTensor => !!t);
      const s = foldOp('Sum', ts, attrs, opset, 1)[0];
      return [elementwise([s], s.dtype, (a) => a / ts.length)];
    }
    case 'Mod': {
      const fmod = attrInt(attrs, 'fmod', 0);
      return [
        elementwise([need(0), need(1)], need(0).dtype, (a, b) => {
          if (fmod) return a % b;
          const r = a % b;
          return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
        }),
      ];
    }
    case 'Cast': {
      const to = dtypeFromOnnx(attrInt(attrs, 'to', 1), 'Cast');
      return [elementwise([need(0)], to, (a) => a)];
    }
    case 'CastLike':
      return [elementwise([need(0)], need(1).dtype, (a) => a)];
    case 'Size':
      return [scalar('int64', need(0).data.length)];
    case 'Shape': {
      const d = need(0).dims;
      return [shapeTensor(d, attrs)];
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? toInts(inputs[1]) : (attrInts(attrs, 'axes') ?? []);
      return [reshapeHost(need(0), unsqueezeDims(need(0).dims, axes))];
    }
    case 'Squeeze': {
      const axes = opset >= 13 ? toInts(inputs[1]) : (attrInts(attrs, 'axes') ?? []);
      return [reshapeHost(need(0), squeezeDims(need(0).dims, axes))];
    }
    case 'Reshape':
      return [reshapeHost(need(0), reshapeDims(need(0).dims, toInts(need(1)), attrInt(attrs, 'allowzero', 0) === 1))];
    case 'Flatten': {
      const t = need(0);
      return [reshapeHost(t, flattenDims(t.dims, attrInt(attrs, 'axis', 1)))];
    }
    case 'Transpose': {
      const t = need(0);
      const perm = attrInts(attrs, 'perm') ?? t.dims.map((_, k) => t.dims.length - 1 - k);
      return [transposeHost(t, perm)];
    }
    case 'Concat': {
      const ts = inputs.filter((t): t is HostTensor => !!t && !(t.dims.length === 1 && t.dims[0] === 0 && inputs.length > 1));
      return [concatHost(ts.length ? ts : [need(0)], attrInt(attrs, 'axis', 0))];
    }
    case 'Gather':
      return [gatherHost(need(0), need(1), attrInt(attrs, 'axis', 0))];
    case 'Slice': {
      const t = need(0);
      const ranges = sliceRanges(t.dims, toInts(need(1)), toInts(need(2)), inputs[3] ? toInts(inputs[3]) : undefined, inputs[4] ? toInts(inputs[4]) : undefined);
      return [sliceHost(t, ranges)];
    }
    case 'ConstantOfShape': {
      const dims = toInts(need(0));
      checkHostSize(dims);
      const v = attrs.value as HostTensor | undefined;
      const dtype = v ? v.dtype : 'float32';
      const val = v ? v.data[0] : 0;
      const n = sizeOf(dims);
      const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
      data.fill(val);
      return [{ dtype, dims, data }];
    }
    case 'Range': {
      const s = need(0).data[0];
      const l = need(1).data[0];
      const d = need(2).data[0];
      const n = Math.max(Math.ceil((l - s) / d), 0);
      checkHostSize([n]);
      const vals = Array.from({ length: n }, (_, i) => s + i * d);
      return [makeTensor(need(0).dtype, [n], vals)];
    }
    case 'Where':
      return [elementwise([need(0), need(1), need(2)], need(1).dtype, (c, a, b) => (c ? a : b))];
    case 'Expand': {
      const t = need(0);
      const shape = toInts(need(1));
      checkHostSize(shape);
      const dims = broadcastDims(t.dims, shape);
      const ones = makeTensor(t.dtype, dims, new Array(sizeOf(dims)).fill(0));
      return [elementwise([t, ones], t.dtype, (a) => a)];
    }
    case 'Tile': {
      const t = need(0);
      const reps = toInts(need(1));
      let cur = t;
      for (let k = 0; k < reps.length; k++) if (reps[k] !== 1) cur = concatHost(new Array(reps[k]).fill(cur), k);
      return [cur];
    }
    case 'DequantizeLinear': {
      const q = need(0);
      const s = need(1);
      const zp = inputs[2];
      const axis = attrInt(attrs, 'axis', 1);
      const bshape = (t: HostTensor): HostTensor => {
        if (t.dims.length === 0 || t.data.length === 1) return reshapeHost(t, []);
        const ax = normAxis(axis, q.dims.length);
        const dims = q.dims.map((d, k) => (k === ax ? t.data.length : 1));
        return reshapeHost(t, dims);
      };
      const sb = bshape(s);
      const zb = zp ? bshape(zp) : scalar('int32', 0);
      return [elementwise([q, sb, zb], 'float32', (v, sc, z) => (v - z) * sc)];
    }
    case 'QuantizeLinear': {
      const xx = need(0);
      const s = need(1);
      const zp = inputs[2];
      const axis = attrInt(attrs, 'axis', 1);
      const bshape = (t: HostTensor): HostTensor => {
        if (t.dims.length === 0 || t.data.length === 1) return reshapeHost(t, []);
        const ax = normAxis(axis, xx.dims.length);
        return reshapeHost(t, xx.dims.map((d, k) => (k === ax ? t.data.length : 1)));
      };
      const outType: HDType = zp ? zp.dtype : 'uint8';
      const [lo, hi] = outType === 'int8' ? [-128, 127] : outType === 'uint8' ? [0, 255] : [-32768, 65535];
      const zb = zp ? bshape(zp) : scalar('int32', 0);
      return [
        elementwise([xx, bshape(s), zb], outType, (v, sc, z) => Math.min(hi, Math.max(lo, UNARY.Round(v / sc) + z))),
      ];
    }
    case 'ReduceProd':
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceMean':
    case 'ReduceSumSquare': {
      const fromInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
      const axes = fromInput ? toInts(inputs[1]) : (attrInts(attrs, 'axes') ?? []);
      if (!axes.length && attrInt(attrs, 'noop_with_empty_axes', 0)) return [need(0)];
      return [reduceHost(need(0), axes, attrInt(attrs, 'keepdims', 1) === 1, op)];
    }
    case 'Split': {
      const t = need(0);
      const axis = normAxis(attrInt(attrs, 'axis', 0), t.dims.length);
      const sizes = splitSizes(t.dims[axis], opset >= 13 ? toInts(inputs[1]) : (attrInts(attrs, 'split') ?? []), nOutputs, attrs);
      let off = 0;
      return sizes.map((len) => {
        const ranges = t.dims.map((d, k): [number, number, number] => (k === axis ? [off, off + len, 1] : [0, d, 1]));
        off += len;
        return sliceHost(t, ranges);
      });
    }
    case 'MatMul':
      return [matmulHost(need(0), need(1))];
    case 'Clip': {
      const t = need(0);
      const lo = opset >= 11 ? (inputs[1] ? inputs[1].data[0] : -Infinity) : (attrs.min as number | undefined) ?? -Infinity;
      const hi = opset >= 11 ? (inputs[2] ? inputs[2].data[0] : Infinity) : (attrs.max as number | undefined) ?? Infinity;
      return [elementwise([t], t.dtype, (a) => Math.min(hi, Math.max(lo, a)))];
    }
    case 'Softmax': {
      const t = need(0);
      const r = t.dims.length;
      const axis = normAxis(attrInt(attrs, 'axis', opset >= 13 ? -1 : 1), r);
      const inner = opset >= 13 ? sizeOf(t.dims.slice(axis + 1)) : 1;
      const len = opset >= 13 ? t.dims[axis] : sizeOf(t.dims.slice(axis));
      const outer = t.data.length / (inner * len);
      const out = new Float64Array(t.data.length);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let m = -Infinity;
          for (let k = 0; k < len; k++) m = Math.max(m, t.data[(o * len + k) * inner + i]);
          let s = 0;
          for (let k = 0; k < len; k++) s += Math.exp(t.data[(o * len + k) * inner + i] - m);
          for (let k = 0; k < len; k++) out[(o * len + k) * inner + i] = Math.exp(t.data[(o * len + k) * inner + i] - m) / s;
        }
      return [makeTensor(t.dtype, t.dims, out)];
    }
    default:
      throw new FoldError(`no constant evaluator for op ${op}`);
  }
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
  const ax = axes && axes.length ? axes : starts.map((_, k) => k);
  if (starts.length !== ax.length || ends.length !== ax.length)
    throw new FoldError(`slice starts/ends/axes have different lengths`);
  ax.forEach((a0, k) => {
    const a = normAxis(a0, r, 'slice axis');
    ranges[a] = sliceRange(dims[a], starts[k], ends[k], steps && steps.length ? steps[k] : 1);
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
