/**
 * What naflow made of a model: one row per graph node (name, op, output shape, parameter count,
 * whether naflow has a rule for the op), and a verdict.
 */
import * as tf from '@tensorflow/tfjs-core';
import { paramCount, type AnyNode, type Graph, type Shape, type ValueInfo } from './ir/graph.js';
import { getOpRule } from './ops/registry.js';
import type { Model } from './engine/model.js';
import { describeUnsupported, unsupportedOps, type UnsupportedOp } from './engine/support.js';
import { trunkProblem } from './structure/trunk.js';

export interface InspectRow {
  name: string;
  /** naflow's op */
  op: string;
  /** the op in the source format (Keras class, ONNX op type, …) */
  sourceOp: string;
  /** the tensors it produces (the names `forward`/`backward` and `--trunk-end` take) */
  outputs: string[];
  /** shape of the node's first output ([] unknown → null) */
  outputShape: Shape | null;
  /** number of weights (constants) the node reads */
  params: number;
  supported: boolean;
}

export type { UnsupportedOp } from './engine/support.js';

export interface InspectReport {
  model: string;
  format: string;
  inputs: ValueInfo[];
  outputs: Array<{ name: string; shape: Shape | null }>;
  rows: InspectRow[];
  totalParams: number;
  unsupported: UnsupportedOp[];
  allSupported: boolean;
  /**
   * Why NAFlow cannot explain this model although every op is supported (no convolutional trunk of
   * spatial feature maps reaches the scores, as in a vision transformer); undefined when it can.
   */
  notExplainable?: string;
  /** the last line of the text report */
  verdict: string;
}

export function inspectGraph(graph: Graph): InspectReport {
  const rows: InspectRow[] = graph.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    sourceOp: n.sourceOp ?? n.op,
    outputs: n.outputs.filter((o) => o !== ''),
    outputShape: graph.values.get(n.outputs[0])?.shape ?? null,
    params: paramCount(graph, n),
    supported: getOpRule(n.op) !== undefined,
  }));
  const unsupported = unsupportedOps(graph);
  const allSupported = unsupported.length === 0;
  const notExplainable = allSupported && graph.outputs.length ? trunkProblem(graph) : undefined;
  const verdict = allSupported
    ? `Verdict: all ${rows.length} node${rows.length === 1 ? '' : 's'} supported${notExplainable ? `, but naflow cannot explain it: ${notExplainable}; predict works` : ''}`
    : `Verdict: ${unsupported.length} unsupported op type${unsupported.length === 1 ? '' : 's'}: ${describeUnsupported(unsupported)}`;
  return {
    model: graph.source,
    format: graph.format,
    inputs: graph.inputs,
    outputs: graph.outputs.map((o) => ({ name: o, shape: graph.values.get(o)?.shape ?? null })),
    rows,
    totalParams: rows.reduce((s, r) => s + r.params, 0),
    unsupported,
    allSupported,
    ...(notExplainable ? { notExplainable } : {}),
    verdict,
  };
}

export function formatShape(s: Shape | null): string {
  return s ? `[${s.map((d) => (d < 0 ? '?' : String(d))).join(',')}]` : '?';
}

/** Thousands separators, e.g. 1,048,576. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Aligned text table; the verdict is the last line. */
export function formatInspect(report: InspectReport): string {
  const head = ['#', 'node', 'op', 'source op', 'output shape', 'params', 'supported'];
  const body = report.rows.map((r, i) => [
    String(i + 1),
    r.name,
    r.op,
    r.sourceOp === r.op ? '' : r.sourceOp,
    formatShape(r.outputShape),
    formatCount(r.params),
    r.supported ? 'yes' : 'NO',
  ]);
  const right = new Set([0, 5]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  out.push(`Model: ${report.model} (${report.format})`);
  for (const i of report.inputs) out.push(`Input: ${i.name} ${formatShape(i.shape)} ${i.dtype} (NHWC)`);
  for (const o of report.outputs) out.push(`Output: ${o.name} ${formatShape(o.shape)}`);
  out.push(`Nodes: ${report.rows.length}, parameters: ${formatCount(report.totalParams)}`);
  out.push('');
  out.push(line(head));
  out.push(line(widths.map((w) => '-'.repeat(w))));
  for (const row of body) out.push(line(row));
  out.push('');
  // every node in --json; here the first few per op type
  const SHOWN = 8;
  if (!report.allSupported)
    for (const u of report.unsupported)
      out.push(
        `Unsupported: ${u.op}: ${u.nodes.slice(0, SHOWN).join(', ')}${u.nodes.length > SHOWN ? `, … (${u.nodes.length - SHOWN} more; --json lists all)` : ''}`,
      );
  out.push(report.verdict);
  return out.join('\n');
}

/**
 * Shape inference that keeps going past nodes it cannot handle (unsupported ops, unknown input
 * shapes): it fills `graph.values` for every node whose inputs are known and whose rule exists, and
 * leaves the rest unknown. For inspecting models that `inferShapes` would reject.
 */
export function inferShapesLenient(model: Model): void {
  const g = model.graph;
  for (const i of g.inputs) if (!g.values.has(i.name)) g.values.set(i.name, { ...i });
  const shapeOf = (name: string): Shape | undefined => g.constants.get(name)?.shape ?? g.values.get(name)?.shape;
  for (const node of g.nodes) {
    if (node.outputs.every((o) => o === '' || g.values.has(o))) continue; // known already
    const rule = getOpRule(node.op);
    if (!rule) continue;
    const inShapes = node.inputs.map((n) => (n === '' ? [] : shapeOf(n)));
    if (inShapes.some((s) => s === undefined)) continue;
    let outShapes: Shape[] | undefined;
    try {
      const ctx = model.context(node);
      if (rule.inferShape) outShapes = rule.inferShape(inShapes as Shape[], ctx);
      else outShapes = dryRun(g, node, inShapes as Shape[], (ins) => rule.forward(ins, ctx));
    } catch {
      outShapes = undefined;
    }
    if (!outShapes) continue;
    node.outputs.forEach((o, k) => {
      if (o === '' || !outShapes![k]) return;
      g.values.set(o, { name: o, shape: outShapes![k], dtype: g.values.get(o)?.dtype ?? 'float32' });
    });
  }
}

function dryRun(g: Graph, node: AnyNode, inShapes: Shape[], run: (ins: tf.Tensor[]) => tf.Tensor[]): Shape[] {
  const batchUnknown = inShapes.some((s) => s[0] === -1);
  const shapes = tf.tidy(() => {
    const ins = node.inputs.map(
      (n, k) =>
        g.constants.get(n) ??
        tf.zeros(
          inShapes[k].map((d) => (d < 0 ? 1 : d)),
          g.values.get(n)?.dtype ?? 'float32',
        ),
    );
    return run(ins).map((t) => t.shape.slice());
  });
  return batchUnknown ? shapes.map((s) => (s.length ? [-1, ...s.slice(1)] : s)) : shapes;
}
