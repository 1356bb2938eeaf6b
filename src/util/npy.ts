/**
 * NumPy `.npy` files (format 1.0–3.0): a reader for little-endian, C-order float32/float64/int64/int32/
 * uint8/bool arrays and a float32 writer. Used by the tests (PyTorch reference fixtures) and tools.
 */

export type NpyDType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** int64 data is exact (BigInt64Array); use `npyToFloat32` for a numeric view */
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<string, { dtype: NpyDType; width: number }> = {
  '<f4': { dtype: 'float32', width: 4 },
  '<f8': { dtype: 'float64', width: 8 },
  '<i8': { dtype: 'int64', width: 8 },
  '<i4': { dtype: 'int32', width: 4 },
  '|u1': { dtype: 'uint8', width: 1 },
  '<u1': { dtype: 'uint8', width: 1 },
  '|b1': { dtype: 'bool', width: 1 },
};

/** Parse `.npy` bytes; `what` names the source in error messages. */
export function parseNpy(bytes: Uint8Array, what = 'npy data'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${what}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = dv.getUint32(8, true);
    offset = 12;
  } else throw new Error(`${what}: unsupported .npy version ${major}.${bytes[7]}`);
  if (offset + headerLen > bytes.length) throw new Error(`${what}: truncated .npy header`);
  const headerBytes = bytes.subarray(offset, offset + headerLen);
  // latin1 by hand: a TextDecoder's 'latin1' is windows-1252, which differs in 0x80-0x9f
  const header =
    major === 3 ? new TextDecoder('utf-8', { ignoreBOM: true }).decode(headerBytes) : Array.from(headerBytes, (b) => String.fromCharCode(b)).join('');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined)
    throw new Error(`${what}: malformed .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new Error(`${what}: Fortran-order arrays are not supported`);
  const info = DESCR[descr];
  if (!info) throw new Error(`${what}: unsupported dtype '${descr}' (float32, float64, int64, int32, uint8, bool are)`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map((s) => Number(s));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${what}: bad shape (${shapeStr})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const byteLen = n * info.width;
  if (start + byteLen > bytes.length) throw new Error(`${what}: truncated data (${bytes.length - start} bytes for ${n} × ${descr})`);
  // copy into an aligned buffer
  const buf = new ArrayBuffer(byteLen);
  new Uint8Array(buf).set(bytes.subarray(start, start + byteLen));
  let data: NpyArray['data'];
  switch (info.dtype) {
    case 'float32':
      data = new Float32Array(buf);
      break;
    case 'float64':
      data = new Float64Array(buf);
      break;
    case 'int64':
      data = new BigInt64Array(buf);
      break;
    case 'int32':
      data = new Int32Array(buf);
      break;
    default:
      data = new Uint8Array(buf);
  }
  return { dtype: info.dtype, shape, data };
}

/** The values as float32 (int64 converted with Number()). */
export function npyToFloat32(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  if (a.data instanceof BigInt64Array) return Float32Array.from(a.data, (v) => Number(v));
  return Float32Array.from(a.data as ArrayLike<number>);
}

/** Serialise a float32 array as `.npy` (format 1.0, '<f4', C order). */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`encodeNpy: ${data.length} values for shape [${shape.join(', ')}]`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // pad with spaces so that the data starts on a 64-byte boundary; the header ends with '\n'
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([...MAGIC, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(
    Array.from(header, (c) => c.charCodeAt(0) & 0xff),
    10,
  );
  const le = new Uint8Array(data.byteLength);
  const dv = new DataView(le.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  out.set(le, 10 + header.length);
  return out;
}
