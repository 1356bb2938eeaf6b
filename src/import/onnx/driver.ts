/**
 * ONNX (opsets 11–18) → naflow graph: the driver. It decodes the model, checks the opset, reads
 * initializers and graph inputs, converts the nodes once in topological order (convert.ts, through the
 * handler table), and assembles outputs and value shapes.
 *
 * Every ONNX tensor is kept either as a host constant (initializers, Constant nodes and everything
 * folded from them: shape arithmetic, casts, dequantised weights, …) or as an activation with its
 * logical ONNX shape. Activations of rank 4 are stored NHWC under their ONNX name; weights and
 * broadcast constants are converted to the layouts of `src/ir/graph.ts`, axis-dependent ops are
 * remapped, and explicit Transpose nodes are inserted where the memory order matters
 * (Flatten/Reshape/MatMul of a rank-4 tensor). Op types naflow has no mapping for are kept as nodes of
 * that op type (the engine rejects them when the model is loaded).
 *
 * A symbolic batch dimension is tracked through shape arithmetic as a sentinel value (`BATCH`), so
 * that `x.view(x.size(0), -1)` style graphs fold; any dimension that is a multiple of the sentinel is
 * emitted as -1.
 */
import onnxProto from 'onnx-proto';
import { GraphError, topoSort, type Graph, type ValueInfo } from '../../ir/graph.js';
import { FoldError, ONNX_DTYPES, decodeTensor, isFloat, num, type HDType } from './host/tensor.js';
import { readAttrs } from './attributes.js';
import { convertNode } from './convert.js';
import { fusePatterns } from './patterns.js';
import { OnnxImporter, type OnnxModel } from './importer.js';
import { BATCH, MAX_OPSET, MIN_OPSET, extDim, nhwc, type OnnxNode } from './layout.js';

const { onnx } = onnxProto;
type OnnxGraph = NonNullable<OnnxModel['graph']>;
type ValueInfoProto = NonNullable<OnnxGraph['input']>[number];

export interface OnnxImportOptions {
  /** [height, width] for an image input whose spatial dimensions are symbolic (the model card's inputSize) */
  inputSize?: [number, number];
}

export function importOnnx(bytes: Uint8Array, source: string, options: OnnxImportOptions = {}): Graph {
  if (bytes.length === 0) throw new GraphError(`${source}: not a valid ONNX model (the file is empty)`);
  let model: OnnxModel;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    // protobufjs reads past the end of a cut-short file ('index out of range') as of any non-ONNX bytes
    throw new GraphError(
      `${source}: not a valid ONNX model: the file is truncated or is not ONNX (its bytes do not decode: ${(e as Error).message}); export or download it again`,
    );
  }
  const looksOnnx = model.graph || num(model.irVersion) > 0 || model.opsetImport?.length;
  if (!looksOnnx || num(model.irVersion) > 100) throw new GraphError(`${source}: not a valid ONNX model (no ir_version, opset_import or graph in the file)`);
  if (!model.graph) throw new GraphError(`${source}: the ONNX model has no graph`);
  const im = new OnnxImporter(model, source);
  try {
    return run(im, model.graph, options);
  } catch (e) {
    im.disposeAll();
    if (e instanceof GraphError) throw e;
    if (e instanceof FoldError) throw new GraphError(`${source}: ${e.message}`);
    throw e;
  }
}

function run(im: OnnxImporter, g: OnnxGraph, options: OnnxImportOptions): Graph {
  im.opset = readOpset(im);
  if (!g.node || g.node.length === 0) throw new GraphError(`${im.source}: the ONNX graph has no nodes`);
  readInitializers(im, g);
  // shape hints from value_info / outputs (used only for the outputs of ops naflow cannot map)
  for (const vi of [...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const h = typeInfo(vi);
    if (h) im.hints.set(vi.name ?? '', h);
  }
  const inputs = readInputs(im, g, options.inputSize);
  convertNodes(im, g);
  const outputs = readOutputs(im, g);
  return {
    format: 'onnx',
    source: im.source,
    inputs,
    outputs,
    nodes: im.nodes,
    constants: im.constants,
    values: valueShapes(im),
  };
}

function readOpset(im: OnnxImporter): number {
  const def = (im.model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!def) throw new GraphError(`${im.source}: the model declares no opset for the default ONNX domain (ai.onnx)`);
  const opset = num(def.version);
  if (opset < MIN_OPSET || opset > MAX_OPSET)
    throw new GraphError(
      `${im.source}: ONNX opset ${opset} is not supported (naflow reads opsets ${MIN_OPSET}–${MAX_OPSET}; re-export the model with opset_version between them)`,
    );
  return opset;
}

function readInitializers(im: OnnxImporter, g: OnnxGraph): void {
  for (const init of g.initializer ?? []) {
    const name = init.name ?? '';
    try {
      im.vals.set(name, { kind: 'const', t: decodeTensor(init as never) });
    } catch (e) {
      throw new GraphError(`${im.source}: initializer ${(e as Error).message.replace(/^tensor /, '')}`);
    }
  }
  if ((g.sparseInitializer ?? []).length) throw new GraphError(`${im.source}: the model has sparse initializers, which naflow does not support`);
}

/** Graph inputs (those that are not initializers), registered as activations. */
function readInputs(im: OnnxImporter, g: OnnxGraph, inputSize: [number, number] | undefined): ValueInfo[] {
  const src = im.source;
  const inputs: ValueInfo[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (im.vals.has(name)) continue;
    const tt = vi.type?.tensorType;
    if (!tt) throw new GraphError(`${src}: graph input '${name}' is not a tensor`);
    const dtype = ONNX_DTYPES[tt.elemType ?? 1]?.host ?? 'float32';
    const dimsProto = tt.shape?.dim;
    if (!dimsProto) throw new GraphError(`${src}: graph input '${name}' has no shape; naflow needs a static input shape`);
    const dims = dimsProto.map((d, k) => {
      const v = d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue) : 0;
      if (v > 0) return v;
      if (k === 0) return BATCH;
      // an image input (NCHW) with symbolic height/width: the card's inputSize fixes them
      if (inputSize && dimsProto.length === 4 && (k === 2 || k === 3)) return inputSize[k - 2];
      throw new GraphError(
        `${src}: graph input '${name}' has a symbolic dimension ${k} ('${d.dimParam ?? '?'}'); naflow needs a static input shape except for the batch: give the model card's inputSize [height, width] (see docs/models.md), or re-export with a fixed input size`,
      );
    });
    im.vals.set(name, { kind: 'act', ref: name, dims, rank: dims.length, dtype });
    im.tensorNames.add(name);
    inputs.push({ name, shape: nhwc(dims).map(extDim), dtype: isFloat(dtype) ? 'float32' : 'int32' });
  }
  if (!inputs.length) throw new GraphError(`${src}: the ONNX graph has no (non-initializer) inputs`);
  return inputs;
}

function convertNodes(im: OnnxImporter, g: OnnxGraph): void {
  const protos = g.node ?? [];
  const decoded: OnnxNode[] = protos.map((n, index) => ({
    name: n.name || `${n.opType}_${index}`,
    opType: n.opType ?? '',
    domain: n.domain ?? '',
    inputs: (n.input ?? []).slice(),
    outputs: (n.output ?? []).slice(),
    attrs: {},
    index,
  }));
  const raw = fusePatterns({
    nodes: decoded,
    protos,
    initializer: (name) => im.constOf(im.vals.has(name) ? name : undefined),
    graphOutputs: new Set((g.output ?? []).map((o) => o.name ?? '')),
  });
  for (const n of raw) for (const o of n.outputs) if (o) im.tensorNames.add(o);
  for (const n of raw) for (const i of n.inputs) if (i) im.consumers.set(i, (im.consumers.get(i) ?? 0) + 1);
  for (const o of g.output ?? []) {
    im.graphOutputs.add(o.name ?? '');
    im.consumers.set(o.name ?? '', (im.consumers.get(o.name ?? '') ?? 0) + 1);
  }
  // exporters usually emit a topological order; some do not
  const order = topoSort(
    raw,
    new Set(im.vals.keys()),
    (n, missing) =>
      `${im.source}: node '${n.name}' (${n.opType}) reads tensor(s) ${missing.map((x) => `'${x}'`).join(', ')} that no node, input or initializer provides (or the graph has a cycle)`,
  );
  for (const n of order) {
    // unique node names
    let name = n.name;
    for (let k = 1; im.nodeNames.has(name) || im.reserved(name); k++) name = `${n.name}_${k}`;
    n.name = name;
    im.reserveName(name);
    im.cur = n;
    try {
      // a node fused from a pattern (index -1) carries its attributes already
      if (n.index >= 0) n.attrs = readAttrs(protos[n.index] as never);
    } catch (e) {
      im.fail(`bad attribute: ${(e as Error).message}`);
    }
    convertNode(im, n);
  }
}

function readOutputs(im: OnnxImporter, g: OnnxGraph): string[] {
  const outputs: string[] = [];
  for (const o of g.output ?? []) {
    const name = o.name ?? '';
    const v = im.vals.get(name);
    if (!v) throw new GraphError(`${im.source}: graph output '${name}' is not produced by any node`);
    if (v.kind === 'const') {
      im.cur = { name: `${name}::const`, opType: 'Constant', domain: '', inputs: [], outputs: [name], attrs: {}, index: -1 };
      const c = im.constRef(name, 'output', () => v.t, `${name}::const`);
      im.emit('Identity', [c], [name], {});
      im.setAct(name, v.t.dims, v.t.dtype);
    }
    outputs.push(name);
  }
  return outputs;
}

/** Shapes (storage order) of every activation whose shape is known, helper tensors included. */
function valueShapes(im: OnnxImporter): Map<string, ValueInfo> {
  const values = new Map<string, ValueInfo>();
  for (const [name, v] of im.vals)
    if (v.kind === 'act' && v.dims && v.ref === name)
      values.set(name, {
        name,
        shape: (v.dims.length === 4 && !v.channelsLast ? nhwc(v.dims) : v.dims).map(extDim),
        dtype: isFloat(v.dtype) ? 'float32' : 'int32',
      });
  for (const n of im.nodes)
    for (const o of n.outputs)
      if (o && !values.has(o)) {
        const v = im.tmpShapes.get(o);
        if (v) values.set(o, { name: o, shape: v.map(extDim), dtype: 'float32' });
      }
  return values;
}

/** Shape hint of a value_info (dims undefined when any but a symbolic batch dim is unknown). */
function typeInfo(vi: ValueInfoProto): { dims?: number[]; rank?: number; dtype?: HDType } | undefined {
  const tt = vi.type?.tensorType;
  if (!tt) return undefined;
  const dtype = ONNX_DTYPES[tt.elemType ?? 1]?.host;
  const dimsP = tt.shape?.dim;
  if (!dimsP) return { dtype };
  let known = true;
  const dims = dimsP.map((d, k) => {
    const v = d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue) : 0;
    if (v > 0) return v;
    if (k === 0 && d.dimParam) return BATCH;
    known = false;
    return -1;
  });
  return { dims: known ? dims : undefined, rank: dims.length, dtype };
}
