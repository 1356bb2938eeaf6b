/**
 * The tfjs graph importer's state while it walks a GraphDef, and what every op handler uses: reading
 * inputs as constants or activations, adding constants to the graph, and emitting a TF node's final
 * node (named like the TF node) and its intermediate steps (`<node>/<step>`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Shape } from '../../ir/graph.js';
import { GraphBuilder, samePads } from '../tfjs-common.js';
import { attrInts, attrStr } from './attrs.js';
import type { GraphModelJson, TfNode } from './model-json.js';
import { ConvertFallback, normRef, splitRef, stripRef, type Val } from './values.js';

const NOT_OUTPUTS = ['Const', 'NoOp', 'Placeholder', 'PlaceholderWithDefault', 'Assert'];

export class TfGraphImporter {
  readonly b: GraphBuilder;
  readonly nodes: TfNode[];
  readonly byName = new Map<string, TfNode>();
  /** TF tensor ref (`name` or `name:k`) → value */
  readonly vals = new Map<string, Val>();
  /** every constant value by name (weights, inline, folded); those not put in the graph are disposed */
  readonly consts = new Map<string, tf.Tensor>();
  readonly outputSet: Set<string>;
  readonly outputs: string[];
  /** input names in the signature's order */
  readonly inputOrder: string[];
  /** outputs come from the signature (not guessed from unconsumed nodes) */
  readonly fromSignature: boolean;
  /** folded int constants that carry the unknown batch as -1 (derived from Shape) */
  readonly batchTainted = new Set<string>();
  /** output count per node (from references) */
  readonly outCount = new Map<string, number>();

  constructor(
    readonly model: GraphModelJson,
    readonly weights: Map<string, tf.Tensor>,
    readonly source: string,
  ) {
    this.nodes = model.nodes;
    for (const n of this.nodes) {
      if (this.byName.has(n.name)) throw new GraphError(`${source}: two GraphDef nodes are named '${n.name}'`);
      this.byName.set(n.name, n);
    }
    this.b = new GraphBuilder('tfjs-graph', source, new Set(this.byName.keys()));
    for (const n of this.nodes)
      for (const r of n.input) {
        if (r.startsWith('^')) continue;
        const [src, k] = splitRef(r);
        this.outCount.set(src, Math.max(this.outCount.get(src) ?? 1, k + 1));
      }
    const sig = model.signature;
    this.inputOrder = (sig?.inputs ?? []).map((o) => stripRef(o.name));
    let outs = (sig?.outputs ?? [])
      .map((o) => o.name)
      .filter((o) => o && this.byName.has(splitRef(o)[0]))
      .map(normRef);
    this.fromSignature = outs.length > 0;
    if (outs.length === 0) {
      const consumed = new Set<string>();
      for (const n of this.nodes) for (const r of n.input) if (!r.startsWith('^')) consumed.add(splitRef(r)[0]);
      outs = this.nodes.filter((n) => !consumed.has(n.name) && !NOT_OUTPUTS.includes(n.op)).map((n) => n.name);
    }
    if (outs.length === 0) throw new GraphError(`${source}: the graph model has no outputs`);
    this.outputs = outs;
    this.outputSet = new Set(outs);
  }

  // ---------------------------------------------------------------- value access

  val(ref: string, user: TfNode): Val {
    const v = this.vals.get(normRef(ref));
    if (!v) throw new GraphError(`${this.source}: node '${user.name}' (${user.op}) reads '${ref}', which was not produced`);
    return v;
  }

  dataInputs(n: TfNode): string[] {
    return (n.input ?? []).filter((r) => !r.startsWith('^'));
  }

  constTensor(v: Val): tf.Tensor | undefined {
    return v.kind === 'const' ? this.consts.get(v.name) : undefined;
  }

  constInts(v: Val, _n: TfNode, what: string): number[] {
    const t = this.constTensor(v);
    if (!t) throw new ConvertFallback(`${what} is not a constant`);
    return Array.from(t.dataSync() as ArrayLike<number>).map(Number);
  }

  /** The graph-constant name for a constant value (added to the graph on first use). */
  constRef(v: Val): string {
    if (v.kind === 'act') return v.name;
    if (!this.b.isConst(v.name)) this.b.addConst(v.name, this.consts.get(v.name)!, true);
    return v.name;
  }

  /** Add a derived constant (e.g. a reshaped filter) to the graph. */
  derivedConst(base: string, t: tf.Tensor): string {
    const name = this.b.addConst(base, t);
    this.consts.set(name, t);
    return name;
  }

  setConst(name: string, t: tf.Tensor): void {
    const old = this.consts.get(name);
    if (old && old !== t) old.dispose();
    this.consts.set(name, t);
    this.vals.set(name, { kind: 'const', name });
  }

  shape(v: Val): Shape | undefined {
    return v.kind === 'const' ? this.consts.get(v.name)!.shape.slice() : this.b.shapeOf(v.name);
  }

  /**
   * Emit the nodes for one TF node. `steps` are emitted as `<name>/<step>`, the final one as `<name>`.
   */
  final(n: TfNode, op: string, inputs: string[], attrs: object, shape: Shape | undefined): string {
    const name = this.b.emit(n.name, op, inputs, attrs as Record<string, unknown>, shape, n.op, true);
    this.vals.set(n.name, { kind: 'act', name });
    return name;
  }

  step(n: TfNode, step: string, op: string, inputs: string[], attrs: object, shape: Shape | undefined): string {
    return this.b.emit(`${n.name}/${step}`, op, inputs, attrs as Record<string, unknown>, shape, n.op);
  }

  alias(n: TfNode, v: Val): void {
    this.vals.set(n.name, v);
  }

  requireNHWC(n: TfNode): void {
    const df = attrStr(n, 'data_format');
    if (df && df !== 'NHWC') throw new GraphError(`${this.source}: node '${n.name}' (${n.op}) uses data_format ${df}; naflow reads NHWC graphs only`);
  }

  pads(n: TfNode, xs: Shape | undefined, kernel: [number, number], strides: [number, number], dilations: [number, number]): [number, number, number, number] {
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
}
