/**
 * A small ONNX graph builder for the models naflow generates for onnxruntime (runtime/native.ts): the
 * one-operator convolution sessions and the whole-graph reference-mode session. Encodes with
 * onnx-proto (the same protobuf schema the importer reads).
 */
import onnxProto, { type onnx as OnnxNs } from 'onnx-proto';

// onnx-proto is CommonJS (protobufjs static module): its namespace is the default export
const { onnx } = onnxProto;

/** One attribute value, tagged with its ONNX type. */
export type OnnxAttr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };
export type OnnxAttrs = Record<string, OnnxAttr>;

/** The opset naflow's generated models use (ScatterElements' reduction needs 16). */
export const GENERATED_OPSET = 17;

function attribute(name: string, a: OnnxAttr): OnnxNs.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
}

export type ElemType = 'float32' | 'int64';

/** dims: -1 marks a symbolic dimension */
function valueInfo(name: string, dims: number[], type: ElemType): OnnxNs.IValueInfoProto {
  const elemType = type === 'int64' ? onnx.TensorProto.DataType.INT64 : onnx.TensorProto.DataType.FLOAT;
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d, i) => (d < 0 ? { dimParam: `d${i}` } : { dimValue: d })) } } } };
}

export class OnnxGraphBuilder {
  private readonly nodes: OnnxNs.INodeProto[] = [];
  private readonly initializers: OnnxNs.ITensorProto[] = [];
  private readonly inputs: OnnxNs.IValueInfoProto[] = [];
  private readonly outputs: OnnxNs.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = base;
    while (this.used.has(name)) name = `${base}__${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Add a node; returns its output names: `outputs` fresh ones, or exactly the names given. */
  node(op: string, inputs: string[], attrs: OnnxAttrs = {}, outputs: number | string[] = 1, hint = op): string[] {
    const out = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => this.fresh(`${hint}_${k}`)) : outputs.map((n) => this.fresh(n));
    this.nodes.push({ opType: op, input: inputs, output: out, attribute: Object.entries(attrs).map(([n, a]) => attribute(n, a)) });
    return out;
  }

  /** Add a single-output node and return its output name. */
  op(op: string, inputs: string[], attrs: OnnxAttrs = {}, hint = op): string {
    return this.node(op, inputs, attrs, 1, hint)[0];
  }

  float(data: Float32Array | number[], dims: number[], hint = 'const'): string {
    const name = this.fresh(hint);
    const a = data instanceof Float32Array ? data : Float32Array.from(data);
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
    return name;
  }

  int64(data: number[], dims: number[] = [data.length], hint = 'ints'): string {
    const name = this.fresh(hint);
    const a = BigInt64Array.from(data.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(a.buffer) });
    return name;
  }

  input(name: string, dims: number[], type: ElemType = 'float32'): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims, type));
    return name;
  }

  /** Declare `value` a graph output (shape left unknown: onnxruntime infers it). */
  output(value: string, type: ElemType = 'float32'): void {
    const elemType = type === 'int64' ? onnx.TensorProto.DataType.INT64 : onnx.TensorProto.DataType.FLOAT;
    this.outputs.push({ name: value, type: { tensorType: { elemType } } });
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  encode(name = 'naflow'): Uint8Array {
    const graph: OnnxNs.IGraphProto = { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
    return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: GENERATED_OPSET }], graph }).finish();
  }
}
