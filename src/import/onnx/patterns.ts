/**
 * Recognising, before conversion, the decomposed forms PyTorch exports for two layers that have no
 * ONNX op in the opsets naflow reads (or only a late one), so that each becomes one naflow node — one
 * layer, one map, one exact or diagonal inverse — instead of a chain of arithmetic:
 *
 * * LayerNorm (opset ≤ 16): ReduceMean → Sub → Pow(2) → ReduceMean → Add(ε) → Sqrt → Div
 *   [→ Mul(γ) → Add(β)] → one `LayerNormalization` node (as opset 17 writes it);
 * * GELU: Div(√2) → Erf → Add(1) → Mul(x) → Mul(½) (in any of the orders exporters use) → `Gelu`;
 *   tanh-approximate GELU: Mul(x, x·x) → Mul(0.044715) → Add(x) → Mul(√(2/π)) → Tanh → Add(1) →
 *   Mul(x) → Mul(½) → `Gelu` with approximate = 'tanh'.
 *
 * A chain is fused only when every intermediate tensor feeds nothing but the next step and is no graph
 * output; anything else is left to convert op by op.
 */
import { readAttrs } from './attributes.js';
import type { HostTensor } from './host/tensor.js';
import type { OnnxNode } from './layout.js';

/** What the pass needs to know about the graph around the nodes. */
export interface PatternGraph {
  nodes: OnnxNode[];
  /** the attribute-carrying protos, by node index (attributes are decoded only where a pattern looks) */
  protos: ReadonlyArray<unknown>;
  /** initializers (and other constants known before conversion) */
  initializer: (name: string) => HostTensor | undefined;
  graphOutputs: ReadonlySet<string>;
}

interface Matcher {
  producer: Map<string, OnnxNode>;
  consumers: Map<string, OnnxNode[]>;
  g: PatternGraph;
}

/** The nodes with the patterns above replaced by single nodes (order kept; the driver sorts anyway). */
export function fusePatterns(g: PatternGraph): OnnxNode[] {
  const m: Matcher = { producer: new Map(), consumers: new Map(), g };
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) m.producer.set(o, n);
    for (const i of n.inputs) if (i) m.consumers.set(i, [...(m.consumers.get(i) ?? []), n]);
  }
  const removed = new Set<OnnxNode>();
  const added = new Map<OnnxNode, OnnxNode>();
  for (const n of g.nodes) {
    if (removed.has(n)) continue;
    const hit = n.opType === 'ReduceMean' ? layerNorm(m, n) : n.opType === 'Erf' ? geluErf(m, n) : n.opType === 'Tanh' ? geluTanh(m, n) : undefined;
    if (!hit || hit.nodes.some((x) => removed.has(x))) continue;
    for (const x of hit.nodes) removed.add(x);
    added.set(hit.nodes[hit.nodes.length - 1], hit.fused);
  }
  return g.nodes.flatMap((n) => (added.has(n) ? [added.get(n)!] : removed.has(n) ? [] : [n]));
}

interface Hit {
  /** the matched nodes, the last one producing the fused output */
  nodes: OnnxNode[];
  fused: OnnxNode;
}

const isDefault = (n: OnnxNode) => !n.domain || n.domain === 'ai.onnx';

/** The one consumer of `t` if it has exactly one, is of `op` and `t` is no graph output. */
function only(m: Matcher, t: string, op: string): OnnxNode | undefined {
  const c = m.consumers.get(t) ?? [];
  if (c.length !== 1 || m.g.graphOutputs.has(t) || c[0].opType !== op || !isDefault(c[0])) return undefined;
  return c[0];
}

/** The producer of `t` if it is of `op` and `t` feeds only it. */
function producedBy(m: Matcher, t: string, op: string): OnnxNode | undefined {
  const p = m.producer.get(t);
  if (!p || p.opType !== op || !isDefault(p) || (m.consumers.get(t) ?? []).length !== 1 || m.g.graphOutputs.has(t)) return undefined;
  return p;
}

/** A constant known before conversion: an initializer, a Constant node, or an Identity of one. */
function constant(m: Matcher, t: string): HostTensor | undefined {
  const init = m.g.initializer(t);
  if (init) return init;
  const p = m.producer.get(t);
  if (p?.opType === 'Identity') return constant(m, p.inputs[0]);
  if (p?.opType !== 'Constant') return undefined;
  const a = readAttrs(m.g.protos[p.index] as never);
  if (a.value !== undefined) return a.value as HostTensor;
  if (typeof a.value_float === 'number') return { dtype: 'float32', dims: [], data: Float32Array.of(a.value_float) };
  return undefined;
}

/** A scalar constant (one element) within `tol` of `want` (any value when `want` is undefined). */
function scalarNear(m: Matcher, t: string, want?: number, tol = 1e-5): number | undefined {
  const c = constant(m, t);
  if (c?.data.length !== 1) return undefined;
  const v = c.data[0];
  return want === undefined || Math.abs(v - want) <= tol * Math.max(1, Math.abs(want)) ? v : undefined;
}

/** The operand of binary node `n` that is not `t` (undefined when neither or both are `t`). */
function other(n: OnnxNode, t: string): string | undefined {
  if (n.inputs[0] === t && n.inputs[1] !== t) return n.inputs[1];
  if (n.inputs[1] === t && n.inputs[0] !== t) return n.inputs[0];
  return undefined;
}

function attrsOf(m: Matcher, n: OnnxNode) {
  return readAttrs(m.g.protos[n.index] as never);
}

/** A ReduceMean's axes (attribute, or the opset-18 input) when it keeps its dims. */
function reduceAxes(m: Matcher, n: OnnxNode): number[] | undefined {
  const a = attrsOf(m, n);
  if (a.keepdims === 0) return undefined;
  const axes = (a.axes as number[] | undefined) ?? (n.inputs[1] ? Array.from(constant(m, n.inputs[1])?.data ?? []) : undefined);
  if (!axes?.length) return undefined;
  const sorted = [...axes].sort((x, y) => x - y);
  return sorted.every((v, k) => k === 0 || v === sorted[k - 1] + 1) && (sorted.every((v) => v < 0) || sorted.every((v) => v >= 0)) ? sorted : undefined;
}

/** A fused node named after the pattern's scope (e.g. '/features.0/ReduceMean' → '/features.0/LayerNormalization'). */
function fusedNode(first: OnnxNode, opType: string, inputs: string[], output: string, attrs: OnnxNode['attrs']): OnnxNode {
  const slash = first.name.lastIndexOf('/');
  const name = slash >= 0 ? `${first.name.slice(0, slash + 1)}${opType}` : `${first.name}::${opType}`;
  return { name, opType, domain: '', inputs, outputs: [output], attrs, index: -1 };
}

function layerNorm(m: Matcher, mean: OnnxNode): Hit | undefined {
  const x = mean.inputs[0];
  const axes = reduceAxes(m, mean);
  const sub = only(m, mean.outputs[0], 'Sub');
  if (!axes || !sub || sub.inputs[0] !== x || sub.inputs[1] !== mean.outputs[0]) return undefined;
  const d = sub.outputs[0];
  const uses = m.consumers.get(d) ?? [];
  const pow = uses.find((u) => u.opType === 'Pow' && u.inputs[0] === d && scalarNear(m, u.inputs[1], 2) !== undefined);
  const div = uses.find((u) => u.opType === 'Div' && u.inputs[0] === d);
  if (uses.length !== 2 || !pow || !div || m.g.graphOutputs.has(d)) return undefined;
  const variance = only(m, pow.outputs[0], 'ReduceMean');
  if (!variance || String(reduceAxes(m, variance)) !== String(axes)) return undefined;
  const add = only(m, variance.outputs[0], 'Add');
  const eps = add && scalarNear(m, other(add, variance.outputs[0]) ?? '');
  const sqrt = add && only(m, add.outputs[0], 'Sqrt');
  if (eps === undefined || !sqrt || only(m, sqrt.outputs[0], 'Div') !== div || div.inputs[1] !== sqrt.outputs[0]) return undefined;
  const nodes = [mean, sub, pow, variance, add!, sqrt, div];
  let out = div.outputs[0];
  let gamma = '';
  let beta = '';
  const mul = only(m, out, 'Mul');
  const g = mul && other(mul, out);
  if (mul && g && constant(m, g)) {
    gamma = g;
    nodes.push(mul);
    out = mul.outputs[0];
    const addBeta = only(m, out, 'Add');
    const b = addBeta && other(addBeta, out);
    if (addBeta && b && constant(m, b)) {
      beta = b;
      nodes.push(addBeta);
      out = addBeta.outputs[0];
    }
  }
  const attrs = { axis: axes[0], lastAxis: axes[axes.length - 1], epsilon: eps };
  return { nodes, fused: fusedNode(mean, 'LayerNormalization', [x, gamma, beta].slice(0, beta ? 3 : gamma ? 2 : 1), out, attrs) };
}

/** 1 + f (f the output of `f`), multiplied by x and ½ in any order: the matched nodes and the output. */
function halfXTimesOnePlus(m: Matcher, f: string, x: string): { nodes: OnnxNode[]; out: string } | undefined {
  const add = only(m, f, 'Add');
  if (!add || scalarNear(m, other(add, f) ?? '', 1) === undefined) return undefined;
  const s = add.outputs[0];
  const mul = only(m, s, 'Mul');
  const o = mul && other(mul, s);
  if (!mul || !o) return undefined;
  const last = (t: string, want: (n: OnnxNode, operand: string) => boolean) => {
    const n = only(m, t, 'Mul');
    const operand = n && other(n, t);
    return n && operand && want(n, operand) ? n : undefined;
  };
  if (o === x) {
    const half = last(mul.outputs[0], (_, v) => scalarNear(m, v, 0.5) !== undefined);
    return half && { nodes: [add, mul, half], out: half.outputs[0] };
  }
  if (scalarNear(m, o, 0.5) !== undefined) {
    const byX = last(mul.outputs[0], (_, v) => v === x);
    return byX && { nodes: [add, mul, byX], out: byX.outputs[0] };
  }
  const halfX = producedBy(m, o, 'Mul');
  if (halfX && other(halfX, x) !== undefined && scalarNear(m, other(halfX, x)!, 0.5) !== undefined) return { nodes: [halfX, add, mul], out: mul.outputs[0] };
  return undefined;
}

function geluErf(m: Matcher, erf: OnnxNode): Hit | undefined {
  const scale = m.producer.get(erf.inputs[0]);
  if (!scale || (m.consumers.get(erf.inputs[0]) ?? []).length !== 1) return undefined;
  let x: string | undefined;
  if (scale.opType === 'Div' && scalarNear(m, scale.inputs[1], Math.SQRT2) !== undefined) x = scale.inputs[0];
  if (scale.opType === 'Mul') {
    const c = scale.inputs.find((i) => scalarNear(m, i, Math.SQRT1_2) !== undefined);
    x = c && other(scale, c);
  }
  const tail = x && halfXTimesOnePlus(m, erf.outputs[0], x);
  if (!x || !tail) return undefined;
  const nodes = [scale, erf, ...tail.nodes];
  return { nodes, fused: fusedNode(erf, 'Gelu', [x], tail.out, { approximate: 'none' }) };
}

/** x³ as Pow(x, 3) or x·(x·x): the matched nodes and x. */
function cube(m: Matcher, t: string): { nodes: OnnxNode[]; x: string } | undefined {
  const pow = producedBy(m, t, 'Pow');
  if (pow && scalarNear(m, pow.inputs[1], 3) !== undefined) return { nodes: [pow], x: pow.inputs[0] };
  const outer = producedBy(m, t, 'Mul');
  if (!outer) return undefined;
  for (const k of [0, 1]) {
    const sq = producedBy(m, outer.inputs[k], 'Mul');
    const x = outer.inputs[1 - k];
    if (sq && sq.inputs[0] === x && sq.inputs[1] === x) return { nodes: [sq, outer], x };
  }
  return undefined;
}

function geluTanh(m: Matcher, tanh: OnnxNode): Hit | undefined {
  const scale = producedBy(m, tanh.inputs[0], 'Mul');
  const k = scale?.inputs.find((i) => scalarNear(m, i, Math.sqrt(2 / Math.PI)) !== undefined);
  const inner = scale && k && producedBy(m, other(scale, k) ?? '', 'Add');
  if (!inner) return undefined;
  for (const side of [0, 1]) {
    const x = inner.inputs[side];
    const cubic = producedBy(m, inner.inputs[1 - side], 'Mul');
    const c = cubic?.inputs.find((i) => scalarNear(m, i, 0.044715) !== undefined);
    const x3 = cubic && c && cube(m, other(cubic, c) ?? '');
    if (!x3 || x3.x !== x) continue;
    const tail = halfXTimesOnePlus(m, tanh.outputs[0], x);
    if (!tail) return undefined;
    const nodes = [...x3.nodes, cubic!, inner, scale!, tanh, ...tail.nodes];
    return { nodes, fused: fusedNode(tanh, 'Gelu', [x], tail.out, { approximate: 'tanh' }) };
  }
  return undefined;
}
