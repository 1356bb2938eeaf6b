/** Graph passes run after the tfjs graph import. */
import type { AnyNode } from '../../ir/graph.js';
import { CLIP_INF } from '../tfjs-common.js';

/**
 * Merge chains Relu → Clip → Clip (single consumers, not graph outputs) into one Clip, e.g. Keras'
 * `relu(max_value=6)` exported as Relu, Minimum(6), Maximum(0). The merged node keeps the last
 * node's name; `sourceOp` lists the merged TF ops.
 */
export function mergeClips(nodes: AnyNode[], outputs: Set<string>): void {
  const consumers = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const producer = new Map<string, AnyNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  const range = (n: AnyNode): [number, number] | undefined =>
    n.op === 'Clip' ? [(n.attrs as { min: number }).min, (n.attrs as { max: number }).max] : n.op === 'Relu' ? [0, CLIP_INF] : undefined;
  const removed = new Set<AnyNode>();
  for (const n of nodes) {
    if (n.op !== 'Clip' || removed.has(n)) continue;
    for (;;) {
      const p = producer.get(n.inputs[0]);
      if (!p || removed.has(p) || p.outputs.length !== 1) break;
      const rp = range(p);
      const rn = range(n)!;
      if (!rp || consumers.get(p.outputs[0]) !== 1 || outputs.has(p.outputs[0])) break;
      const lo = Math.max(rp[0], rn[0]);
      const hi = Math.min(rp[1], rn[1]);
      if (lo > hi) break;
      n.attrs = { min: lo, max: hi } as AnyNode['attrs'];
      n.inputs = [p.inputs[0]];
      n.sourceOp = `${p.sourceOp ?? p.op}+${n.sourceOp ?? n.op}`;
      removed.add(p);
    }
  }
  if (removed.size) {
    const keep = nodes.filter((n) => !removed.has(n));
    nodes.length = 0;
    nodes.push(...keep);
  }
}
