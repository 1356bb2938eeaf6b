/** Decoding ONNX AttributeProtos, and typed reads of a decoded node's attributes with defaults. */
import { decodeTensor, num, type Attrs, type HostTensor } from './host/tensor.js';
import type { OnnxNode } from './layout.js';

type AttrValue = number | number[] | string | string[] | HostTensor | undefined;

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The AttributeProto type code, inferred from the populated field where old exporters left it unset. */
function attrType(a: Record<string, unknown>): number {
  const type = Number(a.type ?? 0);
  if (type) return type;
  if (a.t) return 4;
  if ((a.ints as unknown[] | undefined)?.length) return 7;
  if ((a.floats as unknown[] | undefined)?.length) return 6;
  if ((a.strings as unknown[] | undefined)?.length) return 8;
  if (a.s && (a.s as Uint8Array).length) return 3;
  if (a.f) return 1;
  return 2;
}

export function readAttrs(node: { attribute?: Array<Record<string, unknown>> | null }): Attrs {
  const out: Attrs = {};
  for (const a of node.attribute ?? []) {
    const name = String(a.name ?? '');
    let v: AttrValue;
    switch (attrType(a)) {
      case 1:
        v = Number(a.f ?? 0);
        break;
      case 2:
        v = num(a.i);
        break;
      case 3:
        v = utf8.decode((a.s as Uint8Array) ?? new Uint8Array());
        break;
      case 4:
        v = decodeTensor(a.t as never);
        break;
      case 6:
        v = Array.from((a.floats as number[]) ?? []);
        break;
      case 7:
        v = ((a.ints as unknown[]) ?? []).map(num);
        break;
      case 8:
        v = ((a.strings as Uint8Array[]) ?? []).map((s) => utf8.decode(s));
        break;
      default:
        v = undefined; // graphs, sparse tensors, type protos: only unmapped ops use them
    }
    out[name] = v;
  }
  return out;
}

/** A JSON-friendly copy of an unmapped node's attributes (tensors summarised). */
export function plainAttrs(a: Attrs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (v && typeof v === 'object' && 'dims' in (v as object)) {
      const t = v as HostTensor;
      out[k] = t.data.length <= 16 ? { dims: t.dims, dtype: t.dtype, values: Array.from(t.data) } : { dims: t.dims, dtype: t.dtype };
    } else out[k] = v;
  }
  return out;
}

export function attrInt(n: OnnxNode, k: string, d: number): number {
  const v = n.attrs[k];
  return typeof v === 'number' ? v : d;
}
export function attrFloat(n: OnnxNode, k: string, d: number): number {
  const v = n.attrs[k];
  return typeof v === 'number' ? v : d;
}
export function attrStr(n: OnnxNode, k: string, d: string): string {
  const v = n.attrs[k];
  return typeof v === 'string' ? v : d;
}
export function attrInts(n: OnnxNode, k: string): number[] | undefined {
  const v = n.attrs[k];
  return Array.isArray(v) ? (v as number[]) : undefined;
}
