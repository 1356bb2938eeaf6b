/**
 * Whole graphs on onnxruntime: naflow's IR emitted as ONNX through the op rules' ONNX forms
 * (OpRule.onnx), with rank-4 values stored NCHW inside. `graphEmitter` + `emitForward` are the shared
 * front half (naflow/native-reference.ts adds the backward pass and the maps); `NativeForward` is a
 * plain batched forward pass to chosen tensors, used for the metrics' many perturbed forwards.
 *
 * Anything an emitter does not cover raises `Unemittable`; callers then use the op-by-op engine.
 */
import type { Graph } from '../ir/graph.js';
import type { Model } from './model.js';
import { nodesBetween } from './execute.js';
import { NativeGraphSession, nativeAvailable } from '../runtime/native.js';
import { OnnxGraphBuilder } from '../runtime/onnx-build.js';
import { getOpRule, Unemittable, type OnnxEmitter } from '../ops/registry.js';
import { TO_IR, TO_STORED } from '../ops/onnx-emit.js';

export interface GraphEmitter {
  b: OnnxGraphBuilder;
  e: OnnxEmitter;
  /** IR tensor name → ONNX value holding it (stored layout) */
  stored: Map<string, string>;
  /** IR shape with the batch dimension resolved */
  shapeOf(tensor: string): number[];
}

export function graphEmitter(graph: Graph, batch: number): GraphEmitter {
  const b = new OnnxGraphBuilder();
  const shared = new Map<string, unknown>();
  const shapeOf = (v: string) => {
    const s = graph.values.get(v)?.shape ?? graph.constants.get(v)?.shape;
    if (!s) throw new Unemittable(`no shape for '${v}'`);
    return s.map((d) => (d < 0 ? batch : d));
  };
  const e: OnnxEmitter = {
    op: (op, inputs, attrs) => b.op(op, inputs, attrs),
    node: (op, inputs, attrs, outputs) => b.node(op, inputs, attrs, outputs),
    float: (data, dims) => b.float(data, dims),
    int64: (data, dims) => b.int64(data, dims),
    shared: <T>(key: string, make: () => T): T => {
      if (!shared.has(key)) shared.set(key, make());
      return shared.get(key) as T;
    },
    constant: (name) => graph.constants.get(name),
    toIR: (v, rank) => (rank === 4 ? b.op('Transpose', [v], { perm: { ints: TO_IR } }) : v),
    fromIR: (v, rank) => (rank === 4 ? b.op('Transpose', [v], { perm: { ints: TO_STORED } }) : v),
  };
  return { b, e, stored: new Map(), shapeOf };
}

/**
 * Emit the forward pass from the graph's single NHWC image input (ONNX input 'x') to `targets`;
 * returns the nodes emitted, in order.
 */
export function emitForward(g: GraphEmitter, graph: Graph, targets: string[], inputShape: number[]) {
  if (graph.inputs.length !== 1) throw new Unemittable('more than one graph input');
  if (inputShape.length !== 4) throw new Unemittable('the input is not an image tensor (rank 4)');
  const inputName = graph.inputs[0].name;
  g.stored.set(inputName, g.e.fromIR(g.b.input('x', inputShape), 4));
  const plan = nodesBetween(graph, new Set([inputName]), targets);
  for (const node of plan) {
    const rule = getOpRule(node.op);
    if (!rule?.onnx) throw new Unemittable(`op ${node.op} ('${node.name}') has no ONNX form`);
    const ins = node.inputs.map((n) => g.stored.get(n));
    const outs = rule.onnx.forward(g.e, node, { ins, inShapes: node.inputs.map((n) => (n ? g.shapeOf(n) : [])), outShapes: node.outputs.map(g.shapeOf) });
    node.outputs.forEach((o, k) => o && outs[k] && g.stored.set(o, outs[k]));
  }
  return plan;
}

/** A forward pass to some tensors as one onnxruntime session, for a fixed input shape. */
export class NativeForward {
  private constructor(
    private readonly session: NativeGraphSession,
    private readonly outputs: string[],
    private readonly inputShape: number[],
  ) {}

  /** Compile; throws Unemittable for an op without an ONNX form or a configuration not covered. */
  static compile(graph: Graph, targets: string[], inputShape: number[]): NativeForward {
    const g = graphEmitter(graph, inputShape[0]);
    emitForward(g, graph, targets, inputShape);
    // outputs in the IR's layout and shape, so callers read them like tfjs tensors
    const outs = targets.map((t) => g.e.toIR(g.stored.get(t)!, g.shapeOf(t).length));
    for (const o of outs) g.b.output(o);
    return new NativeForward(new NativeGraphSession(g.b.encode('naflow_forward')), outs, inputShape);
  }

  /** Run on NHWC float32 data of the compiled shape; one Float32Array per target, row-major IR order. */
  run(x: Float32Array): Float32Array[] {
    const out = this.session.runMany({ x: { data: x, dims: this.inputShape } }, this.outputs);
    return this.outputs.map((o) => out[o].data as Float32Array);
  }

  dispose(): void {
    this.session.dispose();
  }
}

/**
 * A compiled session from a per-model cache (built on first use, freed with the model), or why there is
 * none: native kernels unavailable (checked on every call, never cached: `withoutNative` is temporary)
 * or the reason `build` gave by throwing Unemittable (cached: the graph does not change).
 */
export function compiledFor<T extends { dispose(): void }>(
  cache: WeakMap<Model, Map<string, T | string>>,
  model: Model,
  key: string,
  build: () => T,
): T | string {
  if (!nativeAvailable()) return 'native kernels unavailable';
  let perModel = cache.get(model);
  if (!perModel) {
    cache.set(model, (perModel = new Map()));
    const map = perModel;
    model.onDispose(() => {
      for (const c of map.values()) if (typeof c !== 'string') c.dispose();
      map.clear();
    });
  }
  let c = perModel.get(key);
  if (c === undefined) {
    try {
      c = build();
    } catch (e) {
      if (!(e instanceof Unemittable)) throw e;
      c = e.message;
    }
    perModel.set(key, c);
  }
  return c;
}

const forwards = new WeakMap<Model, Map<string, NativeForward | string>>();

/** The native forward pass of a model to `targets` for inputs of `inputShape` (compiled on first use). */
export function nativeForwardFor(model: Model, targets: string[], inputShape: number[]): NativeForward | string {
  return compiledFor(forwards, model, `${targets.join('|')}@${inputShape.join('x')}`, () => NativeForward.compile(model.graph, targets, inputShape));
}
