/**
 * The gate pass: which operand of a product of two same-shape activations is a gate, decided once per
 * graph from its structure (like Zennit's canonizers, which rewrite a model once before attribution
 * instead of teaching every rule about its neighbours). An operand is a gate when it is produced by an
 * op whose rule declares the role `gate` (sigmoid-like: values in [0, 1] that scale the other operand),
 * possibly through ops of place 'layout'. SiLU exported as x·Sigmoid(x) and a squeeze-excitation block
 * ending in Sigmoid are the two cases.
 *
 * The Mul rule reads the mark (`Node.gate`); a broadcast operand is a gate whatever the mark says, which
 * the rule decides from the tensors' sizes at run time.
 */
import { producerMap, type AnyNode, type Graph } from '../ir/graph.js';
import { placeOf, rolesOf } from './registry.js';

/** How many layout ops the search looks through before giving up. */
const MAX_LAYOUT_STEPS = 8;

/** Whether tensor `name` is produced by a gate op (through layout-only ops). */
function fromGate(producers: Map<string, AnyNode>, name: string): boolean {
  for (let step = 0; step < MAX_LAYOUT_STEPS; step++) {
    const p = producers.get(name);
    if (!p) return false;
    if (rolesOf(p.op).gate) return true;
    if (placeOf(p.op) !== 'layout') return false;
    name = p.inputs[0];
  }
  return false;
}

const marked = new WeakSet<Graph>();

/**
 * Mark every Mul of `graph` with exactly one operand produced by a gate op: `node.gate` is that
 * operand's index (no mark when neither or both are). Run once after import, by the Model.
 */
export function markGates(graph: Graph): void {
  const producers = producerMap(graph);
  for (const node of graph.nodes) {
    if (node.op !== 'Mul') continue;
    delete node.gate;
    const gates = [0, 1].filter((i) => fromGate(producers, node.inputs[i]));
    if (gates.length === 1) node.gate = gates[0] as 0 | 1;
  }
  marked.add(graph);
}

/**
 * The marked gate operand of a Mul node, or −1. A graph that never went through a Model (a rule run on
 * a hand-built context) is marked on first use.
 */
export function markedGate(graph: Graph, node: AnyNode): number {
  if (!marked.has(graph)) markGates(graph);
  return node.gate ?? -1;
}
