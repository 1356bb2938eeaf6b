/**
 * A loaded model: the graph, the rules' prepared tensors, the model card. Owns every tensor it holds.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Graph, type AnyNode, type ValueInfo } from '../ir/graph.js';
import { getOpRule, type OpContext, type OpRule } from '../ops/registry.js';
import type { LoadedCard } from '../model/card.js';
import { markGates } from '../ops/gate-pass.js';
import { setNativeCacheOwner } from '../runtime/native.js';

export class Model {
  readonly graph: Graph;
  readonly card: LoadedCard;
  private readonly preparedByNode = new Map<string, Record<string, tf.Tensor>>();
  private disposed = false;
  private readonly disposers: Array<() => void> = [];

  constructor(graph: Graph, card: LoadedCard) {
    this.graph = graph;
    this.card = card;
    markGates(graph);
    // native sessions compiled for a constant (e.g. a conv weight) are freed through onDispose
    for (const t of graph.constants.values()) setNativeCacheOwner(t, this);
  }

  /** The rule for a node, or a GraphError naming the node and op. */
  ruleFor(node: AnyNode): OpRule {
    const rule = getOpRule(node.op);
    if (!rule) throw new GraphError(`${this.graph.source}: node '${node.name}' uses op '${node.sourceOp ?? node.op}', which naflow does not support`);
    return rule;
  }

  context(node: AnyNode): OpContext {
    let prepared = this.preparedByNode.get(node.name);
    if (prepared === undefined) {
      const rule = this.ruleFor(node);
      if (rule.prepare) {
        prepared = tf.tidy(() => rule.prepare!({ node, graph: this.graph }));
        for (const t of Object.values(prepared)) tf.keep(t);
        this.preparedByNode.set(node.name, prepared);
      }
    }
    return { node, graph: this.graph, prepared };
  }

  /** Run every rule's preparation now (normally done lazily on first use). */
  prepareAll(): void {
    for (const n of this.graph.nodes) this.context(n);
  }

  get inputs(): ValueInfo[] {
    return this.graph.inputs;
  }

  get outputs(): string[] {
    return this.graph.outputs;
  }

  /** Shape of any activation (after shape inference). */
  shapeOf(tensor: string): number[] {
    const v = this.graph.values.get(tensor);
    if (!v) throw new GraphError(`${this.graph.source}: no tensor named '${tensor}'`);
    return v.shape;
  }

  /** Run `fn` when the model is disposed (e.g. to free native sessions compiled for it), before its tensors go. */
  onDispose(fn: () => void): void {
    if (this.disposed) fn();
    else this.disposers.push(fn);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const fn of this.disposers.splice(0)) fn();
    for (const p of this.preparedByNode.values()) for (const t of Object.values(p)) t.dispose();
    this.preparedByNode.clear();
    for (const t of this.graph.constants.values()) t.dispose();
    this.graph.constants.clear();
  }
}
