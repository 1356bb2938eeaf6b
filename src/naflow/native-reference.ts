/**
 * Reference mode (docs/spec.md §7) as one onnxruntime graph: the forward pass to the score, the seed (one-hot
 * of the explained class), the backward pass through every op's VJP, and each trunk tensor's map
 * F = Σ_c ReLU(A ⊙ G) and kept fraction mean([G ≠ 0]) — compiled once per model from the ops' ONNX
 * emitters (OpRule.onnx) and run in a single session. Nothing but the maps leaves the session.
 *
 * Why: run op by op, ResNet-50's reference mode was 53 one-convolution sessions with NHWC ↔ NCHW
 * transposes around each, plus ~170 elementwise tfjs kernels for batch norms, ReLUs, joins, maps and
 * masks: 2.3× PyTorch's forward + backward. As one graph onnxruntime keeps everything NCHW, plans its
 * memory once and runs the elementwise work in its own kernels.
 *
 * Results equal the per-op path's to float32 rounding (test/native-reference.test.ts: a synthetic graph
 * with every ONNX form, the seven ONNX fixtures, Tiny Darknet, CIFAR ResNet-20). A model with an op that
 * has no ONNX form (or a configuration its emitter does not cover) simply runs on the per-op path; so
 * does anything needing the tensors themselves (inspectTensors, custom targets, similarity seeds).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { GraphError, type AnyNode, type Graph } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import { NativeGraphSession } from '../runtime/native.js';
import { compiledFor, emitForward, graphEmitter } from '../engine/native-graph.js';
import { defaultActivationInputs, getOpRule, Unemittable } from '../ops/registry.js';

export interface NativeReferenceLayer {
  name: string;
  node: AnyNode;
  /** H×W map, or undefined where no gradient reaches the tensor (the map is zero then) */
  map?: Float32Array;
  kept: number;
}

export interface NativeReferenceResult {
  classIndex: number;
  score: number;
  /** every value of the score tensor (one batch row): a classifier's logits */
  scores: Float32Array;
  /** in the order of `trunkTensors` given to the compiler */
  layers: NativeReferenceLayer[];
}

interface LayerOutputs {
  name: string;
  node: AnyNode;
  map?: string;
  /** the output holding the share of zero importances, 1 − kept */
  zeros?: string;
}

/** A compiled reference-mode graph for one model, score tensor, trunk and input shape. */
export class NativeReference {
  private constructor(
    private readonly session: NativeGraphSession,
    private readonly layers: LayerOutputs[],
    readonly classes: number,
    private readonly inputShape: number[],
    private readonly source: string,
    private readonly outputs: { classIndex: string; score: string; scores: string },
  ) {}

  /**
   * Build the graph and its session; throws Unemittable for an op without an ONNX form or a
   * configuration an emitter does not cover.
   */
  static compile(graph: Graph, scoreTensor: string, trunkTensors: string[], inputShape: number[]): NativeReference {
    const c = compileGraph(graph, scoreTensor, trunkTensors, inputShape);
    return new NativeReference(new NativeGraphSession(c.bytes), c.layers, c.classes, inputShape, graph.source, c.outputs);
  }

  /**
   * Explain one input (NHWC, the compiled shape); classIndex undefined: the arg-max, else one of the
   * `classes` scores (the caller checks the range: `checkClassIndex`).
   */
  run(input: tf.Tensor, classIndex?: number): NativeReferenceResult {
    if (input.shape.join() !== this.inputShape.join())
      throw new GraphError(`${this.source}: input shape [${input.shape.join(', ')}] differs from the compiled [${this.inputShape.join(', ')}]`);
    const fetches = [this.outputs.score, this.outputs.scores, this.outputs.classIndex, ...this.layers.flatMap((l) => (l.map ? [l.map, l.zeros!] : []))];
    const out = this.session.runMany(
      {
        x: { data: input.dataSync() as Float32Array, dims: this.inputShape },
        class_in: { data: BigInt64Array.of(BigInt(classIndex ?? -1)), dims: [1] },
      },
      fetches,
    );
    return {
      classIndex: Number((out[this.outputs.classIndex].data as BigInt64Array)[0]),
      score: (out[this.outputs.score].data as Float32Array)[0],
      scores: (out[this.outputs.scores].data as Float32Array).slice(),
      layers: this.layers.map((l) => ({
        name: l.name,
        node: l.node,
        map: l.map ? (out[l.map].data as Float32Array).slice() : undefined,
        kept: l.zeros ? 1 - (out[l.zeros].data as Float32Array)[0] : 0,
      })),
    };
  }

  dispose(): void {
    this.session.dispose();
  }
}

function compileGraph(graph: Graph, scoreTensor: string, trunkTensors: string[], inputShape: number[]) {
  const batch = inputShape[0];
  if (batch !== 1) throw new Unemittable('batch > 1');
  const g = graphEmitter(graph, batch);
  const { b, e, stored, shapeOf } = g;
  const plan = emitForward(g, graph, [scoreTensor], inputShape);

  // Seed: the one-hot of the class (given, or the arg-max of the score), in the score's storage.
  const scoreShape = shapeOf(scoreTensor);
  const classes = scoreShape.reduce((p, d) => p * d, 1) / batch;
  const flatScore = b.op('Reshape', [e.toIR(stored.get(scoreTensor)!, scoreShape.length), b.int64([-1])]);
  const argmax = b.op('ArgMax', [flatScore], { axis: { i: 0 }, keepdims: { i: 1 } });
  const classIn = b.input('class_in', [1], 'int64');
  const cls = b.op('Where', [b.op('Less', [classIn, b.int64([0], [])]), argmax, classIn], {}, 'class_index');
  const scoreValue = b.op('Gather', [flatScore, cls], { axis: { i: 0 } }, 'score_value');
  b.output(cls, 'int64');
  b.output(scoreValue);
  b.output(flatScore);
  const oneHot = classes === 1 ? b.float([1], [1]) : b.op('OneHot', [cls, b.int64([classes], []), b.float([0, 1], [2])], { axis: { i: -1 } });
  const seed = e.fromIR(b.op('Reshape', [oneHot, b.int64(scoreShape)]), scoreShape.length);

  // Backward: contributions per tensor, summed when first read.
  const contributions = new Map<string, string[]>([[scoreTensor, [seed]]]);
  const summed = new Map<string, string>();
  const gradOf = (v: string): string | undefined => {
    if (summed.has(v)) return summed.get(v);
    const parts = contributions.get(v);
    if (!parts?.length) return undefined;
    const g = parts.length === 1 ? parts[0] : b.op('Sum', parts);
    summed.set(v, g);
    return g;
  };
  const needsGrad = new Set<string>(trunkTensors);
  for (const node of plan) if (node.inputs.some((i) => needsGrad.has(i))) for (const o of node.outputs) needsGrad.add(o);
  for (let k = plan.length - 1; k >= 0; k--) {
    const node = plan[k];
    if (!node.outputs.some((o) => needsGrad.has(o))) continue;
    const dys = node.outputs.map((o) => gradOf(o));
    if (dys.every((d) => d === undefined)) continue;
    const rule = getOpRule(node.op)!;
    const ins = node.inputs.map((n) => stored.get(n));
    const dxs = rule.onnx!.vjp(e, node, {
      ins,
      outs: node.outputs.map((o) => stored.get(o) ?? ''),
      dys,
      inShapes: node.inputs.map((n) => (n ? shapeOf(n) : [])),
      outShapes: node.outputs.map(shapeOf),
    });
    const active = (rule.activationInputs ?? defaultActivationInputs)(node, graph);
    for (const i of active) {
      const name = node.inputs[i];
      if (!dxs[i] || !needsGrad.has(name)) continue;
      // reverse topological order: every consumer adds its part before the tensor's gradient is read
      if (summed.has(name)) throw new Error(`native reference: gradient of '${name}' read before '${node.name}' added to it`);
      contributions.set(name, [...(contributions.get(name) ?? []), dxs[i]!]);
    }
  }

  // Maps and kept fractions.
  const layers: LayerOutputs[] = [];
  const producers = new Map(plan.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  for (const t of trunkTensors) {
    const node = producers.get(t);
    if (!node) throw new Unemittable(`trunk tensor '${t}' is not computed on the way to the score`);
    const g = gradOf(t);
    if (!g) {
      layers.push({ name: t, node });
      continue;
    }
    const a = stored.get(t)!;
    const map = b.node('ReduceSum', [b.op('Relu', [b.op('Mul', [a, g])]), b.int64([1])], { keepdims: { i: 0 } }, 1, 'map')[0];
    // the share of zeros, [G = 0] (onnxruntime's Sign is scalar code: Abs + Sign took 20 % of the run)
    const zeros = b.node('ReduceMean', [b.op('Cast', [b.op('Equal', [g, b.float([0], [])])], { to: { i: 1 } })], { keepdims: { i: 0 } }, 1, 'zeros')[0];
    b.output(map);
    b.output(zeros);
    layers.push({ name: t, node, map, zeros });
  }
  return { bytes: b.encode('naflow_reference'), layers, classes, outputs: { classIndex: cls, score: scoreValue, scores: flatScore } };
}

const compiled = new WeakMap<Model, Map<string, NativeReference | string>>();

/**
 * The compiled reference graph of a model for a score tensor, trunk and input shape (built on first
 * use, freed with the model), or the reason there is none.
 */
export function nativeReferenceFor(model: Model, scoreTensor: string, trunkTensors: string[], inputShape: number[]): NativeReference | string {
  const key = `${scoreTensor}|${inputShape.join('x')}|${trunkTensors.join('|')}`;
  return compiledFor(compiled, model, key, () => NativeReference.compile(model.graph, scoreTensor, trunkTensors, inputShape));
}
