/** The nodes one Keras layer call emits, and small config readers shared by the layer handlers. */
import type { Shape } from '../../ir/graph.js';
import type { GraphBuilder } from '../tfjs-common.js';

/** Thrown inside a layer body when a static shape it needs is unknown (after an unknown layer). */
export class NeedsShape extends Error {}

/**
 * The nodes one layer call emits, named `<layer>/<step>`; `finish` gives the last one the layer's name.
 */
export class Chain {
  private readonly emitted: string[] = [];

  constructor(
    private readonly b: GraphBuilder,
    readonly base: string,
    readonly cls: string,
  ) {}

  emit(step: string, op: string, inputs: string[], attrs: Record<string, unknown>, shape: Shape | undefined, sourceOp?: string): string {
    const n = this.b.emit(`${this.base}/${step}`, op, inputs, attrs, shape, sourceOp ?? this.cls);
    this.emitted.push(n);
    return n;
  }

  finish(out: string): string {
    if (this.emitted.length === 0 || out !== this.emitted[this.emitted.length - 1]) return out;
    return this.b.rename(out, this.base);
  }

  /** Remove what was emitted (a layer that falls back to an unknown-op node). */
  abandon(): void {
    const set = new Set(this.emitted);
    for (let i = this.b.nodes.length - 1; i >= 0; i--) if (set.has(this.b.nodes[i].name)) this.b.nodes.splice(i, 1);
  }
}

/** A Keras 2-D size: a number, [n] or [h, w]. */
export function pair(v: unknown, dflt: [number, number]): [number, number] {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v)) {
    if (v.length === 1) return [Number(v[0]), Number(v[0])];
    return [Number(v[0]), Number(v[1])];
  }
  return dflt;
}

/** Keras 2-D padding/cropping: n, [h, w] or [[top, bottom], [left, right]]. */
export function padPairs(v: unknown, dflt: number): [[number, number], [number, number]] {
  if (v === undefined || v === null)
    return [
      [dflt, dflt],
      [dflt, dflt],
    ];
  if (typeof v === 'number')
    return [
      [v, v],
      [v, v],
    ];
  if (Array.isArray(v)) {
    const one = (e: unknown): [number, number] => (Array.isArray(e) ? [Number(e[0]), Number(e[1])] : [Number(e), Number(e)]);
    return [one(v[0]), one(v[1] ?? v[0])];
  }
  return [
    [dflt, dflt],
    [dflt, dflt],
  ];
}

/** Broadcast of static shapes (-1: unknown); undefined when any is unknown. */
export function broadcastShapes(shapes: Array<Shape | undefined>): Shape | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const r = Math.max(...shapes.map((s) => s!.length));
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s![s!.length - r + i];
      if (v === undefined) continue;
      if (v === -1) d = d === 1 || d === -1 ? -1 : d;
      else if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}
