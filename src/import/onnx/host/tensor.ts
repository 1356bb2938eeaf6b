/**
 * Host-side (plain JS) tensors for the ONNX importer: element types, construction with ONNX cast
 * semantics, and decoding ONNX TensorProto values. Nothing here touches tfjs; values are in ONNX order
 * (NCHW for rank-4 tensors).
 */

/** Element types the host evaluator distinguishes (float16/bfloat16 are widened to float32 at read). */
export type HDType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

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

/** ONNX Cast of one value (float → int truncates toward zero; narrow types wrap). */
export function castValue(v: number, dtype: HDType): number {
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
          return (t << 24) >> 24;
        case 'uint8':
          return t & 0xff;
        case 'int16':
          return (t << 16) >> 16;
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
  if (t.dataLocation === 1 || t.externalData?.length) {
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    throw new FoldError(
      `${what} is stored as external data${loc ? ` in '${loc}'` : ''}; naflow reads self-contained .onnx files only (re-save the model with all tensors inside it)`,
    );
  }
  if (t.segment) throw new FoldError(`${what} is segmented; naflow does not support segmented tensors`);
  const n = sizeOf(dims);
  const dtype = info.host;
  if (t.rawData?.length) return decodeRawData(t.rawData, info.name, dtype, dims, n, what);
  const { src, conv } = typedFieldValues(t, info.name);
  if (src.length !== n) throw new FoldError(`${what} of shape [${dims.join(',')}] (${info.name}) holds ${src.length} values, expected ${n}`);
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = conv ? conv(src[i]) : src[i];
  return { dtype, dims, data: out };
}

/** Bytes per element of rawData, by ONNX data type name. */
const RAW_WIDTH: Record<string, number> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
  bfloat16: 2,
};

/** A tensor's rawData (little-endian, as ONNX stores it), `n` elements of type `typeName`; float32 on a little-endian host is a view, not a copy. */
function decodeRawData(raw: Uint8Array, typeName: string, dtype: HostTensor['dtype'], dims: number[], n: number, what: string): HostTensor {
  const w = RAW_WIDTH[typeName];
  // checked before allocating: a declared shape of 1e12 elements must name the tensor, not fail to allocate
  if (raw.byteLength !== n * w)
    throw new FoldError(`${what} of shape [${dims.join(',')}] (${typeName}) has ${raw.byteLength} bytes of raw data, expected ${n * w}`);
  const bytes = Uint8Array.prototype.slice.call(raw);
  if (typeName === 'float32' && LITTLE_ENDIAN) return { dtype, dims, data: new Float32Array(bytes.buffer, bytes.byteOffset, n) };
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = readRawValue(dv, i * w, typeName);
  return { dtype, dims, data: out };
}

/** One little-endian element of type `typeName` at byte offset `o`. */
function readRawValue(dv: DataView, o: number, typeName: string): number {
  switch (typeName) {
    case 'float32':
      return dv.getFloat32(o, true);
    case 'float64':
      return dv.getFloat64(o, true);
    case 'float16':
      return float16ToFloat32(dv.getUint16(o, true));
    case 'bfloat16':
      return bfloat16ToFloat32(dv.getUint16(o, true));
    case 'uint8':
    case 'bool':
      return dv.getUint8(o);
    case 'int8':
      return dv.getInt8(o);
    case 'uint16':
      return dv.getUint16(o, true);
    case 'int16':
      return dv.getInt16(o, true);
    case 'int32':
      return dv.getInt32(o, true);
    case 'uint32':
      return dv.getUint32(o, true);
    case 'int64':
      return Number(dv.getBigInt64(o, true));
    default:
      return Number(dv.getBigUint64(o, true));
  }
}

/** The typed field holding a tensor's values when it has no rawData, and the conversion its elements need (16-bit floats ride in int32Data). */
function typedFieldValues(t: TensorProtoLike, typeName: string): { src: ArrayLike<number>; conv?: (x: number) => number } {
  switch (typeName) {
    case 'float32':
      return { src: t.floatData ?? [] };
    case 'float64':
      return { src: t.doubleData ?? [] };
    case 'int64':
      return { src: (t.int64Data ?? []).map(num) };
    case 'uint32':
    case 'uint64':
      return { src: (t.uint64Data ?? []).map(num) };
    case 'float16':
      return { src: t.int32Data ?? [], conv: float16ToFloat32 };
    case 'bfloat16':
      return { src: t.int32Data ?? [], conv: bfloat16ToFloat32 };
    default:
      return { src: t.int32Data ?? [] };
  }
}

export type Attrs = Record<string, unknown>;

export function attrInt(a: Attrs, k: string, d: number): number {
  const v = a[k];
  return typeof v === 'number' ? v : d;
}
export function attrInts(a: Attrs, k: string): number[] | undefined {
  const v = a[k];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

export function dtypeFromOnnx(code: number, what: string): HDType {
  const info = ONNX_DTYPES[code];
  if (!info?.host) throw new FoldError(`${what}: data type ${info?.name ?? code} is not supported`);
  return info.host;
}
