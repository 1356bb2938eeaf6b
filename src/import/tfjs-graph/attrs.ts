/** Typed reads of a TF node's attributes, TF dtypes, and Const values written inline in model.json. */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type DType } from '../../ir/graph.js';
import { prod } from '../tfjs-common.js';
import type { TfAttr, TfNode } from './model-json.js';

/** Base64 → bytes without Node's Buffer (atob is in browsers and in Node); bad base64 is the model file's fault. */
export function base64Bytes(s: string, what = 'a base64 attribute'): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new GraphError(`${what} is not valid base64`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64(s: string): string {
  return new TextDecoder().decode(base64Bytes(s));
}

export function attrInts(n: TfNode, key: string): number[] | undefined {
  const list = n.attr[key]?.list;
  if (!list) return undefined;
  return list.i ?? [];
}

export function attrInt(n: TfNode, key: string, dflt: number): number {
  return n.attr[key]?.i ?? dflt;
}

export function attrFloat(n: TfNode, key: string, dflt: number): number {
  return n.attr[key]?.f ?? dflt;
}

export function attrBool(n: TfNode, key: string, dflt: boolean): boolean {
  return n.attr[key]?.b ?? dflt;
}

export function attrStr(n: TfNode, key: string): string | undefined {
  const v = n.attr[key]?.s;
  return v === undefined ? undefined : b64(v);
}

export function attrStrs(n: TfNode, key: string): string[] {
  return (n.attr[key]?.list?.s ?? []).map(b64);
}

export function attrType(n: TfNode, key: string): string | undefined {
  return n.attr[key]?.type;
}

/** An attribute of an op naflow keeps unmapped, decoded loosely for inspection (strings decoded). */
export function looseAttr(a: TfAttr): unknown {
  const raw = a.raw;
  const list = raw.list as Record<string, unknown> | undefined;
  if (a.list?.s && list?.s) return a.list.s.map(b64);
  if (a.s !== undefined) return b64(a.s);
  return list?.i ?? raw.i ?? raw.f ?? raw.b ?? raw.type ?? raw;
}

export function tfDtype(t: string | undefined): DType | 'bool' | undefined {
  switch (t) {
    case 'DT_FLOAT':
    case 'DT_HALF':
    case 'DT_DOUBLE':
    case 'DT_BFLOAT16':
      return 'float32';
    case 'DT_INT32':
    case 'DT_INT64':
    case 'DT_INT16':
    case 'DT_INT8':
    case 'DT_UINT8':
    case 'DT_UINT16':
      return 'int32';
    case 'DT_BOOL':
      return 'bool';
    default:
      return undefined;
  }
}

/** An inline Const `value` tensor (tensorContent or typed value lists). */
export function inlineTensor(n: TfNode, source: string): tf.Tensor | undefined {
  const t = n.attr.value?.tensor;
  if (!t) return undefined;
  const shape = t.shape ?? [];
  const dtype = tfDtype(t.dtype);
  const size = prod(shape);
  if (dtype === undefined) throw new GraphError(`${source}: Const '${n.name}' has dtype ${t.dtype}, which naflow cannot read`);
  if (t.tensorContent) {
    const bytes = base64Bytes(t.tensorContent, `${source}: Const '${n.name}'`);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    if (t.dtype === 'DT_FLOAT') return tf.tensor(new Float32Array(ab), shape, 'float32');
    if (t.dtype === 'DT_INT32') return tf.tensor(new Int32Array(ab), shape, 'int32');
    if (t.dtype === 'DT_INT64') {
      const big = new BigInt64Array(ab);
      return tf.tensor(
        Int32Array.from(big, (v) => Number(v)),
        shape,
        'int32',
      );
    }
    if (t.dtype === 'DT_BOOL') return tf.tensor(new Uint8Array(ab), shape, 'bool');
    throw new GraphError(`${source}: Const '${n.name}' stores ${t.dtype} tensorContent, which naflow cannot read`);
  }
  const vals = (t.values ?? []).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  const filled = vals.length === size ? vals : new Array(size).fill(vals.length ? vals[vals.length - 1] : 0);
  return tf.tensor(filled, shape, dtype);
}
