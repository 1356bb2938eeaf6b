/**
 * A tfjs graph model.json (tfjs-converter output), validated into typed structures. The file is
 * untrusted: every field the importer reads is checked here, and a wrong one is reported with the
 * file and the field's path (a GraphError).
 */
import { GraphError } from '../../ir/graph.js';
import {
  JsonPath,
  expectList,
  expectObject,
  isObject,
  optionalBool,
  optionalNumber,
  optionalNumberList,
  optionalObject,
  optionalString,
  optionalStringList,
  type JsonObject,
} from '../json-check.js';

/** A TensorShapeProto: `dims` with -1 for unknown sizes; undefined shape for unknown rank. */
export type TfShape = number[] | undefined;

export interface TfTensorProto {
  dtype?: string;
  shape: TfShape;
  /** base64 of the raw little-endian values */
  tensorContent?: string;
  /** the first of floatVal, intVal, int64Val, boolVal, doubleVal, halfVal present */
  values?: Array<number | boolean>;
}

export interface TfAttr {
  i?: number;
  f?: number;
  b?: boolean;
  /** base64 */
  s?: string;
  type?: string;
  /** present when the attribute is a list (possibly empty) */
  list?: { i?: number[]; s?: string[]; f?: number[] };
  shape?: TfShape;
  tensor?: TfTensorProto;
  /** the attribute as written (unknown ops keep it for inspection) */
  raw: JsonObject;
}

export interface TfNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, TfAttr>;
}

export interface TfSignatureEntry {
  name: string;
  shape: TfShape;
}

export interface GraphModelJson {
  nodes: TfNode[];
  signature?: { inputs: TfSignatureEntry[]; outputs: TfSignatureEntry[] };
}

function shapeProto(v: unknown, at: JsonPath): TfShape {
  const p = optionalObject(v, at);
  if (!p || optionalBool(p.unknownRank, at.at('unknownRank'))) return undefined;
  const dims = p.dim === undefined || p.dim === null ? [] : expectList(p.dim, at.at('dim'));
  return dims.map((d, k) => {
    const size = optionalNumber(expectObject(d, at.at('dim').at(k)).size, at.at('dim').at(k).at('size')) ?? 0;
    return size < 0 ? -1 : size;
  });
}

const VALUE_LISTS = ['floatVal', 'intVal', 'int64Val', 'boolVal', 'doubleVal', 'halfVal'];

function tensorProto(v: unknown, at: JsonPath): TfTensorProto {
  const t = expectObject(v, at);
  const out: TfTensorProto = {
    dtype: optionalString(t.dtype, at.at('dtype')),
    shape: shapeProto(t.tensorShape, at.at('tensorShape')),
    tensorContent: optionalString(t.tensorContent, at.at('tensorContent')),
  };
  const key = VALUE_LISTS.find((k) => t[k] !== undefined && t[k] !== null);
  if (key)
    out.values = expectList(t[key], at.at(key)).map((e, k) =>
      typeof e === 'boolean' ? e : (optionalNumber(e, at.at(key).at(k)) ?? at.at(key).at(k).fail('should be a number')),
    );
  return out;
}

function attribute(v: unknown, at: JsonPath): TfAttr {
  const a = expectObject(v, at);
  const out: TfAttr = {
    i: optionalNumber(a.i, at.at('i')),
    f: optionalNumber(a.f, at.at('f')),
    b: optionalBool(a.b, at.at('b')),
    s: optionalString(a.s, at.at('s')),
    type: optionalString(a.type, at.at('type')),
    raw: a,
  };
  const list = optionalObject(a.list, at.at('list'));
  if (list)
    out.list = {
      i: optionalNumberList(list.i, at.at('list').at('i')),
      s: optionalStringList(list.s, at.at('list').at('s')),
      f: optionalNumberList(list.f, at.at('list').at('f')),
    };
  if (a.shape !== undefined) out.shape = shapeProto(a.shape, at.at('shape'));
  if (a.tensor !== undefined) out.tensor = tensorProto(a.tensor, at.at('tensor'));
  return out;
}

function node(v: unknown, at: JsonPath): TfNode {
  if (!isObject(v) || typeof v.name !== 'string' || typeof v.op !== 'string')
    throw new GraphError(`${at.file}: malformed GraphDef node ${JSON.stringify(v)?.slice(0, 120)}`);
  const attrs = optionalObject(v.attr, at.at('attr')) ?? {};
  const attr: Record<string, TfAttr> = {};
  for (const [k, a] of Object.entries(attrs)) attr[k] = attribute(a, at.at('attr').at(k));
  return { name: v.name, op: v.op, input: optionalStringList(v.input, at.at('input')) ?? [], attr };
}

function signatureEntries(v: unknown, at: JsonPath): TfSignatureEntry[] {
  const m = optionalObject(v, at);
  if (!m) return [];
  return Object.entries(m).map(([k, e]) => {
    const o = expectObject(e, at.at(k));
    return { name: optionalString(o.name, at.at(k).at('name')) ?? '', shape: shapeProto(o.tensorShape, at.at(k).at('tensorShape')) };
  });
}

/** Validate a parsed graph model.json (`file` names it in messages). */
export function readGraphModelJson(json: unknown, file: string): GraphModelJson {
  const root = new JsonPath(file, '');
  const topo = isObject(json) ? json.modelTopology : undefined;
  if (!isObject(topo) || !Array.isArray(topo.node)) throw new GraphError(`${file}: no 'modelTopology.node' list in the graph model`);
  const nodesAt = root.at('modelTopology').at('node');
  const nodes = topo.node.map((n, k) => node(n, nodesAt.at(k)));
  const j = json as JsonObject;
  let sigAt = root.at('signature');
  let sig = j.signature;
  if (sig === undefined || sig === null) {
    const meta = optionalObject(j.userDefinedMetadata, root.at('userDefinedMetadata'));
    sig = meta?.signature;
    sigAt = root.at('userDefinedMetadata').at('signature');
  }
  const s = optionalObject(sig, sigAt);
  if (!s) return { nodes };
  return { nodes, signature: { inputs: signatureEntries(s.inputs, sigAt.at('inputs')), outputs: signatureEntries(s.outputs, sigAt.at('outputs')) } };
}
