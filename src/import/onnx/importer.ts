/**
 * The ONNX importer's state while it walks a graph, and the operations every op handler uses: reading
 * inputs as constants or activations, materialising constants in naflow's layouts, emitting nodes, and
 * the layout-aware reshape/slice/transpose helpers. Handlers (one file per op family) get this object.
 */
import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import { GraphError, type AnyNode, type OpAttrMap, type OpType } from '../../ir/graph.js';
import { isFloat, makeTensor, type HDType, type HostTensor } from './host/tensor.js';
import { transposeHost } from './host/kernels.js';
import { AX, NeedShape, TO_NCHW, TO_NHWC, extDim, fmtDims, isBatchDim, memNoop, nhwc, type Act, type OnnxNode, type Val } from './layout.js';

const { onnx } = onnxProto;
export type OnnxModel = InstanceType<typeof onnx.ModelProto>;

export class OnnxImporter {
  readonly vals = new Map<string, Val>();
  readonly nodes: AnyNode[] = [];
  readonly constants = new Map<string, tf.Tensor>();
  readonly nodeNames = new Set<string>();
  readonly tensorNames = new Set<string>();
  readonly constCache = new Map<string, string>();
  readonly nchwCache = new Map<string, string>();
  readonly hints = new Map<string, { dims?: number[]; rank?: number; dtype?: HDType }>();
  readonly consumers = new Map<string, number>();
  readonly graphOutputs = new Set<string>();
  opset = 0;
  cur: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attrs: {}, index: -1 };

  constructor(
    readonly model: OnnxModel,
    readonly source: string,
  ) {}

  disposeAll(): void {
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
  }

  // ---------------------------------------------------------------- errors

  fail(msg: string): never {
    throw new GraphError(`${this.source}: node '${this.cur.name}' (${this.cur.opType}): ${msg}`);
  }

  /** Shapes (storage order) of helper tensors the importer inserted. */
  readonly tmpShapes = new Map<string, number[]>();
  reservedNames = new Set<string>();
  reserved(n: string): boolean {
    return this.reservedNames.has(n);
  }
  reserveName(n: string): void {
    this.reservedNames.add(n);
  }

  // ---------------------------------------------------------------- values

  /** An input as a handler that does not know channels-last views reads it (see Act.channelsLast). */
  val(name: string): Val {
    const v = this.valAnyLayout(name);
    return v.kind === 'act' && v.channelsLast ? this.standardLayout(v) : v;
  }

  /** An input as stored, a channels-last view included: for the handlers that read that layout. */
  valAnyLayout(name: string): Val {
    const v = this.vals.get(name);
    if (!v) this.fail(`input '${name}' is not available`);
    return v;
  }

  readonly standardCache = new Map<string, string>();

  /** A channels-last view copied into the standard (permuted NHWC) storage: one Transpose per tensor, shared. */
  standardLayout(a: Act): Act {
    const dims = this.dimsOf(a);
    let out = this.standardCache.get(a.ref);
    if (!out) {
      out = this.freshTensor(`${a.ref}::standard`);
      const saved = this.cur;
      this.cur = { ...saved, name: a.ref };
      this.emit('Transpose', [a.ref], [out], { perm: TO_NHWC }, 'standard');
      this.cur = saved;
      this.tmpShapes.set(out, nhwc(dims));
      this.standardCache.set(a.ref, out);
    }
    return { kind: 'act', ref: out, dims, rank: 4, dtype: a.dtype, tainted: a.tainted };
  }

  /** Record `name` as the same stored tensor as `a` read with other logical dims (a Transpose that moves no memory). */
  alias(name: string, a: Act, dims: number[], channelsLast: boolean): void {
    if (this.graphOutputs.has(name)) {
      this.emit('Identity', [a.ref], [name], {});
      this.vals.set(name, { kind: 'act', ref: name, dims, rank: dims.length, dtype: a.dtype, tainted: a.tainted, channelsLast });
      if (channelsLast) this.tmpShapes.set(name, dims.slice());
      return;
    }
    this.vals.set(name, { kind: 'act', ref: a.ref, dims, rank: dims.length, dtype: a.dtype, tainted: a.tainted, channelsLast });
  }

  constOf(name: string | undefined): HostTensor | undefined {
    if (!name) return undefined;
    const v = this.val(name);
    return v.kind === 'const' ? v.t : undefined;
  }

  needConst(name: string | undefined, what: string): HostTensor {
    if (!name) this.fail(`${what} is missing`);
    const t = this.constOf(name);
    if (!t) this.fail(`${what} ('${name}') must be a constant (naflow needs it at load time), but it is computed at run time`);
    return t;
  }

  /** The activation for an input; constants are materialised in activation layout (NHWC when rank 4). */
  act(name: string): Act {
    const v = this.val(name);
    if (v.kind === 'act') return v;
    const t = v.t;
    const ref = t.dims.length === 4 ? this.constRef(name, 'nhwc', () => transposeHost(t, TO_NHWC)) : this.constRef(name, 'raw', () => t);
    return { kind: 'act', ref, dims: t.dims, rank: t.dims.length, dtype: t.dtype };
  }

  dimsOf(a: Act): number[] {
    if (!a.dims) throw new NeedShape(`shape of '${a.ref}' is unknown`);
    return a.dims;
  }

  setAct(name: string, dims: number[] | undefined, dtype: HDType = 'float32', tainted = false, rank?: number, channelsLast?: boolean): void {
    if (!name) return;
    this.vals.set(name, { kind: 'act', ref: name, dims, rank: dims ? dims.length : rank, dtype, tainted, ...(channelsLast ? { channelsLast } : {}) });
  }

  tainted(n: OnnxNode): boolean {
    return n.inputs.some((i) => {
      const v = i ? this.vals.get(i) : undefined;
      return v?.kind === 'act' && (v.tainted || !v.dims);
    });
  }

  /** Materialise a host constant as a graph constant (cached per ONNX tensor and layout tag). */
  constRef(onnxName: string, tag: string, make: () => HostTensor, preferred?: string): string {
    const key = `${onnxName}\u0000${tag}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    let name = preferred ?? onnxName;
    if (!name || this.constants.has(name) || (this.tensorNames.has(name) && this.vals.get(name)?.kind === 'act')) name = `${onnxName || 'const'}::${tag}`;
    for (let k = 1; this.constants.has(name); k++) name = `${onnxName || 'const'}::${tag}_${k}`;
    const t = make();
    const floatish = isFloat(t.dtype);
    if (t.dims.some(isBatchDim)) this.fail(`constant '${onnxName}' would depend on the symbolic batch size; re-export the model with a fixed batch`);
    const tensor = floatish
      ? tf.tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), t.dims, 'float32')
      : tf.tensor(Int32Array.from(t.data), t.dims, 'int32');
    this.constants.set(name, tensor);
    this.constCache.set(key, name);
    this.tensorNames.add(name);
    return name;
  }

  /** A constant used in a float computation, as float32. */
  f32(t: HostTensor): HostTensor {
    return t.dtype === 'float32' ? t : makeTensor('float32', t.dims, t.data);
  }

  freshTensor(base: string): string {
    let name = base;
    for (let k = 1; this.tensorNames.has(name); k++) name = `${base}_${k}`;
    this.tensorNames.add(name);
    return name;
  }

  // ---------------------------------------------------------------- emitting

  emit<O extends OpType>(op: O, inputs: string[], outputs: string[], attrs: OpAttrMap[O], suffix?: string): AnyNode;
  emit(op: string, inputs: string[], outputs: string[], attrs: Record<string, unknown>, suffix?: string): AnyNode;
  emit(op: string, inputs: string[], outputs: string[], attrs: Record<string, unknown>, suffix?: string): AnyNode {
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
  nchw(a: Act): string {
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
  reshapeTo(src: Act, outDims: number[], outName: string, suffix?: string): void {
    const inDims = this.dimsOf(src);
    let from = src.ref;
    if (inDims.length === 4 && !memNoop(inDims)) from = this.nchw(src);
    const shape = (d: number[]): number[] => {
      const s = d.map(extDim);
      if (s.filter((x) => x === -1).length > 1) this.fail(`reshape to ${fmtDims(outDims)} mixes the symbolic batch into several dimensions`);
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
  sliceTo(src: Act, ranges: Array<[number, number, number]>, outName: string, suffix?: string): void {
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

  /** Optional outputs past the first must be unused. */
  onlyFirstOutput(n: OnnxNode, what: string): void {
    n.outputs.slice(1).forEach((o) => {
      if (o && this.consumers.get(o)) this.fail(`its ${what} output '${o}' is used, which naflow does not support`);
    });
  }

  /** A one-input op whose output has the input's shape (activations, Identity, Dropout, …). */
  unary(n: OnnxNode, op: string, attrs: Record<string, unknown>): void {
    // elementwise: a channels-last view stays one
    const v = this.valAnyLayout(n.inputs[0]);
    const x = v.kind === 'act' ? v : this.act(n.inputs[0]);
    this.emit(op, [x.ref], [n.outputs[0]], attrs);
    this.setAct(n.outputs[0], x.dims, x.dtype, false, x.rank, x.channelsLast);
  }

  /** The dims of a rank-4 activation; fails for other ranks. */
  need4(a: Act, what: string): number[] {
    const d = this.dimsOf(a);
    if (d.length !== 4) this.fail(`${what} has rank ${d.length} (shape ${fmtDims(d)}); naflow supports 2-D (rank-4, NCHW) inputs here only`);
    return d;
  }
}
