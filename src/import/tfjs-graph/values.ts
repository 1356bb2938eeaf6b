/** How the tfjs graph importer holds TF tensors, and TF tensor references (`node`, `node:k`, `^node`). */
import type { Shape } from '../../ir/graph.js';

/** A TF tensor: a constant (by name in the importer's constants) or an activation (a graph tensor). */
export type Val = { kind: 'const'; name: string } | { kind: 'act'; name: string };

/** A mapping cannot express this node; keep it as an unknown op. */
export class ConvertFallback extends Error {}

export function splitRef(r: string): [string, number] {
  const m = /^(.*):(\d+)$/.exec(r);
  return m ? [m[1], Number(m[2])] : [r, 0];
}

export function normRef(r: string): string {
  const [n, k] = splitRef(r.replace(/^\^/, ''));
  return k === 0 ? n : `${n}:${k}`;
}

export function stripRef(r: string): string {
  return splitRef(r)[0];
}

/** Broadcast of two static shapes (-1: unknown); undefined when either is unknown. */
export function broadcast(a: Shape | undefined, b: Shape | undefined): Shape | undefined {
  if (!a || !b) return undefined;
  const r = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    // -1 (unknown) against 1 or -1 stays unknown; against a known size n > 1 the result is n
    if (x === -1) out.push(y === 1 || y === -1 ? -1 : y);
    else if (y === -1) out.push(x === 1 ? -1 : x);
    else out.push(Math.max(x, y));
  }
  return out;
}
