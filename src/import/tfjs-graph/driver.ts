/**
 * Importer for TensorFlow.js **graph** models (tfjs-converter output: `modelTopology.node` is a
 * GraphDef node list, Const values come from `weightsManifest` or inline `value` tensors): the driver.
 *
 * model.json is validated into typed nodes (model-json.ts). Nodes are converted in topological order:
 * constant subgraphs (and shape computations on static shapes) are folded at load (fold.ts); every
 * other node goes to its handler in the op table (handlers.ts, one file per op family). Fused TF ops
 * are split: `_FusedConv2D(BiasAdd, Relu6)` becomes a Conv with bias (named `<node>/conv`) and a Clip
 * named `<node>`, so the TF node name always names the tensor its consumers read. Relu → Minimum(c) →
 * Maximum(c') chains (Keras' clip_by_value ReLU6) are merged into one Clip (passes.ts). Unknown ops
 * are kept as nodes whose `op` is the TF op name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Graph, type Shape } from '../../ir/graph.js';
import { prod } from '../tfjs-common.js';
import { attrType, inlineTensor, looseAttr, tfDtype } from './attrs.js';
import { BATCH_SAFE_FOLDS, foldTfOp, foldable } from './fold.js';
import { tfGraphHandler } from './handlers.js';
import { TfGraphImporter } from './importer.js';
import { readGraphModelJson, type TfNode } from './model-json.js';
import { mergeClips } from './passes.js';
import { ConvertFallback, broadcast, splitRef, stripRef, type Val } from './values.js';

/** Unknown ops whose output has the shape of their (first) input, or the broadcast of two inputs. */
const UNARY_ELEMENTWISE = new Set([
  'Abs',
  'Neg',
  'Exp',
  'Log',
  'Log1p',
  'Sqrt',
  'Rsqrt',
  'Square',
  'Reciprocal',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'Elu',
  'Selu',
  'Softplus',
  'Softsign',
  'Erf',
  'Sin',
  'Cos',
  'Cast',
  'Relu',
  'Relu6',
  'Sigmoid',
  'Tanh',
  'LeakyRelu',
  'Prelu',
  'Softmax',
  'LogSoftmax',
  'Identity',
  'ClipByValue',
  'IsNan',
  'LRN',
]);
const BINARY_ELEMENTWISE = new Set([
  'Add',
  'AddV2',
  'Sub',
  'Mul',
  'RealDiv',
  'Div',
  'DivNoNan',
  'Maximum',
  'Minimum',
  'Pow',
  'SquaredDifference',
  'FloorDiv',
  'FloorMod',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
  'Equal',
  'NotEqual',
  'LogicalAnd',
  'LogicalOr',
]);

/**
 * Import a tfjs graph model from its parsed (untrusted) model.json. Takes ownership of `weights`
 * (used as constants or disposed).
 */
export function importTfjsGraph(modelJson: unknown, weights: Map<string, tf.Tensor>, source: string): Graph {
  let im: TfGraphImporter;
  try {
    im = new TfGraphImporter(readGraphModelJson(modelJson, source), weights, source);
  } catch (e) {
    for (const t of weights.values()) t.dispose();
    throw e;
  }
  try {
    for (const n of topoOrder(im)) convert(im, n);
    const outputs = graphOutputs(im);
    mergeClips(im.b.nodes, new Set(outputs));
    const g = im.b.finish(outputs);
    disposeUnused(im, g);
    return g;
  } catch (e) {
    im.b.dispose();
    disposeUnused(im, undefined);
    throw e;
  }
}

function graphOutputs(im: TfGraphImporter): string[] {
  const outputs: string[] = [];
  for (const o of im.outputs) {
    const v = im.vals.get(o);
    if (!v) throw new GraphError(`${im.source}: graph output '${o}' is not produced by any node`);
    if (v.kind === 'const') {
      // dangling constant computations are not outputs unless the signature names them
      if (im.fromSignature) throw new GraphError(`${im.source}: graph output '${o}' is a constant`);
      continue;
    }
    outputs.push(v.name);
  }
  if (outputs.length === 0) throw new GraphError(`${im.source}: the graph model has no non-constant outputs`);
  if (im.inputOrder.length) {
    const rank = (n: string) => {
      const i = im.inputOrder.indexOf(n);
      return i < 0 ? im.inputOrder.length : i;
    };
    im.b.inputs.sort((a, c) => rank(a.name) - rank(c.name));
  }
  return outputs;
}

function disposeUnused(im: TfGraphImporter, g: Graph | undefined): void {
  const kept = new Set<tf.Tensor>(g ? g.constants.values() : []);
  for (const t of im.consts.values()) if (!kept.has(t)) t.dispose();
  for (const t of im.weights.values()) if (!kept.has(t)) t.dispose();
}

function topoOrder(im: TfGraphImporter): TfNode[] {
  const order: TfNode[] = [];
  const state = new Map<string, number>();
  for (const root of im.nodes) {
    if (state.get(root.name) === 2) continue;
    const stack: Array<[TfNode, number]> = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (i === 0) {
        if (state.get(n.name) === 2) {
          stack.pop();
          continue;
        }
        state.set(n.name, 1);
      }
      const ins = n.input;
      if (i < ins.length) {
        top[1]++;
        const src = splitRef(ins[i].replace(/^\^/, ''))[0];
        const m = im.byName.get(src);
        if (!m) throw new GraphError(`${im.source}: node '${n.name}' reads '${ins[i]}', which no node defines`);
        const s = state.get(src);
        if (s === 1) throw new GraphError(`${im.source}: the graph has a cycle through '${src}' (control flow is not supported)`);
        if (s !== 2) stack.push([m, 0]);
      } else {
        state.set(n.name, 2);
        order.push(n);
        stack.pop();
      }
    }
  }
  return order;
}

function convertPlaceholder(im: TfGraphImporter, n: TfNode): void {
  let shape = n.attr.shape?.shape?.slice();
  if (!shape) shape = im.model.signature?.inputs.find((i) => stripRef(i.name) === n.name)?.shape?.slice();
  if (!shape) throw new GraphError(`${im.source}: input '${n.name}' has no static shape`);
  if (shape.length > 0) shape[0] = -1;
  const dt = tfDtype(attrType(n, 'dtype'));
  im.b.addInput(n.name, shape, dt === 'int32' ? 'int32' : 'float32');
  im.vals.set(n.name, { kind: 'act', name: n.name });
}

/** Fold a node on constant inputs; false when it cannot be (it is then converted as an op). */
function tryFold(im: TfGraphImporter, n: TfNode, ins: Val[]): boolean {
  if (!(ins.length > 0 && ins.every((v) => v.kind === 'const') && foldable(n.op))) return false;
  // Values holding the unknown batch as -1 (from Shape) may only be moved around, not computed with
  // (Tile/Fill/Mul with -1 would be wrong, and some wasm kernels crash on negative sizes).
  const tainted = ins.some((v) => im.batchTainted.has(v.name));
  let t: tf.Tensor | undefined;
  if (!tainted || BATCH_SAFE_FOLDS.has(n.op)) {
    try {
      t = foldTfOp(
        n,
        ins.map((v) => im.consts.get(v.name)!),
      );
    } catch {
      t = undefined; // keep the node (reported as unsupported) rather than fail the import
    }
  }
  if (!t) return false;
  im.setConst(n.name, t);
  if (tainted && t.dtype === 'int32' && (t.dataSync() as Int32Array).includes(-1)) im.batchTainted.add(n.name);
  return true;
}

/** Shape, Size and Rank of an activation with a static shape fold too. */
function tryShapeFold(im: TfGraphImporter, n: TfNode, ins: Val[]): boolean {
  if (!((n.op === 'Shape' || n.op === 'Size' || n.op === 'Rank') && ins[0]?.kind === 'act')) return false;
  const s = im.shape(ins[0]);
  if (!(s && (n.op === 'Rank' || s.every((d, i) => d >= 0 || (i === 0 && n.op === 'Shape'))))) return false;
  const t = n.op === 'Shape' ? tf.tensor1d(s, 'int32') : n.op === 'Size' ? tf.scalar(prod(s), 'int32') : tf.scalar(s.length, 'int32');
  im.setConst(n.name, t);
  if (n.op === 'Shape' && s[0] < 0) im.batchTainted.add(n.name);
  return true;
}

function convert(im: TfGraphImporter, n: TfNode): void {
  switch (n.op) {
    case 'Const': {
      const w = im.weights.get(n.name);
      let t = w;
      if (t) im.weights.delete(n.name);
      else t = inlineTensor(n, im.source);
      if (!t) throw new GraphError(`${im.source}: Const '${n.name}' has no value (neither in weightsManifest nor inline)`);
      im.setConst(n.name, t);
      return;
    }
    case 'Placeholder':
    case 'PlaceholderWithDefault':
      return convertPlaceholder(im, n);
    case 'NoOp':
    case 'Assert':
      return;
  }
  const ins = im.dataInputs(n).map((r) => im.val(r, n));
  if (tryFold(im, n, ins) || tryShapeFold(im, n, ins)) return;
  const handler = tfGraphHandler(n.op);
  try {
    if (handler?.(im, n, ins)) return;
  } catch (e) {
    if (!(e instanceof ConvertFallback)) throw e;
  }
  keepUnknown(im, n, ins);
}

/** Keep an op naflow has no mapping for: op = the TF op name, attrs decoded loosely. */
function keepUnknown(im: TfGraphImporter, n: TfNode, ins: Val[]): void {
  const count = im.outCount.get(n.name) ?? 1;
  const attrs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n.attr)) {
    if (k === 'T' || k === '_output_shapes') continue;
    attrs[k] = looseAttr(v);
  }
  // Shape-preserving element-wise ops keep the static shape flowing (for later SAME padding etc.).
  let shape: Shape | undefined;
  if (count === 1 && UNARY_ELEMENTWISE.has(n.op) && ins.length >= 1) shape = im.shape(ins[0]);
  else if (count === 1 && BINARY_ELEMENTWISE.has(n.op) && ins.length === 2) shape = broadcast(im.shape(ins[0]), im.shape(ins[1]));
  im.b.emit(
    n.name,
    n.op,
    ins.map((v) => im.constRef(v)),
    attrs,
    shape,
    n.op,
    true,
  );
  const node = im.b.nodes[im.b.nodes.length - 1];
  for (let k = 1; k < count; k++) {
    const o = `${n.name}:${k}`;
    im.b.reserve(o);
    node.outputs.push(o);
    im.vals.set(o, { kind: 'act', name: o });
  }
  im.vals.set(n.name, { kind: 'act', name: n.name });
}
