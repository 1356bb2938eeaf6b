/**
 * Importer for TensorFlow.js **graph** models (tfjs-converter output: `modelTopology.node` is a
 * GraphDef node list, Const values come from `weightsManifest` or inline `value` tensors).
 *
 * Constant subgraphs (and shape computations on static shapes) are folded at load. Every remaining
 * node maps to canonical ops; fused TF ops are split: `_FusedConv2D(BiasAdd, Relu6)` becomes a Conv
 * with bias (named `<node>/conv`) and a Clip named `<node>`, so the TF node name always names the
 * tensor its consumers read. Relu → Minimum(c) → Maximum(c') chains (Keras' clip_by_value ReLU6)
 * are merged into one Clip. Unknown ops are kept as nodes whose `op` is the TF op name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type AnyNode, type DType, type Graph, type Shape } from '../ir/graph.js';
import { CLIP_INF, GraphBuilder, normAxis, prod, resolveReshape, samePads, windowShape } from './tfjs-common.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, Json>;
  device?: string;
}

// ------------------------------------------------------------------ attribute decoding

function b64(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

function attrInts(n: TfNode, key: string): number[] | undefined {
  const v = n.attr?.[key]?.list?.i;
  if (v === undefined) return n.attr?.[key]?.list ? [] : undefined;
  return (v as Array<string | number>).map(Number);
}

function attrInt(n: TfNode, key: string, dflt: number): number {
  const v = n.attr?.[key]?.i;
  return v === undefined ? dflt : Number(v);
}

function attrFloat(n: TfNode, key: string, dflt: number): number {
  const v = n.attr?.[key]?.f;
  return v === undefined ? dflt : Number(v);
}

function attrBool(n: TfNode, key: string, dflt: boolean): boolean {
  const v = n.attr?.[key]?.b;
  return v === undefined ? dflt : Boolean(v);
}

function attrStr(n: TfNode, key: string): string | undefined {
  const v = n.attr?.[key]?.s;
  return v === undefined ? undefined : b64(v);
}

function attrStrs(n: TfNode, key: string): string[] {
  const v = n.attr?.[key]?.list?.s;
  return Array.isArray(v) ? v.map(b64) : [];
}

function attrType(n: TfNode, key: string): string | undefined {
  return n.attr?.[key]?.type;
}

function tfDtype(t: string | undefined): DType | 'bool' | undefined {
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

function shapeFromProto(p: Json): Shape | undefined {
  if (!p || p.unknownRank) return undefined;
  const dims: Json[] = p.dim ?? [];
  return dims.map((d) => {
    const v = Number(d.size ?? 0);
    return v < 0 ? -1 : v;
  });
}

/** An inline Const `value` tensor (tensorContent or typed value lists). */
function inlineTensor(n: TfNode, source: string): tf.Tensor | undefined {
  const t = n.attr?.value?.tensor;
  if (!t) return undefined;
  const shape = shapeFromProto(t.tensorShape) ?? [];
  const dtype = tfDtype(t.dtype);
  const size = prod(shape);
  if (dtype === undefined)
    throw new GraphError(`${source}: Const '${n.name}' has dtype ${t.dtype}, which naflow cannot read`);
  if (t.tensorContent) {
    const bytes = Buffer.from(t.tensorContent, 'base64');
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    if (t.dtype === 'DT_FLOAT') return tf.tensor(new Float32Array(ab), shape, 'float32');
    if (t.dtype === 'DT_INT32') return tf.tensor(new Int32Array(ab), shape, 'int32');
    if (t.dtype === 'DT_INT64') {
      const big = new BigInt64Array(ab);
      return tf.tensor(Int32Array.from(big, (v) => Number(v)), shape, 'int32');
    }
    if (t.dtype === 'DT_BOOL') return tf.tensor(new Uint8Array(ab), shape, 'bool');
    throw new GraphError(`${source}: Const '${n.name}' stores ${t.dtype} tensorContent, which naflow cannot read`);
  }
  const list: Json[] | undefined = t.floatVal ?? t.intVal ?? t.int64Val ?? t.boolVal ?? t.doubleVal ?? t.halfVal;
  const vals = (list ?? []).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v)));
  const filled = vals.length === size ? vals : new Array(size).fill(vals.length ? vals[vals.length - 1] : 0);
  return tf.tensor(filled, shape, dtype);
}

// ------------------------------------------------------------------ constant folding

function foldable(op: string): boolean {
  return FOLD.has(op);
}

const FOLD = new Set([
  'Identity', 'StopGradient', 'Snapshot', 'Cast', 'Shape', 'Size', 'Rank',
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'FloorDiv', 'FloorMod', 'Maximum', 'Minimum', 'Pow',
  'SquaredDifference', 'Neg', 'Sqrt', 'Rsqrt', 'Square', 'Exp', 'Log', 'Reciprocal', 'Abs',
  'Relu', 'Relu6', 'Sigmoid', 'Tanh', 'Reshape', 'Squeeze', 'ExpandDims', 'ConcatV2', 'Concat', 'Pack',
  'StridedSlice', 'Slice', 'Transpose', 'Fill', 'Range', 'Prod', 'Sum', 'Max', 'Min', 'Mean',
  'GatherV2', 'Gather', 'Tile', 'ZerosLike', 'OnesLike', 'MatMul', 'BiasAdd', 'AddN',
]);

/** Evaluate a TF op on constant inputs. */
function foldOp(n: TfNode, x: tf.Tensor[]): tf.Tensor {
  const num = (t: tf.Tensor) => Array.from(t.dataSync() as ArrayLike<number>);
  return tf.tidy(() => {
    switch (n.op) {
      case 'Identity':
      case 'StopGradient':
      case 'Snapshot':
        return x[0].clone();
      case 'Cast': {
        const d = tfDtype(attrType(n, 'DstT')) ?? 'float32';
        return tf.cast(x[0], d);
      }
      case 'Shape':
        return tf.tensor1d(x[0].shape, 'int32');
      case 'Size':
        return tf.scalar(x[0].size, 'int32');
      case 'Rank':
        return tf.scalar(x[0].rank, 'int32');
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        return tf.add(x[0], x[1]);
      case 'AddN':
        return tf.addN(x);
      case 'Sub':
        return tf.sub(x[0], x[1]);
      case 'Mul':
        return tf.mul(x[0], x[1]);
      case 'RealDiv':
      case 'Div':
        return tf.div(x[0], x[1]);
      case 'FloorDiv':
        return tf.floorDiv(x[0], x[1]);
      case 'FloorMod':
        return tf.mod(x[0], x[1]);
      case 'Maximum':
        return tf.maximum(x[0], x[1]);
      case 'Minimum':
        return tf.minimum(x[0], x[1]);
      case 'Pow':
        return tf.pow(x[0], x[1]);
      case 'SquaredDifference':
        return tf.squaredDifference(x[0], x[1]);
      case 'Neg':
        return tf.neg(x[0]);
      case 'Sqrt':
        return tf.sqrt(x[0]);
      case 'Rsqrt':
        return tf.rsqrt(x[0]);
      case 'Square':
        return tf.square(x[0]);
      case 'Exp':
        return tf.exp(x[0]);
      case 'Log':
        return tf.log(x[0]);
      case 'Reciprocal':
        return tf.reciprocal(x[0]);
      case 'Abs':
        return tf.abs(x[0]);
      case 'Relu':
        return tf.relu(x[0]);
      case 'Relu6':
        return tf.relu6(x[0]);
      case 'Sigmoid':
        return tf.sigmoid(x[0]);
      case 'Tanh':
        return tf.tanh(x[0]);
      case 'Reshape':
        return tf.reshape(x[0], num(x[1]));
      case 'Squeeze': {
        const dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
        return tf.squeeze(x[0], dims.length ? dims : undefined);
      }
      case 'ExpandDims':
        return tf.expandDims(x[0], num(x[1])[0]);
      case 'ConcatV2':
        return tf.concat(x.slice(0, -1), num(x[x.length - 1])[0]);
      case 'Concat':
        return tf.concat(x.slice(1), num(x[0])[0]);
      case 'Pack':
        return tf.stack(x, attrInt(n, 'axis', 0));
      case 'StridedSlice':
        return tf.stridedSlice(
          x[0],
          num(x[1]),
          num(x[2]),
          num(x[3]),
          attrInt(n, 'begin_mask', 0),
          attrInt(n, 'end_mask', 0),
          attrInt(n, 'ellipsis_mask', 0),
          attrInt(n, 'new_axis_mask', 0),
          attrInt(n, 'shrink_axis_mask', 0),
        );
      case 'Slice':
        return tf.slice(x[0], num(x[1]), num(x[2]));
      case 'Transpose':
        return tf.transpose(x[0], num(x[1]));
      case 'Fill':
        return tf.fill(num(x[0]), num(x[1])[0], x[1].dtype as 'float32' | 'int32');
      case 'Range':
        return tf.range(num(x[0])[0], num(x[1])[0], num(x[2])[0], x[0].dtype as 'float32' | 'int32');
      case 'Prod':
      case 'Sum':
      case 'Max':
      case 'Min':
      case 'Mean': {
        const axes = num(x[1]);
        const keep = attrBool(n, 'keep_dims', false);
        const f = { Prod: tf.prod, Sum: tf.sum, Max: tf.max, Min: tf.min, Mean: tf.mean }[n.op as 'Prod'];
        return f(x[0], axes, keep);
      }
      case 'GatherV2':
        return tf.gather(x[0], x[1], num(x[2])[0], attrInt(n, 'batch_dims', 0));
      case 'Gather':
        return tf.gather(x[0], x[1]);
      case 'Tile':
        return tf.tile(x[0], num(x[1]));
      case 'ZerosLike':
        return tf.zerosLike(x[0]);
      case 'OnesLike':
        return tf.onesLike(x[0]);
      case 'MatMul':
        return tf.matMul(x[0], x[1], attrBool(n, 'transpose_a', false), attrBool(n, 'transpose_b', false));
      default:
        throw new Error(`cannot fold ${n.op}`);
    }
  });
}

// ------------------------------------------------------------------ the importer

type Val = { kind: 'const'; name: string } | { kind: 'act'; name: string };

/** Folds that only select or assemble values, so a -1 standing for the unknown batch stays meaningful. */
const BATCH_SAFE_FOLDS = new Set([
  'Identity', 'StopGradient', 'Snapshot', 'Cast', 'StridedSlice', 'Slice', 'GatherV2', 'Gather', 'Pack', 'ConcatV2',
  'Concat', 'Reshape', 'Squeeze', 'ExpandDims',
]);

/** Unknown ops whose output has the shape of their (first) input, or the broadcast of two inputs. */
const UNARY_ELEMENTWISE = new Set([
  'Abs', 'Neg', 'Exp', 'Log', 'Log1p', 'Sqrt', 'Rsqrt', 'Square', 'Reciprocal', 'Sign', 'Floor', 'Ceil', 'Round',
  'Elu', 'Selu', 'Softplus', 'Softsign', 'Erf', 'Sin', 'Cos', 'Cast', 'Relu', 'Relu6', 'Sigmoid', 'Tanh', 'LeakyRelu',
  'Prelu', 'Softmax', 'LogSoftmax', 'Identity', 'ClipByValue', 'IsNan', 'LRN',
]);
const BINARY_ELEMENTWISE = new Set([
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'DivNoNan', 'Maximum', 'Minimum', 'Pow', 'SquaredDifference',
  'FloorDiv', 'FloorMod', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr',
]);

const ACTIVATIONS: Record<string, string> = {
  Relu: 'Relu',
  Relu6: 'Relu6',
  Elu: 'Elu',
  Selu: 'Selu',
  LeakyRelu: 'LeakyRelu',
  Prelu: 'Prelu',
  Sigmoid: 'Sigmoid',
  Tanh: 'Tanh',
};

class GraphImporter {
  private readonly b: GraphBuilder;
  private readonly nodes: TfNode[];
  private readonly byName = new Map<string, TfNode>();
  /** TF tensor ref (`name` or `name:k`) → value */
  private readonly vals = new Map<string, Val>();
  /** every constant value by name (weights, inline, folded); those not put in the graph are disposed */
  private readonly consts = new Map<string, tf.Tensor>();
  private readonly outputSet: Set<string>;
  private readonly outputs: string[];
  private readonly inputOrder: string[];
  private readonly fromSignature: boolean;
  /** folded int constants that carry the unknown batch as -1 (derived from Shape) */
  private readonly batchTainted = new Set<string>();
  /** output count per node (from references) */
  private readonly outCount = new Map<string, number>();

  constructor(
    private readonly modelJson: Json,
    private readonly weights: Map<string, tf.Tensor>,
    private readonly source: string,
  ) {
    const topo = modelJson?.modelTopology;
    if (!topo || !Array.isArray(topo.node)) throw new GraphError(`${source}: no 'modelTopology.node' list in the graph model`);
    this.nodes = topo.node as TfNode[];
    for (const n of this.nodes) {
      if (!n || typeof n.name !== 'string' || typeof n.op !== 'string')
        throw new GraphError(`${source}: malformed GraphDef node ${JSON.stringify(n)?.slice(0, 120)}`);
      if (this.byName.has(n.name)) throw new GraphError(`${source}: two GraphDef nodes are named '${n.name}'`);
      this.byName.set(n.name, n);
    }
    this.b = new GraphBuilder('tfjs-graph', source, new Set(this.byName.keys()));
    for (const n of this.nodes)
      for (const r of n.input ?? []) {
        if (r.startsWith('^')) continue;
        const [src, k] = splitRef(r);
        this.outCount.set(src, Math.max(this.outCount.get(src) ?? 1, k + 1));
      }
    const sig = modelJson.signature ?? modelJson.userDefinedMetadata?.signature;
    const sigOuts = sig?.outputs ? Object.values(sig.outputs).map((o: Json) => String(o.name ?? '')) : [];
    const sigIns = sig?.inputs ? Object.values(sig.inputs).map((o: Json) => stripRef(String(o.name ?? ''))) : [];
    this.inputOrder = sigIns;
    let outs = sigOuts.filter((o) => o && this.byName.has(splitRef(o)[0])).map(normRef);
    this.fromSignature = outs.length > 0;
    if (outs.length === 0) {
      const consumed = new Set<string>();
      for (const n of this.nodes) for (const r of n.input ?? []) if (!r.startsWith('^')) consumed.add(splitRef(r)[0]);
      outs = this.nodes
        .filter((n) => !consumed.has(n.name) && !['Const', 'NoOp', 'Placeholder', 'PlaceholderWithDefault', 'Assert'].includes(n.op))
        .map((n) => n.name);
    }
    if (outs.length === 0) throw new GraphError(`${source}: the graph model has no outputs`);
    this.outputs = outs;
    this.outputSet = new Set(outs);
  }

  run(): Graph {
    try {
      for (const n of this.topoOrder()) this.convert(n);
      const outputs: string[] = [];
      for (const o of this.outputs) {
        const v = this.vals.get(o);
        if (!v) throw new GraphError(`${this.source}: graph output '${o}' is not produced by any node`);
        if (v.kind === 'const') {
          // dangling constant computations are not outputs unless the signature names them
          if (this.fromSignature) throw new GraphError(`${this.source}: graph output '${o}' is a constant`);
          continue;
        }
        outputs.push(v.name);
      }
      if (outputs.length === 0) throw new GraphError(`${this.source}: the graph model has no non-constant outputs`);
      if (this.inputOrder.length) {
        const rank = (n: string) => {
          const i = this.inputOrder.indexOf(n);
          return i < 0 ? this.inputOrder.length : i;
        };
        this.b.inputs.sort((a, c) => rank(a.name) - rank(c.name));
      }
      mergeClips(this.b.nodes, new Set(outputs));
      const g = this.b.finish(outputs);
      this.disposeUnused(g);
      return g;
    } catch (e) {
      this.b.dispose();
      this.disposeUnused(undefined);
      throw e;
    }
  }

  private disposeUnused(g: Graph | undefined): void {
    const kept = new Set<tf.Tensor>(g ? g.constants.values() : []);
    for (const t of this.consts.values()) if (!kept.has(t)) t.dispose();
    for (const t of this.weights.values()) if (!kept.has(t)) t.dispose();
  }

  private topoOrder(): TfNode[] {
    const order: TfNode[] = [];
    const state = new Map<string, number>();
    for (const root of this.nodes) {
      if (state.get(root.name) === 2) continue;
      const stack: Array<[TfNode, number]> = [[root, 0]];
      while (stack.length) {
        const top = stack[stack.length - 1];
        const [n, i] = top;
        if (i === 0) {
          if (state.get(n.name) === 2) {
            stack.pop();
            continue;
          }
          state.set(n.name, 1);
        }
        const ins = n.input ?? [];
        if (i < ins.length) {
          top[1]++;
          const src = splitRef(ins[i].replace(/^\^/, ''))[0];
          const m = this.byName.get(src);
          if (!m) throw new GraphError(`${this.source}: node '${n.name}' reads '${ins[i]}', which no node defines`);
          const s = state.get(src);
          if (s === 1) throw new GraphError(`${this.source}: the graph has a cycle through '${src}' (control flow is not supported)`);
          if (s !== 2) stack.push([m, 0]);
        } else {
          state.set(n.name, 2);
          order.push(n);
          stack.pop();
        }
      }
    }
    return order;
  }

  // ---------------------------------------------------------------- value access

  private val(ref: string, user: TfNode): Val {
    const v = this.vals.get(normRef(ref));
    if (!v) throw new GraphError(`${this.source}: node '${user.name}' (${user.op}) reads '${ref}', which was not produced`);
    return v;
  }

  private dataInputs(n: TfNode): string[] {
    return (n.input ?? []).filter((r) => !r.startsWith('^'));
  }

  private constTensor(v: Val): tf.Tensor | undefined {
    return v.kind === 'const' ? this.consts.get(v.name) : undefined;
  }

  private constInts(v: Val, n: TfNode, what: string): number[] {
    const t = this.constTensor(v);
    if (!t) throw new ConvertFallback(`${what} is not a constant`);
    return Array.from(t.dataSync() as ArrayLike<number>).map(Number);
  }

  /** The graph-constant name for a constant value (added to the graph on first use). */
  private constRef(v: Val): string {
    if (v.kind === 'act') return v.name;
    if (!this.b.isConst(v.name)) this.b.addConst(v.name, this.consts.get(v.name)!, true);
    return v.name;
  }

  /** Add a derived constant (e.g. a reshaped filter) to the graph. */
  private derivedConst(base: string, t: tf.Tensor): string {
    const name = this.b.addConst(base, t);
    this.consts.set(name, t);
    return name;
  }

  private setConst(name: string, t: tf.Tensor): void {
    const old = this.consts.get(name);
    if (old && old !== t) old.dispose();
    this.consts.set(name, t);
    this.vals.set(name, { kind: 'const', name });
  }

  private shape(v: Val): Shape | undefined {
    return v.kind === 'const' ? this.consts.get(v.name)!.shape.slice() : this.b.shapeOf(v.name);
  }

  // ---------------------------------------------------------------- conversion

  private convert(n: TfNode): void {
    switch (n.op) {
      case 'Const': {
        const w = this.weights.get(n.name);
        let t = w;
        if (t) this.weights.delete(n.name);
        else t = inlineTensor(n, this.source);
        if (!t) throw new GraphError(`${this.source}: Const '${n.name}' has no value (neither in weightsManifest nor inline)`);
        this.setConst(n.name, t);
        return;
      }
      case 'Placeholder':
      case 'PlaceholderWithDefault': {
        let shape = shapeFromProto(n.attr?.shape?.shape);
        if (!shape) {
          const sig = this.modelJson.signature ?? this.modelJson.userDefinedMetadata?.signature;
          const s = sig?.inputs ? Object.values(sig.inputs).find((i: Json) => stripRef(i.name) === n.name) : undefined;
          shape = shapeFromProto((s as Json)?.tensorShape);
        }
        if (!shape) throw new GraphError(`${this.source}: input '${n.name}' has no static shape`);
        if (shape.length > 0) shape[0] = -1;
        const dt = tfDtype(attrType(n, 'dtype'));
        this.b.addInput(n.name, shape, dt === 'int32' ? 'int32' : 'float32');
        this.vals.set(n.name, { kind: 'act', name: n.name });
        return;
      }
      case 'NoOp':
      case 'Assert':
        return;
    }
    const ins = this.dataInputs(n).map((r) => this.val(r, n));
    if (ins.length > 0 && ins.every((v) => v.kind === 'const') && foldable(n.op)) {
      // Values holding the unknown batch as -1 (from Shape) may only be moved around, not computed with
      // (Tile/Fill/Mul with -1 would be wrong, and some wasm kernels crash on negative sizes).
      const tainted = ins.some((v) => this.batchTainted.has(v.name));
      let t: tf.Tensor | undefined;
      if (!tainted || BATCH_SAFE_FOLDS.has(n.op)) {
        try {
          t = foldOp(n, ins.map((v) => this.consts.get(v.name)!));
        } catch {
          t = undefined; // keep the node (reported as unsupported) rather than fail the import
        }
      }
      if (t) {
        this.setConst(n.name, t);
        if (tainted && t.dtype === 'int32' && (t.dataSync() as Int32Array).includes(-1)) this.batchTainted.add(n.name);
        return;
      }
    }
    // Shape of an activation with a static shape folds too.
    if ((n.op === 'Shape' || n.op === 'Size' || n.op === 'Rank') && ins[0]?.kind === 'act') {
      const s = this.shape(ins[0]);
      if (s && (n.op === 'Rank' || s.every((d, i) => d >= 0 || (i === 0 && n.op === 'Shape')))) {
        const t =
          n.op === 'Shape' ? tf.tensor1d(s, 'int32') : n.op === 'Size' ? tf.scalar(prod(s), 'int32') : tf.scalar(s.length, 'int32');
        this.setConst(n.name, t);
        if (n.op === 'Shape' && s[0] < 0) this.batchTainted.add(n.name);
        return;
      }
    }
    try {
      if (this.mapOp(n, ins)) return;
    } catch (e) {
      if (!(e instanceof ConvertFallback)) throw e;
    }
    this.keepUnknown(n, ins);
  }

  /** Keep an op naflow has no mapping for: op = the TF op name, attrs decoded loosely. */
  private keepUnknown(n: TfNode, ins: Val[]): void {
    const count = this.outCount.get(n.name) ?? 1;
    const attrs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n.attr ?? {})) {
      if (k === 'T' || k === '_output_shapes') continue;
      attrs[k] = v?.list?.s ? v.list.s.map(b64) : v?.s !== undefined ? b64(v.s) : v?.list?.i ?? v?.i ?? v?.f ?? v?.b ?? v?.type ?? v;
    }
    // Shape-preserving element-wise ops keep the static shape flowing (for later SAME padding etc.).
    let shape: Shape | undefined;
    if (count === 1 && UNARY_ELEMENTWISE.has(n.op) && ins.length >= 1) shape = this.shape(ins[0]);
    else if (count === 1 && BINARY_ELEMENTWISE.has(n.op) && ins.length === 2) shape = broadcast(this.shape(ins[0]), this.shape(ins[1]));
    this.b.emit(n.name, n.op, ins.map((v) => this.constRef(v)), attrs, shape, n.op, true);
    const node = this.b.nodes[this.b.nodes.length - 1];
    for (let k = 1; k < count; k++) {
      const o = `${n.name}:${k}`;
      this.b.reserve(o);
      node.outputs.push(o);
      this.vals.set(o, { kind: 'act', name: o });
    }
    this.vals.set(n.name, { kind: 'act', name: n.name });
  }

  /**
   * Emit the nodes for one TF node. `steps` are emitted as `<name>/<step>`, the final one as `<name>`.
   */
  private final(n: TfNode, op: string, inputs: string[], attrs: object, shape: Shape | undefined): string {
    const name = this.b.emit(n.name, op, inputs, attrs as Record<string, unknown>, shape, n.op, true);
    this.vals.set(n.name, { kind: 'act', name });
    return name;
  }

  private step(n: TfNode, step: string, op: string, inputs: string[], attrs: object, shape: Shape | undefined): string {
    return this.b.emit(`${n.name}/${step}`, op, inputs, attrs as Record<string, unknown>, shape, n.op);
  }

  private alias(n: TfNode, v: Val): void {
    this.vals.set(n.name, v);
  }

  private mapOp(n: TfNode, ins: Val[]): boolean {
    const x = ins[0];
    const xs = x ? this.shape(x) : undefined;
    const rank = xs?.length;
    switch (n.op) {
      case 'Identity':
      case 'StopGradient':
      case 'Snapshot':
      case 'IdentityN':
        if (this.outputSet.has(n.name) && x.kind === 'act') this.final(n, 'Identity', [x.name], {}, xs);
        else this.alias(n, x);
        return true;
      case 'Cast': {
        const d = tfDtype(attrType(n, 'DstT'));
        if (d !== 'float32' || this.b.dtypes.get(x.name) === 'int32') return false;
        if (this.outputSet.has(n.name)) this.final(n, 'Identity', [x.name], {}, xs);
        else this.alias(n, x);
        return true;
      }
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
      case '_FusedConv2D':
      case 'FusedConv2D':
      case 'FusedDepthwiseConv2dNative':
        return this.conv(n, ins);
      case '_FusedMatMul':
      case 'MatMul':
        return this.matmul(n, ins);
      case 'BiasAdd':
      case 'Add':
      case 'AddV2':
      case 'Sub':
      case 'Mul':
      case 'RealDiv':
      case 'Div': {
        if (ins.length !== 2) return false;
        const op = { BiasAdd: 'Add', Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Div: 'Div' }[n.op]!;
        let [a, c] = ins;
        if ((op === 'Add' || op === 'Mul') && a.kind === 'const' && c.kind === 'act') [a, c] = [c, a];
        this.final(n, op, [this.constRef(a), this.constRef(c)], {}, broadcast(this.shape(a), this.shape(c)));
        return true;
      }
      case 'AddN': {
        let acc = this.constRef(ins[0]);
        const s = xs;
        for (let k = 1; k < ins.length; k++) {
          const last = k === ins.length - 1;
          const args = [acc, this.constRef(ins[k])];
          acc = last ? this.final(n, 'Add', args, {}, s) : this.step(n, `add${k}`, 'Add', args, {}, s);
        }
        if (ins.length === 1) this.final(n, 'Identity', [acc], {}, s);
        return true;
      }
      case 'Minimum':
      case 'Maximum': {
        const [a, c] = ins;
        const act = a.kind === 'act' ? a : c;
        const cst = a.kind === 'act' ? c : a;
        if (act.kind !== 'act' || cst.kind !== 'const') return false;
        const v = Array.from(this.consts.get(cst.name)!.dataSync() as ArrayLike<number>);
        if (v.length === 0 || v.some((e) => e !== v[0])) return false;
        const cs = this.shape(cst)!;
        const as = this.shape(act);
        if (as && cs.length > as.length) return false;
        const attrs = n.op === 'Minimum' ? { min: -CLIP_INF, max: v[0] } : { min: v[0], max: CLIP_INF };
        this.final(n, 'Clip', [act.name], attrs, as);
        return true;
      }
      case 'Relu':
      case 'Relu6':
      case 'Elu':
      case 'Selu':
      case 'LeakyRelu':
      case 'Sigmoid':
      case 'Tanh':
        if (x.kind !== 'act') return false;
        this.activation(n, n.op, x.name, undefined, true);
        return true;
      case 'Prelu':
        if (x.kind !== 'act') return false;
        this.final(n, 'PRelu', [x.name, this.constRef(ins[1])], {}, xs);
        return true;
      case 'Softmax':
        this.final(n, 'Softmax', [x.name], { axis: rank ? rank - 1 : -1 }, xs);
        return true;
      case 'MaxPool':
      case 'AvgPool': {
        this.requireNHWC(n);
        const k = attrInts(n, 'ksize') ?? [1, 1, 1, 1];
        const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
        if (k[0] !== 1 || k[3] !== 1 || s[0] !== 1 || s[3] !== 1) return false;
        const kernel: [number, number] = [k[1], k[2]];
        const strides: [number, number] = [s[1], s[2]];
        const pads = this.pads(n, xs, kernel, strides, [1, 1]);
        this.final(
          n,
          n.op === 'MaxPool' ? 'MaxPool' : 'AveragePool',
          [x.name],
          { kernel, strides, pads, dilations: [1, 1], countIncludePad: false },
          xs ? windowShape(xs, kernel, strides, [1, 1], pads, xs[3]) : undefined,
        );
        return true;
      }
      case 'Mean':
      case 'Max': {
        const axes = this.constInts(ins[1], n, 'reduction axes').map((a) => normAxis(a, rank));
        const keep = attrBool(n, 'keep_dims', false);
        const isSpatial = rank === 4 && axes.length === 2 && axes.includes(1) && axes.includes(2);
        if (isSpatial) {
          const gop = n.op === 'Mean' ? 'GlobalAveragePool' : 'GlobalMaxPool';
          const pooled: Shape = [xs![0], 1, 1, xs![3]];
          if (keep) {
            this.final(n, gop, [x.name], {}, pooled);
          } else {
            const p = this.step(n, n.op === 'Mean' ? 'gap' : 'gmp', gop, [x.name], {}, pooled);
            const C = xs![3];
            if (C > 0) this.final(n, 'Reshape', [p], { shape: [-1, C] }, [xs![0], C]);
            else this.final(n, 'Flatten', [p], { axis: 1 }, undefined);
          }
          return true;
        }
        if (n.op !== 'Mean') return false;
        const out = xs ? xs.map((d, i) => (axes.includes(i) ? 1 : d)).filter((_, i) => keep || !axes.includes(i)) : undefined;
        this.final(n, 'ReduceMean', [x.name], { axes, keepDims: keep }, out);
        return true;
      }
      case 'Reshape': {
        const target = this.constInts(ins[1], n, 'the target shape');
        // a negative size other than -1 comes from shape arithmetic on the unknown batch
        if (target.some((d) => d < -1)) throw new ConvertFallback('reshape target computed from an unknown batch');
        const shape = resolveReshape(xs, target);
        const out = xs ? [xs[0] < 0 && shape[0] < 0 ? -1 : shape[0], ...shape.slice(1)] : undefined;
        this.final(n, 'Reshape', [x.name], { shape }, out);
        return true;
      }
      case 'Squeeze': {
        if (!xs) return false;
        let dims = attrInts(n, 'squeeze_dims') ?? attrInts(n, 'axis') ?? [];
        dims = dims.length ? dims.map((d) => normAxis(d, rank)) : xs.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
        const out = xs.filter((_, i) => !dims.includes(i));
        this.final(n, 'Reshape', [x.name], { shape: [xs[0] < 0 ? -1 : out[0], ...out.slice(1)] }, out);
        return true;
      }
      case 'ExpandDims': {
        if (!xs) return false;
        let d = this.constInts(ins[1], n, 'the axis')[0];
        if (d < 0) d += xs.length + 1;
        const out = [...xs.slice(0, d), 1, ...xs.slice(d)];
        this.final(n, 'Reshape', [x.name], { shape: out.map((v, i) => (i === 0 && v < 0 ? -1 : v)) }, out);
        return true;
      }
      case 'ConcatV2':
      case 'Concat': {
        const parts = n.op === 'ConcatV2' ? ins.slice(0, -1) : ins.slice(1);
        const axisVal = n.op === 'ConcatV2' ? ins[ins.length - 1] : ins[0];
        const shapes = parts.map((p) => this.shape(p));
        const r = shapes[0]?.length;
        const axis = normAxis(this.constInts(axisVal, n, 'the axis')[0], r);
        let out: Shape | undefined;
        if (shapes.every((s) => s)) {
          out = shapes[0]!.slice();
          out[axis] = shapes.some((s) => s![axis] < 0) ? -1 : shapes.reduce((a, s) => a + s![axis], 0);
          if (out[0] !== -1 && shapes.some((s) => s![0] === -1)) out[0] = -1;
        }
        this.final(n, 'Concat', parts.map((p) => this.constRef(p)), { axis }, out);
        return true;
      }
      case 'Pad':
      case 'PadV2':
      case 'MirrorPad': {
        const p = this.constInts(ins[1], n, 'the paddings');
        const pads: Array<[number, number]> = [];
        for (let i = 0; i < p.length; i += 2) pads.push([p[i], p[i + 1]]);
        let mode: 'constant' | 'reflect' = 'constant';
        let value = 0;
        if (n.op === 'MirrorPad') {
          const m = (attrStr(n, 'mode') ?? 'REFLECT').toUpperCase();
          if (m !== 'REFLECT') return false;
          mode = 'reflect';
        } else if (n.op === 'PadV2') {
          value = this.constInts(ins[2], n, 'the pad value')[0];
        }
        const out = xs ? xs.map((d, i) => (d < 0 ? -1 : d + pads[i][0] + pads[i][1])) : undefined;
        this.final(n, 'Pad', [x.name], { pads, mode, value }, out);
        return true;
      }
      case 'Transpose': {
        const perm = this.constInts(ins[1], n, 'the permutation');
        this.final(n, 'Transpose', [x.name], { perm }, xs ? perm.map((p) => xs[p]) : undefined);
        return true;
      }
      case 'Slice': {
        if (!xs) return false;
        const begin = this.constInts(ins[1], n, 'begin');
        const size = this.constInts(ins[2], n, 'size');
        const axes: number[] = [];
        const starts: number[] = [];
        const ends: number[] = [];
        const out = xs.slice();
        begin.forEach((bg, i) => {
          const sz = size[i] < 0 ? (xs[i] < 0 ? -1 : xs[i] - bg) : size[i];
          if (bg === 0 && size[i] < 0) return;
          if (sz < 0) throw new ConvertFallback('slice of an unknown dimension');
          axes.push(i);
          starts.push(bg);
          ends.push(bg + sz);
          out[i] = sz;
        });
        this.final(n, 'Slice', [x.name], { starts, ends, axes, steps: axes.map(() => 1) }, out);
        return true;
      }
      case 'StridedSlice':
        return this.stridedSlice(n, ins);
      case 'FusedBatchNorm':
      case 'FusedBatchNormV2':
      case 'FusedBatchNormV3': {
        this.requireNHWC(n);
        const [, scale, offset, mean, variance] = ins;
        this.final(
          n,
          'BatchNormalization',
          [x.name, ...[scale, offset, mean, variance].map((v) => this.constRef(v))],
          { epsilon: attrFloat(n, 'epsilon', 1e-3) },
          xs,
        );
        return true;
      }
      case 'ResizeBilinear':
      case 'ResizeNearestNeighbor': {
        const size = this.constInts(ins[1], n, 'the size') as [number, number];
        this.final(
          n,
          'Resize',
          [x.name],
          {
            size: [size[0], size[1]],
            mode: n.op === 'ResizeBilinear' ? 'bilinear' : 'nearest',
            alignCorners: attrBool(n, 'align_corners', false),
            halfPixelCenters: attrBool(n, 'half_pixel_centers', false),
          },
          xs ? [xs[0], size[0], size[1], xs[3]] : undefined,
        );
        return true;
      }
      default:
        return false;
    }
  }

  private requireNHWC(n: TfNode): void {
    const df = attrStr(n, 'data_format');
    if (df && df !== 'NHWC')
      throw new GraphError(`${this.source}: node '${n.name}' (${n.op}) uses data_format ${df}; naflow reads NHWC graphs only`);
  }

  private pads(
    n: TfNode,
    xs: Shape | undefined,
    kernel: [number, number],
    strides: [number, number],
    dilations: [number, number],
  ): [number, number, number, number] {
    const p = (attrStr(n, 'padding') ?? 'VALID').toUpperCase();
    if (p === 'VALID') return [0, 0, 0, 0];
    if (p === 'EXPLICIT') {
      const e = attrInts(n, 'explicit_paddings') ?? [];
      if (e.length !== 8) throw new GraphError(`${this.source}: node '${n.name}' has EXPLICIT padding without 8 explicit_paddings`);
      return [e[2], e[4], e[3], e[5]];
    }
    if (p === 'SAME') {
      const h = xs && xs[1] >= 0 ? xs[1] : undefined;
      const w = xs && xs[2] >= 0 ? xs[2] : undefined;
      const pads = samePads(h, w, kernel, strides, dilations);
      // unknown because an upstream op is unsupported: keep this node too (the upstream one is reported)
      if (!pads && !xs) throw new ConvertFallback('input shape unknown');
      if (!pads)
        throw new GraphError(
          `${this.source}: node '${n.name}' (${n.op}) has SAME padding with stride ${strides.join('x')} on an input of unknown spatial size; give the model input a static size`,
        );
      return pads;
    }
    throw new GraphError(`${this.source}: node '${n.name}' has padding '${p}', which naflow does not support`);
  }

  private conv(n: TfNode, ins: Val[]): boolean {
    this.requireNHWC(n);
    const [x, f, ...args] = ins;
    if (x.kind !== 'act' || f.kind !== 'const') return false;
    const xs = this.shape(x);
    const filter = this.consts.get(f.name)!;
    const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
    const d = attrInts(n, 'dilations') ?? [1, 1, 1, 1];
    const strides: [number, number] = [s[1], s[2]];
    const dilations: [number, number] = [d[1] ?? 1, d[2] ?? 1];
    const [kh, kw, fin, fout] = filter.shape;
    const kernel: [number, number] = [kh, kw];
    const pads = this.pads(n, xs, kernel, strides, dilations);
    const depthwise = n.op.includes('Depthwise');
    let w: string;
    let group: number;
    let cout: number;
    if (depthwise) {
      cout = fin * fout;
      group = fin;
      w = this.derivedConst(`${f.name}/hwio`, tf.reshape(filter, [kh, kw, 1, cout]));
    } else {
      cout = fout;
      const cin = xs ? xs[3] : fin;
      group = cin > 0 ? cin / fin : 1;
      if (!Number.isInteger(group)) throw new GraphError(`${this.source}: node '${n.name}': input has ${cin} channels, filter expects ${fin}`);
      w = this.constRef(f);
    }
    const outShape = xs ? windowShape(xs, kernel, strides, dilations, pads, cout) : undefined;
    const attrs = { strides, pads, dilations, group };

    const fused = n.op.startsWith('_Fused') || n.op.startsWith('Fused') ? attrStrs(n, 'fused_ops') : [];
    if (fused.length === 0) {
      this.final(n, 'Conv', [x.name, w], attrs, outShape);
      return true;
    }
    const [first, act, ...more] = fused;
    if (more.length) throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
    if (act !== undefined && !(act in ACTIVATIONS)) throw new ConvertFallback(`fused activation ${act}`);
    const hasAct = act !== undefined;
    let y: string;
    let extra: Val | undefined;
    if (first === 'BiasAdd') {
      const convIns = [x.name, w, this.constRef(args[0])];
      y = hasAct ? this.step(n, 'conv', 'Conv', convIns, attrs, outShape) : this.final(n, 'Conv', convIns, attrs, outShape);
      extra = args[1];
    } else if (first === 'FusedBatchNorm') {
      const c = this.step(n, 'conv', 'Conv', [x.name, w], attrs, outShape);
      const bnIns = [c, ...args.slice(0, 4).map((v) => this.constRef(v))];
      const eps = attrFloat(n, 'epsilon', 1e-3);
      y = hasAct
        ? this.step(n, 'bn', 'BatchNormalization', bnIns, { epsilon: eps }, outShape)
        : this.final(n, 'BatchNormalization', bnIns, { epsilon: eps }, outShape);
      extra = args[4];
    } else throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
    if (hasAct) this.activation(n, act, y, extra, true);
    return true;
  }

  private matmul(n: TfNode, ins: Val[]): boolean {
    const [a, bv, ...args] = ins;
    if (a.kind !== 'act') return false;
    const ta = attrBool(n, 'transpose_a', false);
    const tb = attrBool(n, 'transpose_b', false);
    if (ta) throw new ConvertFallback('transpose_a');
    const as = this.shape(a);
    const fused = n.op === '_FusedMatMul' ? attrStrs(n, 'fused_ops') : [];
    const [first, act, ...more] = fused;
    if (more.length || (first !== undefined && first !== 'BiasAdd') || (act !== undefined && !(act in ACTIVATIONS)))
      throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
    if (bv.kind !== 'const') {
      if (fused.length || tb) return false;
      const bs = this.shape(bv);
      this.final(n, 'MatMul', [a.name, bv.name], {}, as && bs ? [...as.slice(0, -1), bs[bs.length - 1]] : undefined);
      return true;
    }
    const wt = this.consts.get(bv.name)!;
    if (wt.rank !== 2 || (as && as.length !== 2)) throw new ConvertFallback('matmul of rank > 2');
    const w = tb ? this.derivedConst(`${bv.name}/in_out`, tf.transpose(wt)) : this.constRef(bv);
    const ws = wt.shape as number[];
    const units = tb ? ws[0] : ws[1];
    const bias = first === 'BiasAdd' ? this.constRef(args[0]) : this.derivedConst(`${n.name}/zero_bias`, tf.zeros([units]));
    const out = as ? [as[0], units] : undefined;
    const hasAct = act !== undefined;
    const y = hasAct
      ? this.step(n, 'dense', 'Gemm', [a.name, w, bias], { alpha: 1, beta: 1 }, out)
      : this.final(n, 'Gemm', [a.name, w, bias], { alpha: 1, beta: 1 }, out);
    if (hasAct) this.activation(n, act, y, args[1], true);
    return true;
  }

  /** Emit a TF activation (standalone or fused) as canonical op(s); `last`: it carries the node's name. */
  private activation(n: TfNode, act: string, x: string, alpha: Val | undefined, last: boolean): string {
    const xs = this.b.shapeOf(x);
    const emit = (op: string, inputs: string[], attrs: object) =>
      last ? this.final(n, op, inputs, attrs, xs) : this.step(n, op.toLowerCase(), op, inputs, attrs, xs);
    switch (act) {
      case 'Relu':
        return emit('Relu', [x], {});
      case 'Relu6':
        return emit('Clip', [x], { min: 0, max: 6 });
      case 'Sigmoid':
        return emit('Sigmoid', [x], {});
      case 'Tanh':
        return emit('Tanh', [x], {});
      case 'LeakyRelu':
        return emit('LeakyRelu', [x], { alpha: attrFloat(n, 'leakyrelu_alpha', attrFloat(n, 'alpha', 0.2)) });
      case 'Prelu':
        if (!alpha) throw new GraphError(`${this.source}: node '${n.name}' fuses Prelu without an alpha input`);
        return emit('PRelu', [x, this.constRef(alpha)], {});
      default:
        // Elu, Selu: no canonical op; kept so the engine names them as unsupported
        return emit(act, [x], {});
    }
  }

  private stridedSlice(n: TfNode, ins: Val[]): boolean {
    const [x] = ins;
    const xs = this.shape(x);
    if (!xs || x.kind !== 'act') return false;
    if (attrInt(n, 'ellipsis_mask', 0) || attrInt(n, 'new_axis_mask', 0)) return false;
    const begin = this.constInts(ins[1], n, 'begin');
    const end = this.constInts(ins[2], n, 'end');
    const strides = this.constInts(ins[3], n, 'strides');
    const bm = attrInt(n, 'begin_mask', 0);
    const em = attrInt(n, 'end_mask', 0);
    const sm = attrInt(n, 'shrink_axis_mask', 0);
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const steps: number[] = [];
    const out = xs.slice();
    for (let i = 0; i < begin.length; i++) {
      const dim = xs[i];
      const st = strides[i] ?? 1;
      const shrink = (sm >> i) & 1;
      let b0 = (bm >> i) & 1 ? (st > 0 ? 0 : dim - 1) : begin[i];
      let e0 = shrink ? b0 + 1 : (em >> i) & 1 ? (st > 0 ? dim : -1 - dim) : end[i];
      if ((bm >> i) & 1 && (em >> i) & 1 && st === 1 && !shrink) continue;
      if (dim < 0) return false;
      if (b0 < 0) b0 += dim;
      if (e0 < 0 && !((em >> i) & 1 && st < 0)) e0 += dim;
      b0 = Math.max(0, Math.min(b0, dim));
      e0 = st > 0 ? Math.max(0, Math.min(e0, dim)) : Math.max(-1, Math.min(e0, dim - 1));
      if (st === 1 && b0 === 0 && e0 === dim && !shrink) continue;
      axes.push(i);
      starts.push(b0);
      ends.push(e0);
      steps.push(st);
      out[i] = Math.max(0, Math.ceil((e0 - b0) / st));
    }
    const shrunk = out.filter((_, i) => !((sm >> i) & 1));
    if (axes.length === 0) {
      if (shrunk.length === out.length) {
        this.final(n, 'Identity', [x.name], {}, out);
        return true;
      }
    }
    if (shrunk.length === out.length) {
      this.final(n, 'Slice', [x.name], { starts, ends, axes, steps }, out);
      return true;
    }
    const sl = axes.length ? this.step(n, 'slice', 'Slice', [x.name], { starts, ends, axes, steps }, out) : x.name;
    this.final(n, 'Reshape', [sl], { shape: shrunk.map((d, i) => (i === 0 && xs[0] < 0 ? -1 : d)) }, shrunk);
    return true;
  }
}

/** A mapping cannot express this node; keep it as an unknown op. */
class ConvertFallback extends Error {}

function splitRef(r: string): [string, number] {
  const m = /^(.*):(\d+)$/.exec(r);
  return m ? [m[1], Number(m[2])] : [r, 0];
}

function normRef(r: string): string {
  const [n, k] = splitRef(r.replace(/^\^/, ''));
  return k === 0 ? n : `${n}:${k}`;
}

function stripRef(r: string): string {
  return splitRef(r)[0];
}


function broadcast(a: Shape | undefined, b: Shape | undefined): Shape | undefined {
  if (!a || !b) return undefined;
  const r = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    // -1 (unknown) against 1 or -1 stays unknown; against a known size n > 1 the result is n
    if (x === -1) out.push(y === 1 || y === -1 ? -1 : y);
    else if (y === -1) out.push(x === 1 ? -1 : x);
    else out.push(Math.max(x, y));
  }
  return out;
}

/**
 * Merge chains Relu → Clip → Clip (single consumers, not graph outputs) into one Clip, e.g. Keras'
 * `relu(max_value=6)` exported as Relu, Minimum(6), Maximum(0). The merged node keeps the last
 * node's name; `sourceOp` lists the merged TF ops.
 */
function mergeClips(nodes: AnyNode[], outputs: Set<string>): void {
  const consumers = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const producer = new Map<string, AnyNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  const range = (n: AnyNode): [number, number] | undefined =>
    n.op === 'Clip' ? [(n.attrs as { min: number }).min, (n.attrs as { max: number }).max] : n.op === 'Relu' ? [0, CLIP_INF] : undefined;
  const removed = new Set<AnyNode>();
  for (const n of nodes) {
    if (n.op !== 'Clip' || removed.has(n)) continue;
    for (;;) {
      const p = producer.get(n.inputs[0]);
      if (!p || removed.has(p) || p.outputs.length !== 1) break;
      const rp = range(p);
      const rn = range(n)!;
      if (!rp || consumers.get(p.outputs[0]) !== 1 || outputs.has(p.outputs[0])) break;
      const lo = Math.max(rp[0], rn[0]);
      const hi = Math.min(rp[1], rn[1]);
      if (lo > hi) break;
      n.attrs = { min: lo, max: hi } as AnyNode['attrs'];
      n.inputs = [p.inputs[0]];
      n.sourceOp = `${p.sourceOp ?? p.op}+${n.sourceOp ?? n.op}`;
      removed.add(p);
    }
  }
  if (removed.size) {
    const keep = nodes.filter((n) => !removed.has(n));
    nodes.length = 0;
    nodes.push(...keep);
  }
}

/**
 * Import a tfjs graph model. Takes ownership of `weights` (used as constants or disposed).
 */
export function importTfjsGraph(modelJson: Json, weights: Map<string, tf.Tensor>, source: string): Graph {
  return new GraphImporter(modelJson, weights, source).run();
}
