/**
 * Forward execution (optionally recording every activation, optionally starting from any tensor) and
 * reverse-mode differentiation through the per-op rules' VJPs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, producerMap, type AnyNode, type Graph } from '../ir/graph.js';
import { defaultActivationInputs, type OpRule } from '../ops/registry.js';
import type { Model } from './model.js';

export type Feeds = tf.Tensor | Record<string, tf.Tensor> | Map<string, tf.Tensor>;

export interface ForwardOptions {
  /**
   * Keep activations: `true` keeps every activation, a predicate keeps those it accepts.
   * Default: keep only the requested outputs (intermediates are freed as soon as their last consumer ran).
   */
  record?: boolean | ((tensor: string) => boolean);
  /** tensors to compute (default: the graph outputs) */
  outputs?: string[];
}

/**
 * The result of a forward pass. Owns the tensors it holds (feeds are NOT owned: they stay the caller's).
 */
export class ForwardRecord {
  constructor(
    readonly values: Map<string, tf.Tensor>,
    readonly outputNames: string[],
    private readonly borrowed: Set<tf.Tensor>,
  ) {}

  get(name: string): tf.Tensor {
    const t = this.values.get(name);
    if (!t) throw new GraphError(`tensor '${name}' was not recorded in this forward pass`);
    return t;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  get outputs(): tf.Tensor[] {
    return this.outputNames.map((n) => this.get(n));
  }

  dispose(): void {
    for (const t of this.values.values()) if (!this.borrowed.has(t)) t.dispose();
    this.values.clear();
  }
}

function normaliseFeeds(graph: Graph, feeds: Feeds): Map<string, tf.Tensor> {
  if (feeds instanceof tf.Tensor) {
    if (graph.inputs.length !== 1) throw new GraphError(`${graph.source}: the model has ${graph.inputs.length} inputs; pass them by name`);
    return new Map([[graph.inputs[0].name, feeds]]);
  }
  return feeds instanceof Map ? new Map(feeds) : new Map(Object.entries(feeds));
}

/** The nodes needed to compute `targets` from `available` tensors, in topological order. */
export function nodesBetween(graph: Graph, available: Set<string>, targets: string[]): AnyNode[] {
  const producer = producerMap(graph);
  const needed = new Set<AnyNode>();
  const stack = [...targets];
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t) || available.has(t) || graph.constants.has(t) || t === '') continue;
    seen.add(t);
    const p = producer.get(t);
    if (!p) {
      const isInput = graph.inputs.some((i) => i.name === t);
      throw new GraphError(isInput ? `${graph.source}: graph input '${t}' was not given` : `${graph.source}: no node produces tensor '${t}'`);
    }
    if (!needed.has(p)) {
      needed.add(p);
      stack.push(...p.inputs);
    }
  }
  return graph.nodes.filter((n) => needed.has(n));
}

/** Check a fed tensor against the declared input shape (a -1 dimension matches anything). */
function checkFeed(graph: Graph, name: string, t: tf.Tensor): void {
  const info = graph.inputs.find((i) => i.name === name) ?? graph.values.get(name);
  if (!info) throw new GraphError(`${graph.source}: the model has no tensor named '${name}' to feed`);
  const ok = info.shape.length === t.shape.length && info.shape.every((d, i) => d < 0 || d === t.shape[i]);
  if (!ok) throw new GraphError(`${graph.source}: tensor '${name}' expects shape [${info.shape.join(', ')}] (NHWC), got [${t.shape.join(', ')}]`);
}

/**
 * Run the graph. `feeds` may name the graph inputs or ANY activation: the pass then starts there and
 * runs only the nodes downstream of it that the requested outputs need.
 */
export function forward(model: Model, feeds: Feeds, options: ForwardOptions = {}): ForwardRecord {
  const graph = model.graph;
  const given = normaliseFeeds(graph, feeds);
  for (const [name, t] of given) checkFeed(graph, name, t);
  const targets = options.outputs ?? graph.outputs;
  const plan = nodesBetween(graph, new Set(given.keys()), targets);
  const keep = options.record === true ? () => true : typeof options.record === 'function' ? options.record : () => false;
  const targetSet = new Set(targets);

  // Remaining-use counts, so unrecorded intermediates are freed as soon as possible (bounded memory).
  const uses = new Map<string, number>();
  for (const n of plan) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);

  const values = new Map<string, tf.Tensor>(given);
  const borrowed = new Set(given.values());
  try {
    for (const node of plan) {
      const rule = model.ruleFor(node);
      const ctx = model.context(node);
      const inputs = node.inputs.map((name) => resolve(graph, values, name, node));
      let outs: tf.Tensor[];
      try {
        outs = tf.tidy(() => rule.forward(inputs, ctx));
      } catch (e) {
        throw wrapOpError(graph, node, e, inputs);
      }
      node.outputs.forEach((o, k) => {
        if (o !== '' && outs[k]) values.set(o, outs[k]);
        else outs[k]?.dispose();
      });
      for (const i of node.inputs) {
        const left = (uses.get(i) ?? 1) - 1;
        uses.set(i, left);
        if (left === 0 && !targetSet.has(i) && !keep(i) && !borrowed.has(values.get(i)!)) {
          values.get(i)?.dispose();
          values.delete(i);
        }
      }
    }
  } catch (e) {
    for (const t of values.values()) if (!borrowed.has(t)) t.dispose();
    throw e;
  }
  return new ForwardRecord(values, targets, borrowed);
}

function resolve(graph: Graph, values: Map<string, tf.Tensor>, name: string, node: AnyNode): tf.Tensor {
  const t = values.get(name) ?? graph.constants.get(name);
  if (!t) throw new GraphError(`${graph.source}: node '${node.name}' (${node.op}) input '${name}' is not available`);
  return t;
}

function wrapOpError(graph: Graph, node: AnyNode, e: unknown, inputs: tf.Tensor[]): Error {
  if (e instanceof GraphError) return e;
  const shapes = inputs.map((t) => `[${t.shape.join(',')}]`).join(', ');
  return new GraphError(`${graph.source}: node '${node.name}' (op ${node.sourceOp ?? node.op}) failed on inputs ${shapes}: ${(e as Error).message}`);
}

export interface BackwardOptions {
  /** also return the gradient of every activation on the way (default: only `to`) */
  keepAll?: boolean;
  /**
   * Replace the VJP of chosen nodes (return undefined to keep the op's own), e.g. guided
   * backpropagation's ReLU rule. Modified backward passes, not gradients: for baselines.
   */
  vjpOverride?: (node: AnyNode) => OpRule['vjp'] | undefined;
}

/**
 * Gradient of `from` (seeded by `seed`, or 1 when `from` has one element) with respect to each tensor
 * in `to`, using the forward point held by `record` (which must hold every activation between them:
 * record the forward with `record: true`). Returns tensors owned by the caller. A `to` tensor that
 * `from` does not depend on gets a zero gradient.
 */
export function backward(
  model: Model,
  record: ForwardRecord,
  from: string,
  to: string | string[],
  seed?: tf.Tensor,
  options: BackwardOptions = {},
): Map<string, tf.Tensor> {
  const graph = model.graph;
  const toList = Array.isArray(to) ? to : [to];
  const fromValue = record.get(from);
  if (!seed && fromValue.size !== 1)
    throw new GraphError(`backward: '${from}' has shape [${fromValue.shape.join(', ')}]; give a seed of that shape (e.g. a one-hot of the class)`);
  if (seed && seed.shape.join(',') !== fromValue.shape.join(','))
    throw new GraphError(`backward: seed shape [${seed.shape.join(', ')}] differs from '${from}' shape [${fromValue.shape.join(', ')}]`);

  // Nodes between: ancestors of `from` that depend on some `to`.
  const ancestors = nodesBetween(graph, new Set(graph.inputs.map((i) => i.name)), [from]);
  const dependsOnTo = new Set(toList);
  const onPath: AnyNode[] = [];
  for (const n of ancestors)
    if (n.inputs.some((i) => dependsOnTo.has(i))) {
      onPath.push(n);
      for (const o of n.outputs) dependsOnTo.add(o);
    }

  const grads = new Map<string, tf.Tensor>();
  grads.set(from, seed ? seed.clone() : tf.onesLike(fromValue));
  const wanted = new Set(toList);

  for (let k = onPath.length - 1; k >= 0; k--) {
    const node = onPath[k];
    const dys = node.outputs.map((o) => grads.get(o) ?? null);
    if (dys.every((d) => d === null)) continue;
    const rule = model.ruleFor(node);
    const vjp = options.vjpOverride?.(node) ?? rule.vjp;
    if (!vjp) throw new GraphError(`${graph.source}: node '${node.name}' (op ${node.op}) has no gradient rule in naflow`);
    const ctx = model.context(node);
    const inputs = node.inputs.map((name) => resolve(graph, record.values, name, node));
    const outputs = node.outputs.map((name) => record.get(name));
    let dxs: Array<tf.Tensor | null>;
    try {
      dxs = tf.tidy(() => vjp({ inputs, outputs, dys }, ctx).map((t) => t ?? (null as unknown as tf.Tensor))) as Array<tf.Tensor | null>;
    } catch (e) {
      throw wrapOpError(graph, node, e, inputs);
    }
    const active = new Set((rule.activationInputs ?? defaultActivationInputs)(node, graph));
    node.inputs.forEach((name, i) => {
      const dx = dxs[i];
      if (!dx) return;
      if (!active.has(i) || !dependsOnTo.has(name)) {
        dx.dispose();
        return;
      }
      const prev = grads.get(name);
      if (prev) {
        grads.set(name, tf.add(prev, dx));
        prev.dispose();
        dx.dispose();
      } else grads.set(name, dx);
    });
    // This node's output grads are consumed; free those nobody asked for.
    for (const o of node.outputs) {
      if (!options.keepAll && !wanted.has(o)) {
        grads.get(o)?.dispose();
        grads.delete(o);
      }
    }
  }
  const result = new Map<string, tf.Tensor>();
  for (const t of toList) {
    const g = grads.get(t);
    if (g) {
      result.set(t, g);
      grads.delete(t);
    } else {
      const v = record.values.get(t);
      if (!v) throw new GraphError(`backward: tensor '${t}' was not recorded in the forward pass`);
      result.set(t, tf.zerosLike(v));
    }
  }
  if (options.keepAll) for (const [name, g] of grads) result.set(name, g);
  else for (const g of grads.values()) g.dispose();
  return result;
}
