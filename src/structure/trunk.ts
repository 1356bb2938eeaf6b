/**
 * Model structure shared by the cascade and every baseline: where the class scores are, where the
 * convolutional trunk ends, and the trunk tensors in order (the layers every method maps).
 */
import { GraphError, producerMap, type Graph } from '../ir/graph.js';
import { nodesBetween } from '../engine/execute.js';
import { defaultActivationInputs, placeOf, rolesOf } from '../ops/registry.js';

/** The tensor whose entries are the class scores (logits): the output, or the input of a final Softmax or Sigmoid. */
export function findScoreTensor(graph: Graph): string {
  const out = graph.outputs[0];
  const p = producerMap(graph).get(out);
  return p && rolesOf(p.op).probabilities ? p.inputs[0] : out;
}

export const rank4 = (graph: Graph, t: string) => graph.values.get(t)?.shape.length === 4;

/** The rank-4 trunk tensors, in the order `runCascade` reports its layers (shallow → deep). */
export function trunkTensorOrder(graph: Graph, trunkEnd: string): string[] {
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const trunkNodes = nodesBetween(graph, inputNames, [trunkEnd]);
  const order: string[] = [];
  // runCascade visits the nodes deep → shallow, each node's outputs in order, then reverses the list.
  for (let k = trunkNodes.length - 1; k >= 0; k--) for (const o of trunkNodes[k].outputs) if (o && rank4(graph, o) && !order.includes(o)) order.push(o);
  return order.reverse();
}

/**
 * The last spatial tensor before the head: walking back from the score through head ops (global
 * pooling, flatten/reshape, layout transposes, dense layers) until a rank-4 tensor produced by a trunk op.
 */
export function findTrunkEnd(graph: Graph, scoreTensor: string): string {
  const producer = producerMap(graph);
  const inputs = new Set(graph.inputs.map((i) => i.name));
  let t = scoreTensor;
  for (let guard = 0; guard < graph.nodes.length + 1; guard++) {
    const p = producer.get(t);
    if (!p) break;
    if (rank4(graph, t) && placeOf(p.op) === 'trunk') return t;
    const acts = defaultActivationInputs(p, graph).map((i) => p.inputs[i]);
    if (acts.length !== 1) {
      if (rank4(graph, t)) return t;
      break;
    }
    t = acts[0];
    if (inputs.has(t)) break;
  }
  throw new GraphError(
    `${graph.source}: cannot find where the convolutional trunk ends before '${scoreTensor}' (${noTrunkReason(graph)}); pass trunkEnd (a rank-4 tensor name)`,
  );
}

/**
 * Why NAFlow cannot explain a model whose ops are all supported (a vision transformer: no spatial
 * feature map reaches the scores), in one line; undefined when the trunk-end search succeeds.
 */
export function trunkProblem(graph: Graph): string | undefined {
  try {
    findTrunkEnd(graph, findScoreTensor(graph));
    return undefined;
  } catch {
    return noTrunkReason(graph);
  }
}

/** The last spatial (rank-4) tensor and the op types (with counts) on other tensors after it. */
function noTrunkReason(graph: Graph): string {
  let index = -1;
  graph.nodes.forEach((n, k) => {
    if (placeOf(n.op) !== 'layout' && n.outputs.some((o) => o && rank4(graph, o))) index = k;
  });
  if (index < 0) return 'not a CNN: no node produces a spatial (rank-4) feature map';
  const last = graph.nodes[index];
  const counts = new Map<string, number>();
  for (const n of graph.nodes.slice(index + 1)) if (placeOf(n.op) !== 'layout') counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
  const ops = [...counts].sort((a, b) => b[1] - a[1]).map(([op, k]) => `${op} ×${k}`);
  return `not a CNN trunk: after the last spatial (rank-4) tensor, '${last.name}' (${last.op}), the scores come through ops on token or vector tensors (${ops.join(', ')}), which have no feature maps to draw`;
}

/**
 * A tensor the user named (the trunk end, the score tensor): it must exist, and a trunk end must be
 * rank 4 (NHWC). The message says where to find the names.
 */
export function checkNamedTensor(graph: Graph, name: string, what: 'trunk end' | 'score tensor'): void {
  if (!graph.values.has(name)) throw new GraphError(`${graph.source}: no tensor named '${name}' (the ${what}); see naflow inspect --json for the tensor names`);
  if (what === 'trunk end' && !rank4(graph, name)) throw new GraphError(`trunk end '${name}' is not a rank-4 (NHWC) tensor`);
}
