/**
 * ONNX (opsets 11–18) → naflow graph.
 *
 * The importer walks the ONNX graph once, in topological order, keeping for every ONNX tensor either a
 * host constant (initializers, Constant nodes and everything folded from them: shape arithmetic,
 * casts, dequantised weights, …) or an activation with its logical ONNX shape. Activations of rank 4
 * are stored NHWC under their ONNX name; weights and broadcast constants are converted to the layouts
 * of `src/ir/graph.ts`, axis-dependent ops are remapped, and explicit Transpose nodes are inserted
 * where the memory order matters (Flatten/Reshape/MatMul of a rank-4 tensor). Op types naflow has no
 * mapping for are kept as nodes of that op type (the engine rejects them when the model is loaded).
 *
 * A symbolic batch dimension is tracked through shape arithmetic as a sentinel value (`BATCH`), so
 * that `x.view(x.size(0), -1)` style graphs fold; any dimension that is a multiple of the sentinel is
 * emitted as -1.
 */
import onnxProto from 'onnx-proto';
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, topoSort, type AnyNode, type Graph, type OpAttrMap, type OpType, type ValueInfo } from '../ir/graph.js';
import {
  FoldError,
  canFold,
  decodeTensor,
  dtypeFromOnnx,
  flattenDims,
  foldOp,
  isFloat,
  makeTensor,
  num,
  reshapeDims,
  shapeTensor,
  sizeOf,
  sliceLength,
  sliceRanges,
  splitSizes,
  squeezeDims,
  toInts,
  transposeHost,
  reshapeHost,
  unsqueezeDims,
  broadcastDims,
  ONNX_DTYPES,
  type Attrs,
  type HDType,
  type HostTensor,
} from './onnx-host.js';

const { onnx } = onnxProto;

/** Sentinel standing for a symbolic batch size in shape arithmetic (large, odd, and never a real size). */
export const BATCH = 268435459;
/** Storage axis (NHWC) of each logical ONNX axis of a rank-4 tensor. */
const AX = [0, 3, 1, 2];
/** Logical ONNX axis held at each NHWC storage axis. */
const LOGICAL = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

export const MIN_OPSET = 11;
export const MAX_OPSET = 18;

interface Act {
  kind: 'act';
  /** naflow tensor holding it (NHWC when rank 4) */
  ref: string;
  /** logical ONNX dims (BATCH stands for the symbolic batch); undefined when unknown */
  dims?: number[];
  rank?: number;
  dtype: HDType;
  /** downstream of an op naflow could not map: shapes are best-effort */
  tainted?: boolean;
}
interface Const {
  kind: 'const';
  t: HostTensor;
}
type Val = Act | Const;

/** Thrown inside a node conversion when a needed static shape is unknown (after an unmapped op). */
class NeedShape extends Error {}

const INT_ONLY_OPS = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Range', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And',
  'Or', 'Xor', 'NonZero',
]);

const isBatchDim = (d: number): boolean => d >= BATCH && d % BATCH === 0;
const extDim = (d: number): number => (isBatchDim(d) ? -1 : d);
const nhwc = (d: number[]): number[] => (d.length === 4 ? [d[0], d[2], d[3], d[1]] : d.slice());
/** NCHW↔NHWC is a no-op on memory order when C is 1 or H·W is 1. */
const memNoop = (d: number[]): boolean => d.length === 4 && (d[1] === 1 || d[2] * d[3] === 1);
const fmtDims = (d: number[] | undefined): string => (d ? `[${d.map((x) => (isBatchDim(x) ? 'N' : String(x))).join(',')}]` : '[?]');

type AttrValue = number | number[] | string | string[] | HostTensor | undefined;

function readAttrs(node: { attribute?: Array<Record<string, unknown>> | null }): Attrs {
  const out: Attrs = {};
  for (const a of node.attribute ?? []) {
    const name = String(a.name ?? '');
    let type = Number(a.type ?? 0);
    if (!type) {
      // old exporters leave the type unset: infer it from the populated field
      if (a.t) type = 4;
      else if ((a.ints as unknown[] | undefined)?.length) type = 7;
      else if ((a.floats as unknown[] | undefined)?.length) type = 6;
      else if ((a.strings as unknown[] | undefined)?.length) type = 8;
      else if (a.s && (a.s as Uint8Array).length) type = 3;
      else if (a.f) type = 1;
      else type = 2;
    }
    let v: AttrValue;
    switch (type) {
      case 1: v = Number(a.f ?? 0); break;
      case 2: v = num(a.i); break;
      case 3: v = Buffer.from((a.s as Uint8Array) ?? new Uint8Array()).toString('utf8'); break;
      case 4: v = decodeTensor(a.t as never); break;
      case 6: v = Array.from((a.floats as number[]) ?? []); break;
      case 7: v = ((a.ints as unknown[]) ?? []).map(num); break;
      case 8: v = ((a.strings as Uint8Array[]) ?? []).map((s) => Buffer.from(s).toString('utf8')); break;
      default: v = undefined; // graphs, sparse tensors, type protos: only unmapped ops use them
    }
    out[name] = v;
  }
  return out;
}

/** A JSON-friendly copy of an unmapped node's attributes (tensors summarised). */
function plainAttrs(a: Attrs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (v && typeof v === 'object' && 'dims' in (v as object)) {
      const t = v as HostTensor;
      out[k] = t.data.length <= 16 ? { dims: t.dims, dtype: t.dtype, values: Array.from(t.data) } : { dims: t.dims, dtype: t.dtype };
    } else out[k] = v;
  }
  return out;
}

interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
  index: number;
}

export function importOnnx(bytes: Uint8Array, source: string): Graph {
  if (bytes.length === 0) throw new GraphError(`${source}: not a valid ONNX model (the file is empty)`);
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new GraphError(`${source}: not a valid ONNX model (protobuf decode failed: ${(e as Error).message})`);
  }
  const looksOnnx = model.graph || num(model.irVersion) > 0 || (model.opsetImport && model.opsetImport.length);
  if (!looksOnnx || num(model.irVersion) > 100)
    throw new GraphError(`${source}: not a valid ONNX model (no ir_version, opset_import or graph in the file)`);
  if (!model.graph) throw new GraphError(`${source}: the ONNX model has no graph`);
  const importer = new OnnxImporter(model, source);
  try {
    return importer.run();
  } catch (e) {
    importer.disposeAll();
    if (e instanceof GraphError) throw e;
    if (e instanceof FoldError) throw new GraphError(`${source}: ${e.message}`);
    throw e;
  }
}

class OnnxImporter {
  private readonly vals = new Map<string, Val>();
  private readonly nodes: AnyNode[] = [];
  private readonly constants = new Map<string, tf.Tensor>();
  private readonly nodeNames = new Set<string>();
  private readonly tensorNames = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private readonly nchwCache = new Map<string, string>();
  private readonly hints = new Map<string, { dims?: number[]; rank?: number; dtype?: HDType }>();
  private readonly consumers = new Map<string, number>();
  private readonly graphOutputs = new Set<string>();
  private opset = 0;
  private cur: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attrs: {}, index: -1 };

  constructor(
    private readonly model: InstanceType<typeof onnx.ModelProto>,
    private readonly source: string,
  ) {}

  disposeAll(): void {
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
  }

  // ---------------------------------------------------------------- errors

  private fail(msg: string): never {
    throw new GraphError(`${this.source}: node '${this.cur.name}' (${this.cur.opType}): ${msg}`);
  }

  // ---------------------------------------------------------------- driver

  run(): Graph {
    const m = this.model;
    const g = m.graph!;
    const src = this.source;

    // opset
    const imports = m.opsetImport ?? [];
    const def = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
    if (!def) throw new GraphError(`${src}: the model declares no opset for the default ONNX domain (ai.onnx)`);
    this.opset = num(def.version);
    if (this.opset < MIN_OPSET || this.opset > MAX_OPSET)
      throw new GraphError(
        `${src}: ONNX opset ${this.opset} is not supported (naflow reads opsets ${MIN_OPSET}–${MAX_OPSET}; re-export the model with opset_version between them)`,
      );
    if (!g.node || g.node.length === 0) throw new GraphError(`${src}: the ONNX graph has no nodes`);

    // initializers
    for (const init of g.initializer ?? []) {
      const name = init.name ?? '';
      try {
        this.vals.set(name, { kind: 'const', t: decodeTensor(init as never) });
      } catch (e) {
        throw new GraphError(`${src}: initializer ${(e as Error).message.replace(/^tensor /, '')}`);
      }
    }
    if ((g.sparseInitializer ?? []).length)
      throw new GraphError(`${src}: the model has sparse initializers, which naflow does not support`);

    // shape hints from value_info / outputs (used only for the outputs of ops naflow cannot map)
    for (const vi of [...(g.valueInfo ?? []), ...(g.output ?? [])]) {
      const h = this.typeInfo(vi);
      if (h) this.hints.set(vi.name ?? '', h);
    }

    // graph inputs (those that are not initializers)
    const inputs: ValueInfo[] = [];
    for (const vi of g.input ?? []) {
      const name = vi.name ?? '';
      if (this.vals.has(name)) continue;
      const tt = vi.type?.tensorType;
      if (!tt) throw new GraphError(`${src}: graph input '${name}' is not a tensor`);
      const dtype = dtypeFromOnnxSafe(tt.elemType ?? 1);
      const dimsProto = tt.shape?.dim;
      if (!dimsProto) throw new GraphError(`${src}: graph input '${name}' has no shape; naflow needs a static input shape`);
      const dims = dimsProto.map((d, k) => {
        const v = d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue) : 0;
        if (v > 0) return v;
        if (k === 0) return BATCH;
        throw new GraphError(
          `${src}: graph input '${name}' has a symbolic dimension ${k} ('${d.dimParam ?? '?'}'); naflow needs a static input shape except for the batch (re-export with a fixed input size)`,
        );
      });
      this.vals.set(name, { kind: 'act', ref: name, dims, rank: dims.length, dtype });
      this.tensorNames.add(name);
      inputs.push({
        name,
        shape: nhwc(dims).map(extDim),
        dtype: isFloat(dtype) ? 'float32' : 'int32',
      });
    }
    if (!inputs.length) throw new GraphError(`${src}: the ONNX graph has no (non-initializer) inputs`);

    // nodes
    const raw: OnnxNode[] = g.node.map((n, index) => ({
      name: n.name || `${n.opType}_${index}`,
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: (n.input ?? []).slice(),
      outputs: (n.output ?? []).slice(),
      attrs: {},
      index,
    }));
    for (const n of raw) for (const o of n.outputs) if (o) this.tensorNames.add(o);
    for (const n of raw) for (const i of n.inputs) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    for (const o of g.output ?? []) {
      this.graphOutputs.add(o.name ?? '');
      this.consumers.set(o.name ?? '', (this.consumers.get(o.name ?? '') ?? 0) + 1);
    }
    const order = this.sortOnnx(raw);
    for (const n of order) {
      // unique node names
      let name = n.name;
      for (let k = 1; this.nodeNames.has(name) || this.reserved(name); k++) name = `${n.name}_${k}`;
      n.name = name;
      this.reserveName(name);
      this.cur = n;
      try {
        n.attrs = readAttrs(g.node[n.index] as never);
      } catch (e) {
        this.fail(`bad attribute: ${(e as Error).message}`);
      }
      this.convertNode(n);
    }

    // outputs
    const outputs: string[] = [];
    for (const o of g.output ?? []) {
      const name = o.name ?? '';
      const v = this.vals.get(name);
      if (!v) throw new GraphError(`${src}: graph output '${name}' is not produced by any node`);
      if (v.kind === 'const') {
        this.cur = { name: `${name}::const`, opType: 'Constant', domain: '', inputs: [], outputs: [name], attrs: {}, index: -1 };
        const c = this.constRef(name, 'output', () => v.t, `${name}::const`);
        this.emit('Identity', [c], [name], {});
        this.setAct(name, v.t.dims, v.t.dtype);
      }
      outputs.push(name);
    }

    const values = new Map<string, ValueInfo>();
    for (const [name, v] of this.vals)
      if (v.kind === 'act' && v.dims && v.ref === name)
        values.set(name, {
          name,
          shape: (v.dims.length === 4 ? nhwc(v.dims) : v.dims).map(extDim),
          dtype: isFloat(v.dtype) ? 'float32' : 'int32',
        });
    for (const n of this.nodes)
      for (const o of n.outputs)
        if (o && !values.has(o)) {
          const v = this.tmpShapes.get(o);
          if (v) values.set(o, { name: o, shape: v.map(extDim), dtype: 'float32' });
        }

    return {
      format: 'onnx',
      source: src,
      inputs,
      outputs,
      nodes: this.nodes,
      constants: this.constants,
      values,
    };
  }

  /** Shapes (storage order) of helper tensors the importer inserted. */
  private readonly tmpShapes = new Map<string, number[]>();

  private typeInfo(vi: {
    type?: { tensorType?: { elemType?: number | null; shape?: { dim?: Array<{ dimValue?: unknown; dimParam?: string | null }> | null } | null } | null } | null;
  }): { dims?: number[]; rank?: number; dtype?: HDType } | undefined {
    const tt = vi.type?.tensorType;
    if (!tt) return undefined;
    const dtype = ONNX_DTYPES[tt.elemType ?? 1]?.host;
    const dimsP = tt.shape?.dim;
    if (!dimsP) return { dtype };
    let known = true;
    const dims = dimsP.map((d, k) => {
      const v = d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue) : 0;
      if (v > 0) return v;
      if (k === 0 && d.dimParam) return BATCH;
      known = false;
      return -1;
    });
    return { dims: known ? dims : undefined, rank: dims.length, dtype };
  }

  private reservedNames = new Set<string>();
  private reserved(n: string): boolean {
    return this.reservedNames.has(n);
  }
  private reserveName(n: string): void {
    this.reservedNames.add(n);
  }

  /** Stable topological order of the ONNX nodes (exporters usually emit one; some do not). */
  private sortOnnx(nodes: OnnxNode[]): OnnxNode[] {
    return topoSort(
      nodes,
      new Set(this.vals.keys()),
      (n, missing) =>
        `${this.source}: node '${n.name}' (${n.opType}) reads tensor(s) ${missing.map((x) => `'${x}'`).join(', ')} that no node, input or initializer provides (or the graph has a cycle)`,
    );
  }

  // ---------------------------------------------------------------- values

  private val(name: string): Val {
    const v = this.vals.get(name);
    if (!v) this.fail(`input '${name}' is not available`);
    return v;
  }

  private constOf(name: string | undefined): HostTensor | undefined {
    if (!name) return undefined;
    const v = this.val(name);
    return v.kind === 'const' ? v.t : undefined;
  }

  private needConst(name: string | undefined, what: string): HostTensor {
    if (!name) this.fail(`${what} is missing`);
    const t = this.constOf(name);
    if (!t) this.fail(`${what} ('${name}') must be a constant (naflow needs it at load time), but it is computed at run time`);
    return t;
  }

  /** The activation for an input; constants are materialised in activation layout (NHWC when rank 4). */
  private act(name: string): Act {
    const v = this.val(name);
    if (v.kind === 'act') return v;
    const t = v.t;
    const ref =
      t.dims.length === 4
        ? this.constRef(name, 'nhwc', () => transposeHost(t, TO_NHWC))
        : this.constRef(name, 'raw', () => t);
    return { kind: 'act', ref, dims: t.dims, rank: t.dims.length, dtype: t.dtype };
  }

  private dimsOf(a: Act): number[] {
    if (!a.dims) throw new NeedShape(`shape of '${a.ref}' is unknown`);
    return a.dims;
  }

  private setAct(name: string, dims: number[] | undefined, dtype: HDType = 'float32', tainted = false, rank?: number): void {
    if (!name) return;
    this.vals.set(name, { kind: 'act', ref: name, dims, rank: dims ? dims.length : rank, dtype, tainted });
  }

  private tainted(n: OnnxNode): boolean {
    return n.inputs.some((i) => {
      const v = i ? this.vals.get(i) : undefined;
      return v?.kind === 'act' && (v.tainted || !v.dims);
    });
  }

  /** Materialise a host constant as a graph constant (cached per ONNX tensor and layout tag). */
  private constRef(onnxName: string, tag: string, make: () => HostTensor, preferred?: string): string {
    const key = `${onnxName}\u0000${tag}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    let name = preferred ?? onnxName;
    if (!name || this.constants.has(name) || (this.tensorNames.has(name) && this.vals.get(name)?.kind === 'act'))
      name = `${onnxName || 'const'}::${tag}`;
    for (let k = 1; this.constants.has(name); k++) name = `${onnxName || 'const'}::${tag}_${k}`;
    const t = make();
    const floatish = isFloat(t.dtype);
    if (t.dims.some(isBatchDim))
      this.fail(`constant '${onnxName}' would depend on the symbolic batch size; re-export the model with a fixed batch`);
    const tensor = floatish
      ? tf.tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), t.dims, 'float32')
      : tf.tensor(Int32Array.from(t.data), t.dims, 'int32');
    this.constants.set(name, tensor);
    this.constCache.set(key, name);
    this.tensorNames.add(name);
    return name;
  }

  /** A constant used in a float computation, as float32. */
  private f32(t: HostTensor): HostTensor {
    return t.dtype === 'float32' ? t : makeTensor('float32', t.dims, t.data);
  }

  private freshTensor(base: string): string {
    let name = base;
    for (let k = 1; this.tensorNames.has(name); k++) name = `${base}_${k}`;
    this.tensorNames.add(name);
    return name;
  }

  // ---------------------------------------------------------------- emitting

  private emit<O extends OpType>(op: O, inputs: string[], outputs: string[], attrs: OpAttrMap[O], suffix?: string): AnyNode;
  private emit(op: string, inputs: string[], outputs: string[], attrs: Record<string, unknown>, suffix?: string): AnyNode;
  private emit(op: string, inputs: string[], outputs: string[], attrs: Record<string, unknown>, suffix?: string): AnyNode {
    const base = suffix ? `${this.cur.name}::${suffix}` : this.cur.name;
    let name = base;
    if (suffix) for (let k = 1; this.nodeNames.has(name) || this.reserved(name); k++) name = `${base}_${k}`;
    else for (let k = 1; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    this.nodeNames.add(name);
    const node: AnyNode = { name, op, inputs, outputs, attrs, sourceOp: this.cur.opType };
    this.nodes.push(node);
    return node;
  }

  /** NCHW-ordered copy of a rank-4 (NHWC-stored) activation (one Transpose per tensor, shared). */
  private nchw(a: Act): string {
    const hit = this.nchwCache.get(a.ref);
    if (hit) return hit;
    const out = this.freshTensor(`${a.ref}::nchw`);
    const saved = this.cur;
    this.cur = { ...saved, name: a.ref };
    this.emit('Transpose', [a.ref], [out], { perm: TO_NCHW }, 'nchw');
    this.cur = saved;
    if (a.dims) this.tmpShapes.set(out, a.dims.slice());
    this.nchwCache.set(a.ref, out);
    return out;
  }

  /**
   * Emit nodes computing `outName` (logical ONNX dims `outDims`, stored NHWC if rank 4) as a reshape of `src`.
   * Inserts transposes where the NHWC and NCHW memory orders differ.
   */
  private reshapeTo(src: Act, outDims: number[], outName: string, suffix?: string): void {
    const inDims = this.dimsOf(src);
    let from = src.ref;
    if (inDims.length === 4 && !memNoop(inDims)) from = this.nchw(src);
    const shape = (d: number[]): number[] => {
      const s = d.map(extDim);
      if (s.filter((x) => x === -1).length > 1)
        this.fail(`reshape to ${fmtDims(outDims)} mixes the symbolic batch into several dimensions`);
      return s;
    };
    if (outDims.length === 4 && !memNoop(outDims)) {
      const tmp = this.freshTensor(`${outName}::nchw`);
      this.emit('Reshape', [from], [tmp], { shape: shape(outDims) }, suffix);
      this.tmpShapes.set(tmp, outDims.slice());
      this.emit('Transpose', [tmp], [outName], { perm: TO_NHWC }, suffix ? `${suffix}::nhwc` : 'nhwc');
    } else {
      this.emit('Reshape', [from], [outName], { shape: shape(nhwc(outDims)) }, suffix);
    }
  }

  /** Emit a Slice of `src` over logical ranges; returns false when it is the identity (nothing emitted). */
  private sliceTo(src: Act, ranges: Array<[number, number, number]>, outName: string, suffix?: string): void {
    const dims = this.dimsOf(src);
    const r = dims.length;
    const starts: number[] = [];
    const ends: number[] = [];
    const axes: number[] = [];
    const steps: number[] = [];
    const entries: Array<[number, number, number, number]> = [];
    ranges.forEach(([s, e, st], a) => {
      const full = st === 1 && s === 0 && e === dims[a];
      if (full) return;
      if (isBatchDim(dims[a])) this.fail(`slicing the symbolic batch dimension is not supported (re-export with a fixed batch)`);
      const storage = r === 4 ? AX[a] : a;
      // a negative step ending before index 0: use -(dim+1), which every slice convention reads as "past the start"
      const end = st < 0 && e < 0 ? -dims[a] - 1 : e;
      entries.push([storage, s, end, st]);
    });
    entries.sort((x, y) => x[0] - y[0]);
    for (const [a, s, e, st] of entries) {
      axes.push(a);
      starts.push(s);
      ends.push(e);
      steps.push(st);
    }
    if (!axes.length) this.emit('Identity', [src.ref], [outName], {}, suffix);
    else this.emit('Slice', [src.ref], [outName], { starts, ends, axes, steps }, suffix);
  }

  // ---------------------------------------------------------------- conversion

  private convertNode(n: OnnxNode): void {
    const op = n.opType;
    const domainOk = !n.domain || n.domain === 'ai.onnx';
    if (domainOk && op === 'Constant') return this.foldConstant(n);
    const ins = n.inputs.map((i) => (i ? this.vals.get(i) : undefined));
    const allConst = n.inputs.some((i) => i) && ins.every((v, k) => !n.inputs[k] || v?.kind === 'const');
    if (domainOk && allConst && canFold(op)) return this.fold(n);
    if (domainOk && (op === 'Shape' || op === 'Size')) {
      const a = this.vals.get(n.inputs[0]);
      if (a?.kind === 'act' && a.dims) {
        const t = op === 'Shape' ? shapeTensor(a.dims, n.attrs) : makeTensor('int64', [], [sizeOf(a.dims)]);
        this.vals.set(n.outputs[0], { kind: 'const', t });
        return;
      }
    }
    const tainted = this.tainted(n);
    if (!domainOk) return this.unmapped(n);
    try {
      const mapped = this.convertOp(n);
      if (!mapped) {
        if (INT_ONLY_OPS.has(op) && !tainted)
          this.fail(
            `computes integer/shape values from activations at run time (input ${n.inputs.map((i) => `'${i}'`).join(', ')}); naflow folds such ops at load time only, so their inputs must be constants or tensors of static shape`,
          );
        this.unmapped(n);
      } else if (tainted) for (const o of n.outputs) { const v = this.vals.get(o); if (v?.kind === 'act') v.tainted = true; }
    } catch (e) {
      if (e instanceof NeedShape) {
        this.unmapped(n);
        return;
      }
      if (e instanceof FoldError) this.fail(e.message);
      throw e;
    }
  }

  private foldConstant(n: OnnxNode): void {
    const a = n.attrs;
    let t: HostTensor;
    if (a.value !== undefined) t = a.value as HostTensor;
    else if (a.value_float !== undefined) t = makeTensor('float32', [], [a.value_float as number]);
    else if (a.value_floats !== undefined) t = makeTensor('float32', [(a.value_floats as number[]).length], a.value_floats as number[]);
    else if (a.value_int !== undefined) t = makeTensor('int64', [], [a.value_int as number]);
    else if (a.value_ints !== undefined) t = makeTensor('int64', [(a.value_ints as number[]).length], a.value_ints as number[]);
    else if ('sparse_value' in a) this.fail('sparse constants are not supported');
    else this.fail('Constant without a value');
    this.vals.set(n.outputs[0], { kind: 'const', t });
  }

  private fold(n: OnnxNode): void {
    const ins = n.inputs.map((i) => this.constOf(i));
    let outs: HostTensor[];
    try {
      outs = foldOp(n.opType, ins, n.attrs, this.opset, n.outputs.length);
    } catch (e) {
      if (!(e instanceof FoldError)) throw e;
      const batchDep = ins.some((t) => t && Array.from(t.data).some(isBatchDim));
      this.fail(
        batchDep
          ? `cannot fold at load time: the value depends on the symbolic batch size (re-export the model with a fixed batch): ${e.message}`
          : `cannot fold at load time: ${e.message}`,
      );
    }
    n.outputs.forEach((o, k) => {
      if (o && outs[k]) this.vals.set(o, { kind: 'const', t: outs[k] });
    });
  }

  /** Keep a node naflow cannot map, as a node of its ONNX op type (rejected when the model is loaded). */
  private unmapped(n: OnnxNode): void {
    const inputs = n.inputs.map((i) => {
      if (!i) return '';
      const v = this.vals.get(i);
      if (!v) return i;
      if (v.kind === 'act') return v.ref;
      return this.constRef(i, 'raw', () => v.t);
    });
    this.emit(n.opType, inputs, n.outputs.slice(), plainAttrs(n.attrs));
    for (const o of n.outputs) {
      if (!o) continue;
      const h = this.hints.get(o);
      this.setAct(o, h?.dims, h?.dtype ?? 'float32', true, h?.rank);
    }
  }

  /** Optional outputs past the first must be unused. */
  private onlyFirstOutput(n: OnnxNode, what: string): void {
    n.outputs.slice(1).forEach((o) => {
      if (o && this.consumers.get(o)) this.fail(`its ${what} output '${o}' is used, which naflow does not support`);
    });
  }

  private attrI(n: OnnxNode, k: string, d: number): number {
    const v = n.attrs[k];
    return typeof v === 'number' ? v : d;
  }
  private attrF(n: OnnxNode, k: string, d: number): number {
    const v = n.attrs[k];
    return typeof v === 'number' ? v : d;
  }
  private attrS(n: OnnxNode, k: string, d: string): string {
    const v = n.attrs[k];
    return typeof v === 'string' ? v : d;
  }
  private attrInts(n: OnnxNode, k: string): number[] | undefined {
    const v = n.attrs[k];
    return Array.isArray(v) ? (v as number[]) : undefined;
  }

  /** Returns false when the op is not mapped (the caller keeps it as an unmapped node or errors). */
  private convertOp(n: OnnxNode): boolean {
    const op = n.opType;
    switch (op) {
      case 'Conv':
        this.conv(n);
        return true;
      case 'ConvTranspose':
        this.convTranspose(n);
        return true;
      case 'BatchNormalization':
        this.batchNorm(n);
        return true;
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'HardSwish':
        this.unary(n, op, {});
        return true;
      case 'LeakyRelu':
        this.unary(n, 'LeakyRelu', { alpha: this.attrF(n, 'alpha', 0.01) });
        return true;
      case 'HardSigmoid':
        this.unary(n, 'HardSigmoid', { alpha: this.attrF(n, 'alpha', 0.2), beta: this.attrF(n, 'beta', 0.5) });
        return true;
      case 'Clip':
        this.clip(n);
        return true;
      case 'Identity':
        this.unary(n, 'Identity', {});
        return true;
      case 'Dropout':
        this.onlyFirstOutput(n, 'mask');
        this.unary(n, 'Dropout', {});
        return true;
      case 'PRelu':
        this.prelu(n);
        return true;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
        this.binary(n, op, n.inputs[0], n.inputs[1], n.outputs[0]);
        return true;
      case 'Sum':
        return this.sum(n);
      case 'Concat':
        this.concat(n);
        return true;
      case 'MaxPool':
      case 'AveragePool':
        this.pool(n);
        return true;
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        this.globalPool(n);
        return true;
      case 'ReduceMean':
        this.reduceMean(n);
        return true;
      case 'Gemm':
        this.gemm(n);
        return true;
      case 'MatMul':
        this.matmul(n);
        return true;
      case 'Flatten':
        this.flatten(n);
        return true;
      case 'Reshape':
        this.reshape(n);
        return true;
      case 'Squeeze':
      case 'Unsqueeze':
        this.squeeze(n);
        return true;
      case 'Transpose':
        this.transpose(n);
        return true;
      case 'Slice':
        this.slice(n);
        return true;
      case 'Pad':
        this.pad(n);
        return true;
      case 'Resize':
      case 'Upsample':
        this.resize(n);
        return true;
      case 'Softmax':
        this.softmax(n);
        return true;
      case 'Cast':
        return this.cast(n);
      case 'Gather':
        return this.gather(n);
      case 'Split':
        return this.split(n);
      case 'Expand':
        return this.expand(n);
      default:
        return false;
    }
  }

  // ---- element-wise

  private unary(n: OnnxNode, op: string, attrs: Record<string, unknown>): void {
    const x = this.act(n.inputs[0]);
    this.emit(op, [x.ref], [n.outputs[0]], attrs);
    this.setAct(n.outputs[0], x.dims, x.dtype, false, x.rank);
  }

  private clip(n: OnnxNode): void {
    let min = -Infinity;
    let max = Infinity;
    if (n.inputs[1]) min = this.needConst(n.inputs[1], 'min').data[0];
    if (n.inputs[2]) max = this.needConst(n.inputs[2], 'max').data[0];
    if (typeof n.attrs.min === 'number') min = n.attrs.min;
    if (typeof n.attrs.max === 'number') max = n.attrs.max;
    this.unary(n, 'Clip', { min, max });
  }

  /** Reference to operand `name` broadcast-compatible with a result of logical rank `outRank`. */
  private operand(name: string, outDims: number[], outName: string, idx: number): string {
    const v = this.val(name);
    const outRank = outDims.length;
    if (v.kind === 'const') {
      const t = this.f32(v.t);
      if (outRank !== 4) return this.constRef(name, 'raw', () => t);
      const padded = [...new Array(4 - t.dims.length).fill(1), ...t.dims];
      // scalars and per-element constants that are all-ones in C or HW keep a simple layout
      return this.constRef(name, 'bcast4', () => transposeHost(reshapeHost(t, padded), TO_NHWC));
    }
    const dims = this.dimsOf(v);
    if (outRank === 4 && dims.length < 4) {
      const padded = [...new Array(4 - dims.length).fill(1), ...dims];
      const tmp = this.freshTensor(`${outName}::in${idx}_4d`);
      this.reshapeTo(v, padded, tmp, `in${idx}_4d`);
      return tmp;
    }
    return v.ref;
  }

  private binary(n: OnnxNode, op: 'Add' | 'Sub' | 'Mul' | 'Div', a: string, b: string, out: string, suffix?: string): void {
    const va = this.val(a);
    const vb = this.val(b);
    const da = va.kind === 'const' ? va.t.dims : this.dimsOf(va);
    const db = vb.kind === 'const' ? vb.t.dims : this.dimsOf(vb);
    let dims: number[];
    try {
      dims = broadcastDims(da, db);
    } catch (e) {
      this.fail((e as Error).message);
    }
    const dtype = va.kind === 'act' ? va.dtype : (vb as Act).dtype;
    if (!isFloat(dtype)) this.fail(`integer arithmetic on activations is not supported`);
    this.emit(op, [this.operand(a, dims, out, 0), this.operand(b, dims, out, 1)], [out], {}, suffix);
    this.setAct(out, dims, 'float32');
  }

  private sum(n: OnnxNode): boolean {
    const ins = n.inputs.filter((i) => i);
    if (ins.length === 1) {
      this.unary(n, 'Identity', {});
      return true;
    }
    let acc = ins[0];
    for (let k = 1; k < ins.length; k++) {
      const last = k === ins.length - 1;
      const out = last ? n.outputs[0] : this.freshTensor(`${n.outputs[0]}::sum${k}`);
      this.binary(n, 'Add', acc, ins[k], out, last ? undefined : `sum${k}`);
      acc = out;
    }
    return true;
  }

  private prelu(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const dims = this.dimsOf(x);
    const slope = this.needConst(n.inputs[1], 'slope');
    const s = this.f32(slope);
    const padded = [...new Array(Math.max(0, dims.length - s.dims.length)).fill(1), ...s.dims];
    const ref =
      dims.length === 4
        ? this.constRef(n.inputs[1], 'prelu4', () => transposeHost(reshapeHost(s, padded), TO_NHWC))
        : this.constRef(n.inputs[1], 'raw', () => s);
    this.emit('PRelu', [x.ref, ref], [n.outputs[0]], {});
    this.setAct(n.outputs[0], dims, x.dtype);
  }

  private concat(n: OnnxNode): void {
    const parts = n.inputs.filter((i) => {
      if (!i) return false;
      const c = this.constOf(i);
      return !(c && c.data.length === 0);
    });
    const first = this.val(parts[0]);
    const r = first.kind === 'const' ? first.t.dims.length : this.dimsOf(first).length;
    const axis0 = this.attrI(n, 'axis', 0);
    const axis = axis0 < 0 ? axis0 + r : axis0;
    if (axis < 0 || axis >= r) this.fail(`axis ${axis0} is out of range for rank ${r}`);
    const refs: string[] = [];
    let dims: number[] | undefined;
    for (const p of parts) {
      const v = this.val(p);
      const d = v.kind === 'const' ? v.t.dims : this.dimsOf(v);
      if (d.length !== r) this.fail(`inputs have different ranks`);
      if (!dims) dims = d.slice();
      else dims[axis] += d[axis];
      refs.push(v.kind === 'const' ? this.act(p).ref : v.ref);
    }
    this.emit('Concat', refs, [n.outputs[0]], { axis: r === 4 ? AX[axis] : axis });
    this.setAct(n.outputs[0], dims, 'float32');
  }

  // ---- conv / pool

  private spatialPads(
    n: OnnxNode,
    inHW: [number, number],
    kernel: [number, number],
    strides: [number, number],
    dil: [number, number],
  ): [number, number, number, number] {
    const autoPad = this.attrS(n, 'auto_pad', 'NOTSET');
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const p: number[] = [0, 0, 0, 0];
      for (let k = 0; k < 2; k++) {
        const out = Math.ceil(inHW[k] / strides[k]);
        const total = Math.max(0, (out - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - inHW[k]);
        const small = Math.floor(total / 2);
        const big = total - small;
        p[k] = autoPad === 'SAME_UPPER' ? small : big;
        p[k + 2] = autoPad === 'SAME_UPPER' ? big : small;
      }
      return p as [number, number, number, number];
    }
    if (autoPad !== 'NOTSET' && autoPad !== '') this.fail(`unknown auto_pad '${autoPad}'`);
    const pads = this.attrInts(n, 'pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4) this.fail(`pads [${pads}] is not 2-D`);
    return [pads[0], pads[1], pads[2], pads[3]];
  }

  private pair(n: OnnxNode, k: string, d: number): [number, number] {
    const v = this.attrInts(n, k);
    if (!v) return [d, d];
    if (v.length !== 2) this.fail(`${k} [${v}] is not 2-D (naflow supports 2-D convolutions and pools only)`);
    return [v[0], v[1]];
  }

  private need4(a: Act, what: string): number[] {
    const d = this.dimsOf(a);
    if (d.length !== 4)
      this.fail(`${what} has rank ${d.length} (shape ${fmtDims(d)}); naflow supports 2-D (rank-4, NCHW) inputs here only`);
    return d;
  }

  private conv(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.need4(x, 'the input');
    const w = this.needConst(n.inputs[1], 'the weight');
    if (w.dims.length !== 4) this.fail(`weight has rank ${w.dims.length}; naflow supports 2-D convolutions only`);
    const [cout, cinG, kh, kw] = w.dims;
    const group = this.attrI(n, 'group', 1);
    if (cinG * group !== d[1])
      this.fail(`weight [${w.dims}] with group ${group} does not match ${d[1]} input channels`);
    const ks = this.attrInts(n, 'kernel_shape');
    if (ks && (ks[0] !== kh || ks[1] !== kw)) this.fail(`kernel_shape [${ks}] differs from the weight's [${kh},${kw}]`);
    const strides = this.pair(n, 'strides', 1);
    const dil = this.pair(n, 'dilations', 1);
    const pads = this.spatialPads(n, [d[2], d[3]], [kh, kw], strides, dil);
    const oh = Math.floor((d[2] + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / strides[0]) + 1;
    const ow = Math.floor((d[3] + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / strides[1]) + 1;
    if (oh <= 0 || ow <= 0) this.fail(`output would be empty for input ${fmtDims(d)}`);
    const wRef = this.constRef(n.inputs[1], 'hwio', () => transposeHost(this.f32(w), [2, 3, 1, 0]));
    const inputs = [x.ref, wRef];
    if (n.inputs[2]) {
      const b = this.needConst(n.inputs[2], 'the bias');
      if (b.data.length !== cout) this.fail(`bias has ${b.data.length} values for ${cout} output channels`);
      inputs.push(this.constRef(n.inputs[2], 'vec', () => reshapeHost(this.f32(b), [cout])));
    }
    this.emit('Conv', inputs, [n.outputs[0]], { strides, pads, dilations: dil, group });
    this.setAct(n.outputs[0], [d[0], cout, oh, ow]);
  }

  private convTranspose(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.need4(x, 'the input');
    const w = this.needConst(n.inputs[1], 'the weight');
    if (w.dims.length !== 4) this.fail(`weight has rank ${w.dims.length}; naflow supports 2-D transposed convolutions only`);
    const [cin, coutG, kh, kw] = w.dims;
    const group = this.attrI(n, 'group', 1);
    if (cin !== d[1]) this.fail(`weight [${w.dims}] does not match ${d[1]} input channels`);
    const cout = coutG * group;
    const strides = this.pair(n, 'strides', 1);
    const dil = this.pair(n, 'dilations', 1);
    const outPad = this.pair(n, 'output_padding', 0);
    const autoPad = this.attrS(n, 'auto_pad', 'NOTSET');
    const outShape = this.attrInts(n, 'output_shape');
    const kEff = [(kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1];
    let pads: [number, number, number, number];
    const op: [number, number] = [outPad[0], outPad[1]];
    if (outShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const target = outShape ? outShape.slice(-2) : [d[2] * strides[0], d[3] * strides[1]];
      const p = [0, 0, 0, 0];
      for (let k = 0; k < 2; k++) {
        const total = strides[k] * (d[2 + k] - 1) + outPad[k] + kEff[k] - target[k];
        if (total < 0) {
          op[k] += -total;
          continue;
        }
        const half = Math.floor(total / 2);
        if (autoPad === 'SAME_UPPER') {
          p[k] = half;
          p[k + 2] = total - half;
        } else {
          p[k] = total - half;
          p[k + 2] = half;
        }
      }
      pads = p as [number, number, number, number];
    } else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
    else {
      const pp = this.attrInts(n, 'pads') ?? [0, 0, 0, 0];
      pads = [pp[0], pp[1], pp[2], pp[3]];
    }
    const oh = strides[0] * (d[2] - 1) + op[0] + kEff[0] - pads[0] - pads[2];
    const ow = strides[1] * (d[3] - 1) + op[1] + kEff[1] - pads[1] - pads[3];
    const wRef = this.constRef(n.inputs[1], 'hwoi', () => transposeHost(this.f32(w), [2, 3, 1, 0]));
    const inputs = [x.ref, wRef];
    if (n.inputs[2]) {
      const b = this.needConst(n.inputs[2], 'the bias');
      inputs.push(this.constRef(n.inputs[2], 'vec', () => reshapeHost(this.f32(b), [cout])));
    }
    this.emit('ConvTranspose', inputs, [n.outputs[0]], { strides, pads, dilations: dil, group, outputPadding: op });
    this.setAct(n.outputs[0], [d[0], cout, oh, ow]);
  }

  private batchNorm(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    if (d.length !== 4 && d.length !== 2)
      this.fail(`input has rank ${d.length}; naflow supports BatchNormalization on rank-4 (NCHW) or rank-2 inputs`);
    this.onlyFirstOutput(n, 'training-statistics');
    const c = d[1];
    const refs = [x.ref];
    ['scale', 'bias', 'mean', 'var'].forEach((what, k) => {
      const t = this.needConst(n.inputs[k + 1], what);
      if (t.data.length !== c) this.fail(`${what} has ${t.data.length} values for ${c} channels`);
      refs.push(this.constRef(n.inputs[k + 1], 'vec', () => reshapeHost(this.f32(t), [c])));
    });
    this.emit('BatchNormalization', refs, [n.outputs[0]], { epsilon: this.attrF(n, 'epsilon', 1e-5) });
    this.setAct(n.outputs[0], d);
  }

  private pool(n: OnnxNode): void {
    const isMax = n.opType === 'MaxPool';
    const x = this.act(n.inputs[0]);
    const d = this.need4(x, 'the input');
    if (isMax) this.onlyFirstOutput(n, 'Indices');
    if (this.attrI(n, 'storage_order', 0) === 1) this.fail(`storage_order=1 (column-major indices) is not supported`);
    const ks = this.attrInts(n, 'kernel_shape');
    if (!ks || ks.length !== 2) this.fail(`kernel_shape ${ks ? `[${ks}]` : 'missing'}: naflow supports 2-D pools only`);
    const kernel: [number, number] = [ks[0], ks[1]];
    const strides = this.pair(n, 'strides', 1);
    const dil = this.pair(n, 'dilations', 1);
    const pads = this.spatialPads(n, [d[2], d[3]], kernel, strides, dil);
    const ceil = this.attrI(n, 'ceil_mode', 0) === 1;
    const countIncludePad = !isMax && this.attrI(n, 'count_include_pad', 0) === 1;
    const out: number[] = [];
    for (let k = 0; k < 2; k++) {
      const span = d[2 + k] + pads[k] + pads[k + 2] - ((kernel[k] - 1) * dil[k] + 1);
      let o = (ceil ? Math.ceil(span / strides[k]) : Math.floor(span / strides[k])) + 1;
      // PyTorch/ONNX: the last window must start inside the input or the left padding
      if (ceil && (o - 1) * strides[k] >= d[2 + k] + pads[k]) o--;
      if (o <= 0) this.fail(`output would be empty for input ${fmtDims(d)}`);
      const needed = (o - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - (d[2 + k] + pads[k] + pads[k + 2]);
      if (needed > 0) {
        if (countIncludePad)
          this.fail(`ceil_mode with count_include_pad=1 needs a divisor naflow's AveragePool cannot express (partial last window)`);
        pads[k + 2] += needed;
      }
      out.push(o);
    }
    this.emit(n.opType as 'MaxPool', [x.ref], [n.outputs[0]], {
      kernel,
      strides,
      pads,
      dilations: dil,
      countIncludePad,
    });
    this.setAct(n.outputs[0], [d[0], d[1], out[0], out[1]]);
  }

  private globalPool(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.need4(x, 'the input');
    this.emit(n.opType as 'GlobalAveragePool', [x.ref], [n.outputs[0]], {});
    this.setAct(n.outputs[0], [d[0], d[1], 1, 1]);
  }

  private reduceMean(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    let axes: number[];
    if (this.opset >= 18) axes = n.inputs[1] ? toInts(this.needConst(n.inputs[1], 'axes')) : [];
    else axes = this.attrInts(n, 'axes') ?? [];
    if (!axes.length) {
      if (this.attrI(n, 'noop_with_empty_axes', 0)) {
        this.unary(n, 'Identity', {});
        return;
      }
      axes = d.map((_, k) => k);
    }
    axes = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((a, b) => a - b);
    if (axes.some((a) => a < 0 || a >= r)) this.fail(`axes out of range for rank ${r}`);
    const keep = this.attrI(n, 'keepdims', 1) === 1;
    const outDims = keep ? d.map((v, k) => (axes.includes(k) ? 1 : v)) : d.filter((_, k) => !axes.includes(k));
    if (r !== 4) {
      this.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes, keepDims: keep });
    } else {
      const storageAxes = axes.map((a) => AX[a]).sort((a, b) => a - b);
      if (keep) this.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes: storageAxes, keepDims: true });
      else {
        // remaining logical axes in storage order vs. in ONNX order
        const rem = LOGICAL.filter((a) => !axes.includes(a));
        const sorted = rem.slice().sort((a, b) => a - b);
        if (rem.every((a, k) => a === sorted[k]))
          this.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes: storageAxes, keepDims: false });
        else {
          const tmp = this.freshTensor(`${n.outputs[0]}::nhwc_order`);
          this.emit('ReduceMean', [x.ref], [tmp], { axes: storageAxes, keepDims: false });
          this.tmpShapes.set(tmp, rem.map((a) => d[a]));
          this.emit('Transpose', [tmp], [n.outputs[0]], { perm: sorted.map((a) => rem.indexOf(a)) }, 'order');
        }
      }
    }
    this.setAct(n.outputs[0], outDims);
  }

  // ---- dense

  private gemm(n: OnnxNode): void {
    if (this.attrI(n, 'transA', 0)) this.fail(`transA=1 is not supported`);
    const a = this.act(n.inputs[0]);
    const da = this.dimsOf(a);
    if (da.length !== 2) this.fail(`input A has rank ${da.length}; Gemm needs a rank-2 input`);
    const transB = this.attrI(n, 'transB', 0) === 1;
    const alpha = this.attrF(n, 'alpha', 1);
    const beta = this.attrF(n, 'beta', 1);
    const bConst = this.constOf(n.inputs[1]);
    if (!bConst) {
      // activation B: MatMul (+ scale, + bias)
      const bAct = this.act(n.inputs[1]);
      const db = this.dimsOf(bAct);
      let bRef = bAct.ref;
      if (transB) {
        bRef = this.freshTensor(`${n.outputs[0]}::bT`);
        this.emit('Transpose', [bAct.ref], [bRef], { perm: [1, 0] }, 'bT');
      }
      const outCols = transB ? db[0] : db[1];
      const outDims = [da[0], outCols];
      let cur = this.freshTensor(`${n.outputs[0]}::mm`);
      this.emit('MatMul', [a.ref, bRef], [cur], {}, 'matmul');
      this.setAct(cur, outDims);
      if (alpha !== 1) {
        const c = this.constRef(`${n.name}::alpha`, 'raw', () => makeTensor('float32', [], [alpha]));
        const nx = this.freshTensor(`${n.outputs[0]}::alpha`);
        this.emit('Mul', [cur, c], [nx], {}, 'alpha');
        this.setAct(nx, outDims);
        cur = nx;
      }
      if (n.inputs[2]) {
        const ct = this.needConst(n.inputs[2], 'C');
        const ref = this.constRef(n.inputs[2], `beta${beta}`, () => makeTensor('float32', ct.dims, Array.from(ct.data, (v) => v * beta)));
        this.emit('Add', [cur, ref], [n.outputs[0]], {});
      } else this.emit('Identity', [cur], [n.outputs[0]], {});
      this.setAct(n.outputs[0], outDims);
      return;
    }
    if (bConst.dims.length !== 2) this.fail(`B has rank ${bConst.dims.length}`);
    const [k, m] = transB ? [bConst.dims[1], bConst.dims[0]] : bConst.dims;
    if (k !== da[1]) this.fail(`B [${bConst.dims}]${transB ? ' (transposed)' : ''} does not match input ${fmtDims(da)}`);
    const bRef = transB
      ? this.constRef(n.inputs[1], 'io', () => transposeHost(this.f32(bConst), [1, 0]))
      : this.constRef(n.inputs[1], 'raw', () => this.f32(bConst));
    const refs = [a.ref, bRef];
    if (n.inputs[2]) {
      const ct = this.needConst(n.inputs[2], 'C');
      let vec: HostTensor;
      if (ct.data.length === m && ct.dims[ct.dims.length - 1] === m) vec = reshapeHost(this.f32(ct), [m]);
      else if (ct.data.length === 1) vec = makeTensor('float32', [m], new Array(m).fill(ct.data[0]));
      else this.fail(`bias C of shape [${ct.dims}] is not a per-output vector (naflow's Gemm adds a [${m}] bias)`);
      refs.push(this.constRef(n.inputs[2], 'vec', () => vec));
    }
    this.emit('Gemm', refs, [n.outputs[0]], { alpha, beta });
    this.setAct(n.outputs[0], [da[0], m]);
  }

  private matmul(n: OnnxNode): void {
    const va = this.val(n.inputs[0]);
    const vb = this.val(n.inputs[1]);
    const side = (v: Val, name: string): { ref: string; dims: number[] } => {
      if (v.kind === 'const') return { ref: this.constRef(name, 'raw', () => this.f32(v.t)), dims: v.t.dims };
      const d = this.dimsOf(v);
      return { ref: d.length === 4 ? this.nchw(v) : v.ref, dims: d };
    };
    const A = side(va, n.inputs[0]);
    const B = side(vb, n.inputs[1]);
    const a = A.dims.length === 1 ? [1, A.dims[0]] : A.dims;
    const b = B.dims.length === 1 ? [B.dims[0], 1] : B.dims;
    if (a[a.length - 1] !== b[b.length - 2]) this.fail(`shapes ${fmtDims(A.dims)} and ${fmtDims(B.dims)} do not multiply`);
    let batch: number[];
    try {
      batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
    } catch (e) {
      this.fail((e as Error).message);
    }
    let out = [...batch, a[a.length - 2], b[b.length - 1]];
    if (A.dims.length === 1) out = [...batch, b[b.length - 1]];
    if (B.dims.length === 1) out = out.slice(0, -1);
    if (A.dims.length === 1 || B.dims.length === 1) this.fail(`1-D MatMul operands are not supported`);
    const o = n.outputs[0];
    if (out.length === 4) {
      const tmp = this.freshTensor(`${o}::nchw`);
      this.emit('MatMul', [A.ref, B.ref], [tmp], {});
      this.tmpShapes.set(tmp, out.slice());
      this.emit('Transpose', [tmp], [o], { perm: TO_NHWC }, 'nhwc');
    } else this.emit('MatMul', [A.ref, B.ref], [o], {});
    this.setAct(o, out);
  }

  // ---- shape ops on activations

  private flatten(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    let axis = this.attrI(n, 'axis', 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) this.fail(`axis out of range for rank ${r}`);
    const out = flattenDims(d, axis);
    if (out.filter(isBatchDim).length > 1 || (isBatchDim(out[1]) && !isBatchDim(out[0]) && out[0] !== 1))
      this.fail(`flattening mixes the symbolic batch into the feature dimension`);
    let ref = x.ref;
    if (r === 4 && !(memNoop(d) && axis <= 1)) ref = this.nchw(x);
    this.emit('Flatten', [ref], [n.outputs[0]], { axis });
    this.setAct(n.outputs[0], out);
  }

  private reshape(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const shape = toInts(this.needConst(n.inputs[1], 'the target shape'));
    const out = reshapeDims(d, shape, this.attrI(n, 'allowzero', 0) === 1);
    this.reshapeTo(x, out, n.outputs[0]);
    this.setAct(n.outputs[0], out);
  }

  private squeeze(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const axes = this.opset >= 13 ? (n.inputs[1] ? toInts(this.needConst(n.inputs[1], 'axes')) : []) : (this.attrInts(n, 'axes') ?? []);
    const out = n.opType === 'Squeeze' ? squeezeDims(d, axes) : unsqueezeDims(d, axes);
    this.reshapeTo(x, out, n.outputs[0]);
    this.setAct(n.outputs[0], out);
  }

  private transpose(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    const perm = this.attrInts(n, 'perm') ?? d.map((_, k) => r - 1 - k);
    if (perm.length !== r) this.fail(`perm [${perm}] does not match rank ${r}`);
    const out = perm.map((p) => d[p]);
    const q = r === 4 ? LOGICAL.map((l) => AX[perm[l]]) : perm;
    if (q.every((p, k) => p === k)) this.emit('Identity', [x.ref], [n.outputs[0]], {});
    else this.emit('Transpose', [x.ref], [n.outputs[0]], { perm: q });
    this.setAct(n.outputs[0], out);
  }

  private slice(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const starts = toInts(this.needConst(n.inputs[1], 'starts'));
    const ends = toInts(this.needConst(n.inputs[2], 'ends'));
    const axes = n.inputs[3] ? toInts(this.needConst(n.inputs[3], 'axes')) : undefined;
    const steps = n.inputs[4] ? toInts(this.needConst(n.inputs[4], 'steps')) : undefined;
    const ranges = sliceRanges(d, starts, ends, axes, steps);
    const out = ranges.map((rg) => sliceLength(...rg));
    if (out.some((v) => v === 0)) this.fail(`slice result is empty (${fmtDims(out)})`);
    this.sliceTo(x, ranges, n.outputs[0]);
    this.setAct(n.outputs[0], out);
  }

  private gather(n: OnnxNode): boolean {
    const v = this.val(n.inputs[0]);
    const idx = this.constOf(n.inputs[1]);
    if (v.kind !== 'act' || !idx) return false;
    const d = this.dimsOf(v);
    const r = d.length;
    let axis = this.attrI(n, 'axis', 0);
    if (axis < 0) axis += r;
    const ind = Array.from(idx.data, (i) => (i < 0 ? i + d[axis] : i));
    if (idx.dims.length > 1 || !ind.length) return false;
    const contiguous = ind.every((i, k) => i === ind[0] + k);
    if (!contiguous || ind[0] < 0 || ind[ind.length - 1] >= d[axis]) return false;
    const ranges = d.map((dim, k): [number, number, number] => (k === axis ? [ind[0], ind[0] + ind.length, 1] : [0, dim, 1]));
    const sliced = ranges.map((rg) => sliceLength(...rg));
    const o = n.outputs[0];
    if (idx.dims.length === 1) {
      this.sliceTo(v, ranges, o);
      this.setAct(o, sliced);
      return true;
    }
    const tmp = this.freshTensor(`${o}::slice`);
    this.sliceTo(v, ranges, tmp, 'slice');
    this.setAct(tmp, sliced);
    const out = d.filter((_, k) => k !== axis);
    this.reshapeTo(this.vals.get(tmp) as Act, out, o);
    this.vals.delete(tmp);
    if (sliced.length === 4) this.tmpShapes.set(tmp, nhwc(sliced));
    else this.tmpShapes.set(tmp, sliced);
    this.setAct(o, out);
    return true;
  }

  private split(n: OnnxNode): boolean {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    let axis = this.attrI(n, 'axis', 0);
    if (axis < 0) axis += r;
    const given = this.opset >= 13 ? (n.inputs[1] ? toInts(this.needConst(n.inputs[1], 'split')) : []) : (this.attrInts(n, 'split') ?? []);
    const sizes = splitSizes(d[axis], given, n.outputs.length, n.attrs);
    let off = 0;
    n.outputs.forEach((o, k) => {
      const ranges = d.map((dim, a): [number, number, number] => (a === axis ? [off, off + sizes[k], 1] : [0, dim, 1]));
      off += sizes[k];
      if (!o) return;
      this.sliceTo(x, ranges, o, k ? `out${k}` : undefined);
      this.setAct(o, ranges.map((rg) => sliceLength(...rg)));
    });
    return true;
  }

  private expand(n: OnnxNode): boolean {
    const v = this.val(n.inputs[0]);
    const s = this.constOf(n.inputs[1]);
    if (v.kind !== 'act' || !s) return false;
    const d = this.dimsOf(v);
    let out: number[];
    try {
      out = broadcastDims(d, toInts(s));
    } catch (e) {
      this.fail((e as Error).message);
    }
    if (out.length !== d.length || out.some((x, k) => x !== d[k])) return false;
    this.unary(n, 'Identity', {});
    return true;
  }

  private cast(n: OnnxNode): boolean {
    const x = this.act(n.inputs[0]);
    const to = dtypeFromOnnx(this.attrI(n, 'to', 1), 'Cast');
    if (isFloat(to) && isFloat(x.dtype)) {
      this.unary(n, 'Identity', {});
      return true;
    }
    if (x.tainted || !x.dims) return false;
    this.fail(
      `casts activation '${n.inputs[0]}' from ${x.dtype} to ${to}; naflow computes activations in float32 only (integer ops must fold at load time)`,
    );
  }

  private pad(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    const mode = this.attrS(n, 'mode', 'constant');
    if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') this.fail(`pad mode '${mode}' is not supported`);
    const raw = n.inputs[1] ? toInts(this.needConst(n.inputs[1], 'pads')) : (this.attrInts(n, 'pads') ?? []);
    const axes0 = n.inputs[3] ? toInts(this.needConst(n.inputs[3], 'axes')) : d.map((_, k) => k);
    const axes = axes0.map((a) => (a < 0 ? a + r : a));
    if (raw.length !== 2 * axes.length) this.fail(`pads [${raw}] does not match ${axes.length} axes`);
    const pairs: Array<[number, number]> = d.map(() => [0, 0]);
    axes.forEach((a, k) => {
      pairs[a] = [raw[k], raw[k + axes.length]];
    });
    let value = typeof n.attrs.value === 'number' ? (n.attrs.value as number) : 0;
    if (n.inputs[2]) {
      const cv = this.needConst(n.inputs[2], 'constant_value');
      value = cv.data.length ? cv.data[0] : 0;
    }
    pairs.forEach(([b, e], a) => {
      if ((b || e) && isBatchDim(d[a])) this.fail(`padding the symbolic batch dimension is not supported`);
    });
    const out = d.map((v, a) => v + pairs[a][0] + pairs[a][1]);
    if (pairs.every(([b, e]) => b === 0 && e === 0)) {
      this.emit('Identity', [x.ref], [n.outputs[0]], {});
    } else {
      const stored = r === 4 ? LOGICAL.map((l) => pairs[l]) : pairs;
      this.emit('Pad', [x.ref], [n.outputs[0]], { pads: stored, mode: mode as 'constant', value });
    }
    this.setAct(n.outputs[0], out);
  }

  private softmax(n: OnnxNode): void {
    const x = this.act(n.inputs[0]);
    const d = this.dimsOf(x);
    const r = d.length;
    let axis = this.attrI(n, 'axis', this.opset >= 13 ? -1 : 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) this.fail(`axis out of range for rank ${r}`);
    const o = n.outputs[0];
    const legacyDiffers = this.opset < 13 && d.slice(axis + 1).some((v) => v !== 1);
    if (!legacyDiffers) {
      this.emit('Softmax', [x.ref], [o], { axis: r === 4 ? AX[axis] : axis });
      this.setAct(o, d);
      return;
    }
    // opset < 13: softmax over the flattened dims [axis, rank)
    const flat = flattenDims(d, axis);
    const t1 = this.freshTensor(`${o}::flat`);
    this.reshapeTo(x, flat, t1, 'flat');
    this.setAct(t1, flat);
    this.tmpShapes.set(t1, flat.slice());
    const t2 = this.freshTensor(`${o}::softmax`);
    this.emit('Softmax', [t1], [t2], { axis: 1 });
    this.setAct(t2, flat);
    this.tmpShapes.set(t2, flat.slice());
    this.reshapeTo(this.vals.get(t2) as Act, d, o, 'unflat');
    this.vals.delete(t1);
    this.vals.delete(t2);
    this.setAct(o, d);
  }

  private resize(n: OnnxNode): void {
    const isUpsample = n.opType === 'Upsample';
    const x = this.act(n.inputs[0]);
    const d = this.need4(x, 'the input');
    let mode = this.attrS(n, 'mode', 'nearest');
    if (mode === 'bilinear') mode = 'linear';
    if (mode !== 'nearest' && mode !== 'linear') this.fail(`mode '${mode}' is not supported (nearest and linear are)`);
    const ctm = isUpsample ? 'asymmetric' : this.attrS(n, 'coordinate_transformation_mode', 'half_pixel');
    const nearestMode = isUpsample ? 'floor' : this.attrS(n, 'nearest_mode', 'round_prefer_floor');
    if (this.attrI(n, 'antialias', 0)) this.fail(`antialias=1 is not supported`);
    const policy = this.attrS(n, 'keep_aspect_ratio_policy', 'stretch');
    let axes = this.attrInts(n, 'axes') ?? [0, 1, 2, 3];
    axes = axes.map((a) => (a < 0 ? a + 4 : a));
    let scales: number[] | undefined;
    let sizes: number[] | undefined;
    if (isUpsample) {
      const s = n.inputs[1] ? this.needConst(n.inputs[1], 'scales') : undefined;
      scales = s ? Array.from(s.data) : (n.attrs.scales as number[] | undefined);
      if (!scales) this.fail(`no scales`);
    } else {
      const sc = n.inputs[2] ? this.needConst(n.inputs[2], 'scales') : undefined;
      const sz = n.inputs[3] ? this.needConst(n.inputs[3], 'sizes') : undefined;
      if (sc && sc.data.length) scales = Array.from(sc.data);
      if (sz && sz.data.length) sizes = Array.from(sz.data);
      if (!scales && !sizes) this.fail(`neither scales nor sizes is given`);
    }
    const full = (v: number[], dflt: (k: number) => number): number[] => {
      if (v.length !== axes.length) this.fail(`${v.length} values for ${axes.length} axes`);
      const out = [0, 1, 2, 3].map(dflt);
      axes.forEach((a, k) => (out[a] = v[k]));
      return out;
    };
    let outDims: number[];
    let scaleHW: [number, number];
    if (sizes) {
      if (policy !== 'stretch') this.fail(`keep_aspect_ratio_policy '${policy}' is not supported`);
      const s = full(sizes, (k) => d[k]);
      outDims = s.map((v, k) => (k === 0 ? d[0] : v));
      scaleHW = [outDims[2] / d[2], outDims[3] / d[3]];
      if (s[1] !== d[1] || (s[0] !== d[0] && !isBatchDim(d[0]))) this.fail(`resizing the batch or channel dimension is not supported`);
    } else {
      const s = full(scales!, () => 1);
      if (s[0] !== 1 || s[1] !== 1) this.fail(`scales [${s}] resize the batch or channel dimension, which is not supported`);
      outDims = [d[0], d[1], Math.floor(d[2] * s[2]), Math.floor(d[3] * s[3])];
      scaleHW = [s[2], s[3]];
    }
    if (outDims[2] <= 0 || outDims[3] <= 0) this.fail(`output size ${fmtDims(outDims)} is empty`);
    const inHW = [d[2], d[3]];
    const outHW = [outDims[2], outDims[3]];
    let alignCorners = false;
    let halfPixelCenters = false;
    const known = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
    if (!known.includes(ctm)) this.fail(`coordinate_transformation_mode '${ctm}' is not supported`);
    if (mode === 'linear') {
      if (ctm === 'tf_half_pixel_for_nn') this.fail(`coordinate_transformation_mode '${ctm}' with linear mode is not supported`);
      alignCorners = ctm === 'align_corners';
      halfPixelCenters = ctm === 'half_pixel' || ctm === 'pytorch_half_pixel';
      for (let k = 0; k < 2; k++) {
        if (alignCorners) continue;
        if (ctm === 'pytorch_half_pixel' && outHW[k] === 1 && inHW[k] !== 1)
          this.fail(`pytorch_half_pixel with an output size of 1 is not supported`);
        const ratioOnnx = 1 / scaleHW[k];
        const ratioTf = inHW[k] / outHW[k];
        if (Math.abs(ratioOnnx - ratioTf) > 1e-6 * ratioTf)
          this.fail(
            `scale ${scaleHW[k]} does not divide the size evenly (${inHW[k]}→${outHW[k]}); naflow's linear resize uses the ratio of the sizes`,
          );
      }
    } else {
      if (!['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'].includes(nearestMode))
        this.fail(`nearest_mode '${nearestMode}' is not supported`);
      // pick the tfjs convention whose source indices equal ONNX's for these exact sizes
      const onnxIdx = (k: number): number[] => {
        const out: number[] = [];
        for (let x = 0; x < outHW[k]; x++) {
          const s = scaleHW[k];
          let xo: number;
          switch (ctm) {
            case 'half_pixel': xo = (x + 0.5) / s - 0.5; break;
            case 'pytorch_half_pixel': xo = outHW[k] > 1 ? (x + 0.5) / s - 0.5 : 0; break;
            case 'align_corners': xo = outHW[k] === 1 ? 0 : (x * (inHW[k] - 1)) / (outHW[k] - 1); break;
            case 'tf_half_pixel_for_nn': xo = (x + 0.5) / s; break;
            default: xo = x / s;
          }
          let i: number;
          const fl = Math.floor(xo);
          switch (nearestMode) {
            case 'floor': i = fl; break;
            case 'ceil': i = Math.ceil(xo); break;
            case 'round_prefer_ceil': i = xo - fl >= 0.5 ? fl + 1 : fl; break;
            default: i = xo - fl > 0.5 ? fl + 1 : fl;
          }
          out.push(Math.min(Math.max(i, 0), inHW[k] - 1));
        }
        return out;
      };
      const tfIdx = (k: number, align: boolean, half: boolean): number[] => {
        const out: number[] = [];
        const ratio = align && outHW[k] > 1 ? (inHW[k] - 1) / (outHW[k] - 1) : inHW[k] / outHW[k];
        for (let x = 0; x < outHW[k]; x++) {
          const f = half ? ratio * (x + 0.5) : ratio * x;
          let i = Math.min(inHW[k] - 1, align ? Math.round(f) : Math.floor(f));
          if (half) i = Math.max(0, i);
          out.push(i);
        }
        return out;
      };
      const want = [onnxIdx(0), onnxIdx(1)];
      const candidates: Array<[boolean, boolean]> = [
        [ctm === 'align_corners', ctm.includes('half_pixel')],
        [false, false],
        [false, true],
        [true, false],
      ];
      const hit = candidates.find(([al, hp]) =>
        [0, 1].every((k) => tfIdx(k, al, hp).every((v, i) => v === want[k][i])),
      );
      if (!hit)
        this.fail(
          `nearest resize ${fmtDims(d)}→${fmtDims(outDims)} with coordinate_transformation_mode '${ctm}' and nearest_mode '${nearestMode}' has no equivalent in naflow's nearest-neighbour resize`,
        );
      [alignCorners, halfPixelCenters] = hit;
    }
    this.emit('Resize', [x.ref], [n.outputs[0]], {
      size: [outDims[2], outDims[3]],
      mode: mode === 'linear' ? 'bilinear' : 'nearest',
      alignCorners,
      halfPixelCenters,
    });
    this.setAct(n.outputs[0], outDims);
  }
}

function dtypeFromOnnxSafe(code: number): HDType {
  const info = ONNX_DTYPES[code];
  return info?.host ?? 'float32';
}
