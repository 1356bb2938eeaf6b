/**
 * Which ops of a graph naflow has no rule for, by op type: what `naflow inspect` reports and what a
 * command that cannot run the model says, in one line each (op types with counts, not every node).
 */
import type { Graph } from '../ir/graph.js';
import { getOpRule } from '../ops/registry.js';

export interface UnsupportedOp {
  op: string;
  /** every node using it, in graph order */
  nodes: string[];
}

/** The op types without a rule, in order of first use, with their nodes. */
export function unsupportedOps(graph: Graph): UnsupportedOp[] {
  const byOp = new Map<string, string[]>();
  for (const n of graph.nodes) {
    if (getOpRule(n.op)) continue;
    const op = n.op;
    const list = byOp.get(op);
    if (list) list.push(n.name);
    else byOp.set(op, [n.name]);
  }
  return [...byOp].map(([op, nodes]) => ({ op, nodes }));
}

/** "Einsum (1 node: e1), Erf (12 nodes, first: /blocks.0/Erf)". */
export function describeUnsupported(ops: readonly UnsupportedOp[]): string {
  return ops.map((u) => (u.nodes.length === 1 ? `${u.op} (1 node: ${u.nodes[0]})` : `${u.op} (${u.nodes.length} nodes, first: ${u.nodes[0]})`)).join(', ');
}
