/**
 * Block units of inversion (variant unit=block; docs/spec.md §5, last paragraph): a convolution together with
 * the pointwise ops stacked on it (batch norm, activation) is inverted as one unit — one damped
 * least-squares solve through the block linearised at the recorded point (frozen activation slopes),
 *
 *     d = argmin ‖J_block d − r‖² + λ²‖d‖²,   λ = ρ·σ_max(J_block),   r = B_top − A_top,
 *
 * instead of exact pointwise inverses followed by a solve for the convolution alone. The tensors inside
 * the block get the BPFMs the solution really produces, A + J_partial d, rather than targets the
 * convolution cannot reach.
 */
import * as tf from '@tensorflow/tfjs-core';
import { consumerMap, type AnyNode, type Graph } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import type { ForwardRecord } from '../engine/execute.js';
import { defaultActivationInputs, type InverseSettings, type SolverStats } from '../ops/registry.js';
import { lsmr, lsmrArrays, sigmaMax, sigmaMaxArrays, tensorSpace, type LinearOperator } from '../solve/lsmr.js';
import { maskedOperator, scaledArrays } from '../ops/least-squares.js';

/** Blocks keyed by their top node's name: the nodes bottom → top (a 'start' op, then pointwise ops). */
export function findBlocks(model: Model, trunkNodes: AnyNode[], trunkEnd: string): Map<string, AnyNode[]> {
  const graph = model.graph;
  const inTrunk = new Set(trunkNodes);
  const consumers = consumerMap(graph);
  const blocks = new Map<string, AnyNode[]>();
  for (const node of trunkNodes) {
    if (model.ruleFor(node).blockRole !== 'start') continue;
    const chain = [node];
    for (;;) {
      const top = chain[chain.length - 1];
      const out = top.outputs[0];
      if (out === trunkEnd || graph.outputs.includes(out)) break;
      const next = (consumers.get(out) ?? []).filter((c) => inTrunk.has(c));
      if (next.length !== 1 || (consumers.get(out) ?? []).length !== 1) break;
      const c = next[0];
      if (model.ruleFor(c).blockRole !== 'pointwise' || c.inputs[0] !== out || !onlyFirstInputActive(c, graph)) break;
      chain.push(c);
    }
    if (chain.length > 1) blocks.set(chain[chain.length - 1].name, chain);
  }
  return blocks;
}

function onlyFirstInputActive(node: AnyNode, graph: Graph): boolean {
  const acts = defaultActivationInputs(node, graph);
  return acts.length === 1 && acts[0] === 0;
}

export interface BlockSolution {
  /** BPFM estimate of the block's input */
  input: tf.Tensor;
  /** BPFM of each tensor inside the block (bottom → top, the top's excluded): A + J_partial d */
  inner: Array<{ name: string; b: tf.Tensor }>;
  solver: SolverStats;
}

/**
 * Solve the block whose nodes are `chain` (bottom → top) for the BPFM `bTop` of its top output.
 * `fit` (abandon=free) restricts the fit to the kept outputs.
 */
export function solveBlock(model: Model, record: ForwardRecord, chain: AnyNode[], bTop: tf.Tensor, settings: InverseSettings, fit?: tf.Tensor): BlockSolution {
  const graph = model.graph;
  const tensorOf = (n: string) => record.values.get(n) ?? graph.constants.get(n)!;
  const steps = chain.map((node) => {
    const rule = model.ruleFor(node);
    if (!rule.jvp || !rule.vjp) throw new Error(`op ${node.op} ('${node.name}') has no JVP/VJP for a block inverse`);
    const ctx = model.context(node);
    const inputs = node.inputs.map(tensorOf);
    const outputs = node.outputs.map((o) => record.get(o));
    return {
      node,
      jvp: (t: tf.Tensor) => rule.jvp!({ inputs, outputs, tangents: inputs.map((_, i) => (i === 0 ? t : null)) }, ctx)[0],
      vjp: (u: tf.Tensor) => rule.vjp!({ inputs, outputs, dys: outputs.map((_, i) => (i === 0 ? u : null)) }, ctx)[0]!,
    };
  });
  const plain: LinearOperator = {
    apply: (v) => tf.tidy(() => steps.reduce((t, s) => s.jvp(t), v)),
    applyT: (u) => tf.tidy(() => steps.reduceRight((t, s) => s.vjp(t), u)),
  };
  const aIn = tensorOf(chain[0].inputs[0]);
  const aTop = record.get(chain[chain.length - 1].outputs[0]);
  const r = tf.tidy(() => (fit ? tf.mul(tf.sub(bTop, aTop), fit) : tf.sub(bTop, aTop)));
  const rNorm = tensorSpace.norm(r);
  if (rNorm === 0) {
    r.dispose();
    return { input: aIn.clone(), inner: [], solver: { method: 'lsmr', iterations: 0, relResidual: 0, damping: 0, sigmaMax: 0, stop: 'B_out = A_out' } };
  }
  const lsmrOptions = (damp: number) => ({ damp, atol: settings.atol, btol: settings.btol, maxIter: settings.maxIter });
  // The pointwise ops above the start op have diagonal Jacobians at the recorded point, so the block's is
  // diag(s)·J_start: where the start op has a fast array form, the solve runs on arrays with that scaling.
  const startOps = model
    .ruleFor(chain[0])
    .arrayOperator?.({ inputs: chain[0].inputs.map(tensorOf), outputs: chain[0].outputs.map((o) => record.get(o)) }, model.context(chain[0]), 0);
  let sigma: number;
  let res: { x: tf.Tensor; iterations: number; normR: number; stop: string };
  if (startOps) {
    const startOut = record.get(chain[0].outputs[0]);
    const diag = tf.tidy(() => steps.slice(1).reduce((t, s) => s.jvp(t), tf.onesLike(startOut)));
    const scale = diag.dataSync() as Float32Array;
    diag.dispose();
    const scaled = scaledArrays(startOps, scale);
    // σ_max depends on the recorded activation slopes: estimated per solve, not cached per node
    sigma = sigmaMaxArrays(scaled, aIn.shape, settings.powerIterations);
    const fitValues = fit?.dataSync() as Float32Array | undefined;
    const fitted = fitValues
      ? scaledArrays(
          startOps,
          scale.map((v, i) => v * fitValues[i]),
        )
      : scaled;
    const ra = lsmrArrays(fitted, r.dataSync() as Float32Array, lsmrOptions(settings.rho * sigma));
    res = { ...ra, x: tf.tensor(ra.x, aIn.shape) };
  } else {
    sigma = sigmaMax(plain, aIn, settings.powerIterations);
    res = lsmr(fit ? maskedOperator(plain, fit) : plain, r, lsmrOptions(settings.rho * sigma));
  }
  const damping = settings.rho * sigma;
  r.dispose();
  const inner: BlockSolution['inner'] = [];
  let t: tf.Tensor = res.x;
  for (const s of steps.slice(0, -1)) {
    const next = tf.tidy(() => s.jvp(t));
    if (t !== res.x) t.dispose();
    t = next;
    const name = s.node.outputs[0];
    inner.push({ name, b: tf.add(record.get(name), t) });
  }
  if (t !== res.x) t.dispose();
  const input = tf.add(aIn, res.x);
  res.x.dispose();
  return { input, inner, solver: { method: 'lsmr', iterations: res.iterations, relResidual: res.normR / rNorm, damping, sigmaMax: sigma, stop: res.stop } };
}
