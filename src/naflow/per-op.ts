/**
 * The cascade op by op (docs/spec.md §4): importance tensors G by exact back-propagation, back-propagated
 * feature maps B by each op's inverse rule (or a block's, variant unit=block), abandonment masks, the
 * fork merge, and one map per trunk tensor. The variant's choices (./variant.ts) change only how B is
 * propagated, masked, merged and drawn; with the spec's variant this is docs/spec.md §4–§5 as written.
 */
import * as tf from '@tensorflow/tfjs-core';
import { valuesOf } from '../util/tensor.js';
import { GraphError, consumerMap, type AnyNode } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import { backward, forward, nodesBetween, type ForwardRecord } from '../engine/execute.js';
import { defaultActivationInputs, type InverseSettings, type SolverStats } from '../ops/registry.js';
import type { CascadeVariant } from './variant.js';
import { findBlocks, solveBlock } from './blocks.js';
import { rank4, seedFor } from '../structure/index.js';
import type { CascadeOptions, LayerFlow, NaflowMode } from './cascade.js';

export interface PerOpRun {
  mode: NaflowMode;
  variant: CascadeVariant;
  settings: InverseSettings;
  scoreTensor: string;
  trunkEnd: string;
}

/** One consumer's BPFM estimate of a tensor, with its share of the importance (merge=importance). */
interface Estimate {
  b: tf.Tensor;
  weight?: tf.Tensor;
}

/** What the per-op cascade found: the decision (scores: every value of the score tensor, none when seeded at the trunk end) and the maps. */
interface PerOpResult {
  classIndex: number;
  score: number;
  scores?: Float32Array;
  layers: LayerFlow[];
}

export function runPerOp(model: Model, input: tf.Tensor, run: PerOpRun, options: CascadeOptions): PerOpResult {
  const c = new PerOpCascade(model, input, run, options);
  try {
    return c.run();
  } finally {
    c.dispose();
  }
}

class PerOpCascade {
  private readonly graph;
  private readonly inputNames: Set<string>;
  private readonly trunkNodes: AnyNode[];
  private readonly trunkTensors = new Set<string>();
  private readonly record: ForwardRecord;
  private readonly G = new Map<string, tf.Tensor>();
  /** the BPFM each finished tensor hands to the inverses below it */
  private readonly B = new Map<string, tf.Tensor>();
  /** abandon=free: the keep mask of each finished tensor, for the least-squares fits below it */
  private readonly fitMasks = new Map<string, tf.Tensor>();
  private readonly estimates = new Map<string, Estimate[]>();
  private readonly solverOf = new Map<string, SolverStats[]>();
  private readonly consumers;
  private readonly blocks: Map<string, AnyNode[]>;
  private readonly insideBlock = new Set<AnyNode>();

  constructor(
    private readonly model: Model,
    input: tf.Tensor,
    private readonly r: PerOpRun,
    private readonly options: CascadeOptions,
  ) {
    this.graph = model.graph;
    this.inputNames = new Set(this.graph.inputs.map((i) => i.name));
    this.trunkNodes = nodesBetween(this.graph, this.inputNames, [r.trunkEnd]);
    for (const n of this.trunkNodes) for (const o of n.outputs) if (o && rank4(this.graph, o)) this.trunkTensors.add(o);
    this.consumers = consumerMap(this.graph);
    this.blocks = r.mode === 'paper' && r.variant.unit === 'block' ? findBlocks(model, this.trunkNodes, r.trunkEnd) : new Map();
    for (const chain of this.blocks.values()) for (const n of chain.slice(0, -1)) this.insideBlock.add(n);
    this.record = forward(model, input, { record: true, outputs: [r.scoreTensor, ...this.graph.outputs] });
  }

  run(): PerOpResult {
    const { classIndex, score, scores } = this.importance();
    const layers: LayerFlow[] = [];
    const total = this.trunkTensors.size;
    const trunkIndex = new Map(this.trunkNodes.map((n, k) => [n, k]));
    for (let k = this.trunkNodes.length - 1; k >= 0; k--) {
      const node = this.trunkNodes[k];
      // Finalise this node's outputs (all their consumers inside the trunk have run already).
      for (const o of node.outputs) {
        if (!this.trunkTensors.has(o)) continue;
        layers.push(this.finish(node, o));
        this.options.onLayer?.(layers.length, total, o);
      }
      if (this.r.mode === 'reference' || this.insideBlock.has(node)) continue;
      this.invert(node);
      // Outputs' BPFMs are no longer needed once every producer downstream consumed them.
      for (const o of node.outputs) {
        const still = (this.consumers.get(o) ?? []).some((c) => (trunkIndex.get(c) ?? Infinity) < k && !this.insideBlock.has(c));
        if (!still) this.drop(o);
      }
    }
    return { classIndex, score, ...(scores ? { scores } : {}), layers: layers.reverse() };
  }

  /** G of every trunk tensor, from the seed (or the given trunk-end importance). */
  private importance(): { classIndex: number; score: number; scores?: Float32Array } {
    const { record, G, options, r } = this;
    const to = [...this.trunkTensors];
    if (options.seedAtTrunkEnd) {
      G.set(r.trunkEnd, options.seedAtTrunkEnd.clone());
      for (const [k, v] of backward(this.model, record, r.trunkEnd, to, options.seedAtTrunkEnd, { keepAll: true })) G.has(k) ? v.dispose() : G.set(k, v);
      return { classIndex: -1, score: NaN };
    }
    const { seed, classIndex, value, scores } = seedFor(record.get(r.scoreTensor), options);
    const grads = backward(this.model, record, r.scoreTensor, to, seed, { keepAll: true });
    seed.dispose();
    for (const [k, v] of grads) G.set(k, v);
    return { classIndex, score: value, scores };
  }

  /** The abandonment mask of G: |G| > ε·max|G| (ε = 0: G ≠ 0, as step(|G|): tfjs-wasm's NotEqual + Cast is slow). */
  private maskOf(g: tf.Tensor): tf.Tensor {
    const eps = this.r.variant.threshold;
    return tf.tidy(() => {
      const abs = tf.abs(g);
      return eps > 0 ? tf.cast(tf.greater(abs, tf.mul(tf.max(abs), eps)), 'float32') : tf.step(abs);
    });
  }

  /** Merge t's estimates, mask, keep what the inverses below need, and draw t's map. */
  private finish(node: AnyNode, t: string): LayerFlow {
    const { record, r } = this;
    const a = record.get(t);
    const g = this.G.get(t);
    const est = this.estimates.get(t) ?? [];
    const [, h, w, c] = a.shape as [number, number, number, number];
    const layer = {
      name: t,
      node: node.name,
      op: node.op,
      sourceOp: node.sourceOp,
      shape: [h, w, c] as [number, number, number],
      solver: this.solverOf.get(t),
    };
    const needB = r.mode === 'paper' || !!this.options.inspectTensors;
    try {
      if (!needB) {
        // reference mode: B = A ⊙ mask, and the mask does not change Σ_c ReLU(B ⊙ G)
        if (!g) return { ...layer, map: new Float32Array(h * w), kept: 0 };
        const kept = tf.tidy(() => tf.mean(this.maskOf(g)).dataSync()[0]);
        return { ...layer, map: mapOf(a, g, r.variant.map), kept };
      }
      const base = r.mode === 'reference' || t === r.trunkEnd || !est.length ? a : merged(est);
      if (!g) {
        // no path to the score: nothing is kept and the map is zero
        this.B.set(t, base === a || est.length === 1 ? base.clone() : base);
        return { ...layer, map: new Float32Array(h * w), kept: 0 };
      }
      const mask = this.maskOf(g);
      const kept = tf.tidy(() => tf.mean(mask).dataSync()[0]);
      const masked = tf.mul(base, mask);
      const map = mapOf(masked, g, r.variant.map);
      this.options.inspectTensors?.(t, { a, b: masked, g });
      // Below the trunk end, 'keep' and 'free' hand the abandoned neurons' forward values down.
      const imposeZeros = r.variant.abandon === 'zero' || t === r.trunkEnd;
      this.B.set(t, imposeZeros ? masked : tf.tidy(() => tf.add(masked, tf.mul(a, tf.sub(1, mask)))));
      if (!imposeZeros) masked.dispose();
      if (r.variant.abandon === 'free' && t !== r.trunkEnd) this.fitMasks.set(t, mask);
      else mask.dispose();
      if (base !== a && est.length > 1) base.dispose();
      return { ...layer, map, kept };
    } finally {
      for (const e of est) {
        e.b.dispose();
        e.weight?.dispose();
      }
      this.estimates.delete(t);
    }
  }

  /** The inverse step of `node` (or of the block it tops): BPFM estimates of its trunk inputs. */
  private invert(node: AnyNode): void {
    const { graph, record } = this;
    const chain = this.blocks.get(node.name);
    const bottom = chain ? chain[0] : node;
    const acts = defaultActivationInputs(bottom, graph).filter((i) => this.trunkTensors.has(bottom.inputs[i]) && !this.inputNames.has(bottom.inputs[i]));
    if (!acts.length) return;
    const settings = this.r.settings;
    if (chain) {
      const bTop = this.B.get(node.outputs[0]);
      if (!bTop) return;
      const sol = solveBlock(this.model, record, chain, bTop, settings, this.fitMasks.get(node.outputs[0]));
      for (const { name, b } of sol.inner) this.addEstimate(name, { b });
      this.addEstimate(bottom.inputs[0], { b: sol.input, weight: this.weightOf(bottom, 0) }, sol.solver);
      return;
    }
    const rule = this.model.ruleFor(node);
    if (!rule.inverse)
      throw new GraphError(
        `${graph.source}: node '${node.name}' (op ${node.sourceOp ?? node.op}) is in the convolutional trunk, and naflow has no inverse rule for it`,
      );
    const ctx = this.model.context(node);
    const inputs = node.inputs.map((n) => record.values.get(n) ?? graph.constants.get(n)!);
    const outputs = node.outputs.map((n) => record.get(n));
    const bOut = node.outputs.map((o) => this.B.get(o) ?? null);
    const fitMask = this.r.variant.abandon === 'free' ? node.outputs.map((o) => this.fitMasks.get(o) ?? null) : undefined;
    const res = rule.inverse({ inputs, outputs, bOut, settings, fitMask }, ctx);
    res.b.forEach((bt, i) => {
      if (!bt) return;
      if (!acts.includes(i)) return void bt.dispose();
      this.addEstimate(node.inputs[i], { b: bt, weight: this.weightOf(node, i) }, res.solver);
    });
  }

  private addEstimate(name: string, e: Estimate, solver?: SolverStats): void {
    const list = this.estimates.get(name) ?? [];
    list.push(e);
    this.estimates.set(name, list);
    if (solver) this.solverOf.set(name, [...(this.solverOf.get(name) ?? []), solver]);
  }

  /** merge=importance at a fork: this consumer's contribution |Jᵀ G_out| to the input's importance. */
  private weightOf(node: AnyNode, i: number): tf.Tensor | undefined {
    const name = node.inputs[i];
    if (this.r.variant.merge !== 'importance') return undefined;
    if ((this.consumers.get(name) ?? []).filter((c) => this.trunkNodes.includes(c)).length < 2) return undefined;
    const rule = this.model.ruleFor(node);
    const inputs = node.inputs.map((n) => this.record.values.get(n) ?? this.graph.constants.get(n)!);
    const outputs = node.outputs.map((n) => this.record.get(n));
    const dys = node.outputs.map((o) => this.G.get(o) ?? null);
    const dxs = rule.vjp!({ inputs, outputs, dys }, this.model.context(node));
    const dx = dxs[i];
    dxs.forEach((t, k) => k !== i && t?.dispose());
    return dx ? tf.tidy(() => tf.abs(dx!)) : undefined;
  }

  private drop(o: string): void {
    this.B.get(o)?.dispose();
    this.B.delete(o);
    this.fitMasks.get(o)?.dispose();
    this.fitMasks.delete(o);
  }

  dispose(): void {
    for (const t of [...this.B.values(), ...this.fitMasks.values(), ...this.G.values()]) t.dispose();
    for (const list of this.estimates.values()) for (const e of list) e.b.dispose(), e.weight?.dispose();
    this.record.dispose();
  }
}

/**
 * The fork merge: the mean of the estimates, or (merge=importance) their mean weighted per neuron by
 * each consumer's |share| of G, falling back to the plain mean where every share is zero.
 */
function merged(est: Estimate[]): tf.Tensor {
  if (est.length === 1) return est[0].b;
  return tf.tidy(() => {
    const mean = tf.div(tf.addN(est.map((e) => e.b)), est.length);
    if (est.some((e) => !e.weight)) return mean;
    const wSum = tf.addN(est.map((e) => e.weight!));
    const weighted = tf.div(tf.addN(est.map((e) => tf.mul(e.b, e.weight!))), tf.maximum(wSum, 1e-30));
    return tf.where(tf.greater(wSum, 0), weighted, mean);
  });
}

/** A tensor's map from its (masked) BPFM b and importance g, by the variant's formula. */
function mapOf(b: tf.Tensor, g: tf.Tensor, formula: CascadeVariant['map']): Float32Array {
  return valuesOf(() => {
    const terms = formula === 'relu-bg' ? tf.relu(tf.mul(b, g)) : formula === 'b-relu-g' ? tf.mul(b, tf.relu(g)) : tf.mul(b, g);
    return tf.sum(terms, -1);
  });
}
