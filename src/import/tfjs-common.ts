/**
 * Shared helpers for the TensorFlow.js importers: a small graph builder that tracks static shapes
 * while nodes are emitted, TF-style SAME/VALID padding resolution, and shape arithmetic.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { GraphError, type AnyNode, type DType, type Graph, type Shape, type ValueInfo } from '../ir/graph.js';

/** A large finite bound used for one-sided Clip nodes (JSON-safe, unlike Infinity). */
export const CLIP_INF = 3.4028234663852886e38;

/** [top, left, bottom, right] for TF 'SAME' padding, or undefined when the size is unknown and matters. */
export function samePads(
  inH: number | undefined,
  inW: number | undefined,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): [number, number, number, number] | undefined {
  const one = (size: number | undefined, k: number, s: number, d: number): [number, number] | undefined => {
    const eff = (k - 1) * d + 1;
    let total: number;
    if (size === undefined || size < 0) {
      if (s !== 1) return undefined;
      total = eff - 1;
    } else {
      const out = Math.ceil(size / s);
      total = Math.max((out - 1) * s + eff - size, 0);
    }
    const before = Math.floor(total / 2);
    return [before, total - before];
  };
  const h = one(inH, kernel[0], strides[0], dilations[0]);
  const w = one(inW, kernel[1], strides[1], dilations[1]);
  if (!h || !w) return undefined;
  return [h[0], w[0], h[1], w[1]];
}

/** Output spatial size of a conv/pool window with explicit pads (-1 stays -1). */
export function windowOut(size: number, k: number, s: number, d: number, padBefore: number, padAfter: number): number {
  if (size < 0) return -1;
  const eff = (k - 1) * d + 1;
  return Math.floor((size + padBefore + padAfter - eff) / s) + 1;
}

/** NHWC output shape of a windowed op (conv, pool) with explicit pads [top, left, bottom, right]. */
export function windowShape(
  s: Shape,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  pads: [number, number, number, number],
  C: number,
): Shape {
  return [
    s[0],
    windowOut(s[1], kernel[0], strides[0], dilations[0], pads[0], pads[2]),
    windowOut(s[2], kernel[1], strides[1], dilations[1], pads[1], pads[3]),
    C,
  ];
}

export function prod(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Resolve a reshape target against a known input shape: at most the batch stays -1. */
export function resolveReshape(inShape: Shape | undefined, target: number[]): number[] {
  const t = target.slice();
  if (!inShape) return t;
  const batchUnknown = inShape[0] === -1;
  const known = batchUnknown ? inShape.slice(1) : inShape;
  const total = prod(known);
  const neg = t.map((d, i) => (d < 0 ? i : -1)).filter((i) => i >= 0);
  if (batchUnknown) {
    // the batch travels in the first -1 (or a leading dim equal to... only -1 can carry it)
    if (neg.length === 0) return t;
    const batchAt = neg[0];
    const rest = neg.slice(1);
    if (rest.length === 1) {
      const others = prod(t.filter((_d, i) => i !== batchAt && i !== rest[0]));
      t[rest[0]] = total / others;
    }
    return t;
  }
  if (neg.length === 1) {
    const others = prod(t.filter((d) => d >= 0));
    t[neg[0]] = (total * 1) / others;
  }
  return t;
}

/** Collects nodes, constants and static shapes while an importer walks its source graph. */
export class GraphBuilder {
  readonly nodes: AnyNode[] = [];
  readonly constants = new Map<string, tf.Tensor>();
  /** static shape per activation (undefined: unknown, e.g. after an unsupported op) */
  readonly shapes = new Map<string, Shape | undefined>();
  readonly dtypes = new Map<string, DType>();
  readonly inputs: ValueInfo[] = [];
  private readonly used = new Set<string>();

  /**
   * `external`: names the source graph owns (e.g. every TF node name); generated helper names avoid
   * them, while `emit(..., exact)` may still claim one.
   */
  constructor(
    readonly format: string,
    readonly source: string,
    private readonly external: Set<string> = new Set(),
  ) {}

  has(name: string): boolean {
    return this.used.has(name);
  }

  /** A name not yet used by any node, tensor or constant. */
  unique(base: string): string {
    const taken = (n: string) => this.used.has(n) || this.external.has(n);
    if (!taken(base)) return base;
    for (let k = 1; ; k++) {
      const n = `${base}_${k}`;
      if (!taken(n)) return n;
    }
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  addInput(name: string, shape: Shape, dtype: DType = 'float32'): string {
    if (this.used.has(name)) throw new GraphError(`${this.source}: duplicate input name '${name}'`);
    this.used.add(name);
    this.inputs.push({ name, shape, dtype });
    this.shapes.set(name, shape);
    this.dtypes.set(name, dtype);
    return name;
  }

  /** Register a constant under a unique name derived from `base`; the builder takes ownership. */
  addConst(base: string, t: tf.Tensor, exact = false): string {
    if (exact && this.used.has(base)) throw new GraphError(`${this.source}: duplicate constant name '${base}'`);
    const name = exact ? base : this.unique(base);
    this.used.add(name);
    this.constants.set(name, t);
    return name;
  }

  isConst(name: string): boolean {
    return this.constants.has(name);
  }

  shapeOf(name: string): Shape | undefined {
    const c = this.constants.get(name);
    if (c) return c.shape.slice();
    return this.shapes.get(name);
  }

  /** Emit one node whose single output tensor carries the node's name. Returns that name. */
  emit(base: string, op: string, inputs: string[], attrs: Record<string, unknown>, outShape: Shape | undefined, sourceOp?: string, exact = false): string {
    if (exact && this.used.has(base)) throw new GraphError(`${this.source}: duplicate node name '${base}'`);
    const name = exact ? base : this.unique(base);
    this.used.add(name);
    const node: AnyNode = { name, op, inputs, outputs: [name], attrs: attrs as AnyNode['attrs'] };
    if (sourceOp !== undefined) node.sourceOp = sourceOp;
    this.nodes.push(node);
    this.shapes.set(name, outShape);
    const dt = inputs.length ? this.dtypes.get(inputs[0]) : undefined;
    if (dt) this.dtypes.set(name, dt);
    return name;
  }

  /** Rename a node (and its first output tensor), e.g. to give the last node of a chain the layer's name. */
  rename(oldName: string, newName: string): string {
    if (oldName === newName) return oldName;
    if (this.used.has(newName)) throw new GraphError(`${this.source}: duplicate node name '${newName}'`);
    const node = this.nodes.find((n) => n.name === oldName);
    if (!node) throw new GraphError(`${this.source}: internal: no node '${oldName}' to rename`);
    this.used.delete(oldName);
    this.used.add(newName);
    node.name = newName;
    node.outputs = node.outputs.map((o) => (o === oldName ? newName : o));
    for (const n of this.nodes) n.inputs = n.inputs.map((i) => (i === oldName ? newName : i));
    this.shapes.set(newName, this.shapes.get(oldName));
    this.shapes.delete(oldName);
    const dt = this.dtypes.get(oldName);
    if (dt) this.dtypes.set(newName, dt);
    return newName;
  }

  /** Assemble the graph; disposes constants that no node reads. */
  finish(outputs: string[]): Graph {
    const read = new Set<string>();
    for (const n of this.nodes) for (const i of n.inputs) read.add(i);
    for (const o of outputs) read.add(o);
    for (const [name, t] of [...this.constants]) {
      if (!read.has(name)) {
        t.dispose();
        this.constants.delete(name);
      }
    }
    return {
      format: this.format,
      source: this.source,
      inputs: this.inputs,
      outputs,
      nodes: this.nodes,
      constants: this.constants,
      values: new Map(),
    };
  }

  /** Dispose everything (on import failure). */
  dispose(): void {
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
  }
}

/** Positive axis for a rank (negative axes count from the end); unknown rank leaves it as is. */
export function normAxis(axis: number, rank: number | undefined): number {
  if (rank === undefined) return axis;
  return axis < 0 ? axis + rank : axis;
}
