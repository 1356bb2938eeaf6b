/**
 * The importers' handler tables: ONNX, tfjs graph and tfjs layers map Elu / Softplus / Selu to naflow
 * nodes carrying the attributes (and defaults) of each source format's specification; untrusted
 * model.json fields of the wrong type are input errors naming the file and the field; the tables
 * refuse an op claimed by two families; the ONNX constant folder covers the ops it covered before
 * the split into per-family fold tables.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { initBackend } from '../src/engine/backend.js';
import { GraphError, type Graph } from '../src/ir/graph.js';
import { importGraph } from '../src/node/load.js';
import { importOnnx, onnxMappedOps } from '../src/import/onnx.js';
import { tfGraphMappedOps } from '../src/import/tfjs-graph.js';
import { kerasMappedLayers } from '../src/import/tfjs-layers.js';
import { mergeHandlerTables } from '../src/import/handler-table.js';
import { foldableOps } from '../src/import/onnx/host/fold.js';

const { onnx } = onnxProto;

before(async () => {
  await initBackend({ backend: 'cpu' });
});

// ONNX operator specification defaults (onnx/defs/math/defs.cc): Elu alpha 1.0; Selu alpha and gamma as float32
const ONNX_SELU_ALPHA = 1.6732631921768188; // = 1.67326319217681884765625 exactly, the float32 value
const ONNX_SELU_GAMMA = 1.0507010221481323; // = 1.05070102214813232421875
// tf.nn.selu / keras.activations.selu constants
const TF_SELU_ALPHA = 1.6732632423543772; // the double nearest 1.6732632423543772848170429916717
const TF_SELU_SCALE = 1.0507009873554805; // the double nearest 1.0507009873554804934193349852946

function dispose(g: Graph): void {
  for (const t of g.constants.values()) t.dispose();
}

function nodeSummary(g: Graph): Array<[string, string, Record<string, unknown>]> {
  return g.nodes.map((n) => [n.name, n.op, n.attrs as Record<string, unknown>]);
}

function onnxModel(nodes: object[]): Uint8Array {
  const vi = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: [1, 2, 3, 3].map((d) => ({ dimValue: d })) } } },
    });
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'g', node: nodes, input: [vi('x')], output: [vi('y')] },
  });
  return onnx.ModelProto.encode(m).finish();
}

const floatAttr = (name: string, f: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });

test('ONNX Elu, Softplus and Selu become naflow nodes with their attributes (ONNX defaults where absent)', () => {
  const bytes = onnxModel([
    onnx.NodeProto.create({ name: 'e1', opType: 'Elu', input: ['x'], output: ['a'], attribute: [floatAttr('alpha', 0.5)] }),
    onnx.NodeProto.create({ name: 'e2', opType: 'Elu', input: ['a'], output: ['b'] }),
    onnx.NodeProto.create({ name: 'sp', opType: 'Softplus', input: ['b'], output: ['c'] }),
    onnx.NodeProto.create({ name: 's1', opType: 'Selu', input: ['c'], output: ['d'] }),
    onnx.NodeProto.create({
      name: 's2',
      opType: 'Selu',
      input: ['d'],
      output: ['y'],
      attribute: [floatAttr('alpha', 1.5), floatAttr('gamma', 0.25)],
    }),
  ]);
  const g = importOnnx(bytes, 'act.onnx');
  try {
    assert.deepEqual(nodeSummary(g), [
      ['e1', 'Elu', { alpha: 0.5 }],
      ['e2', 'Elu', { alpha: 1 }],
      ['sp', 'Softplus', {}],
      ['s1', 'Selu', { alpha: ONNX_SELU_ALPHA, gamma: ONNX_SELU_GAMMA }],
      ['s2', 'Selu', { alpha: 1.5, gamma: 0.25 }],
    ]);
    // mapped (not kept as unmapped nodes): shapes flow through them
    assert.deepEqual(g.values.get('y')?.shape, [1, 3, 3, 2]);
    assert.deepEqual(
      g.nodes.map((n) => n.sourceOp),
      ['Elu', 'Elu', 'Softplus', 'Selu', 'Selu'],
    );
  } finally {
    dispose(g);
  }
});

function writeModelJson(json: object): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-import-handlers-'));
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

const shapeAttr = (dims: number[]) => ({ shape: { dim: dims.map((d) => ({ size: String(d) })) } });
const T = { T: { type: 'DT_FLOAT' } };

function graphModel(nodes: object[]): string {
  return writeModelJson({ format: 'graph-model', modelTopology: { node: nodes }, weightsManifest: [] });
}

test("tfjs graph Elu, Softplus and Selu become naflow nodes with TF's fixed constants", () => {
  const file = graphModel([
    { name: 'x', op: 'Placeholder', attr: { shape: shapeAttr([-1, 4]), dtype: { type: 'DT_FLOAT' } } },
    { name: 'e', op: 'Elu', input: ['x'], attr: T },
    { name: 'sp', op: 'Softplus', input: ['e'], attr: T },
    { name: 'se', op: 'Selu', input: ['sp'], attr: T },
  ]);
  const g = importGraph(file);
  try {
    const s = nodeSummary(g);
    assert.deepEqual(
      s.map(([n, op]) => `${n}:${op}`),
      ['e:Elu', 'sp:Softplus', 'se:Selu'],
    );
    assert.deepEqual(s[0][2], { alpha: 1 });
    assert.deepEqual(s[1][2], {});
    const selu = s[2][2] as { alpha: number; gamma: number };
    assert.ok(Math.abs(selu.alpha - TF_SELU_ALPHA) < 1e-15 && Math.abs(selu.gamma - TF_SELU_SCALE) < 1e-15, JSON.stringify(selu));
    assert.deepEqual(g.outputs, ['se']);
  } finally {
    dispose(g);
  }
});

test("tfjs layers activations elu, softplus and selu become naflow nodes with Keras' constants", () => {
  const act = (name: string, a: string) => ({ class_name: 'Activation', config: { name, activation: a } });
  const file = writeModelJson({
    format: 'layers-model',
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4] } },
          act('a1', 'elu'),
          act('a2', 'softplus'),
          act('a3', 'selu'),
        ],
      },
    },
    weightsManifest: [],
  });
  const g = importGraph(file);
  try {
    const s = nodeSummary(g);
    assert.deepEqual(
      s.map(([n, op]) => `${n}:${op}`),
      ['a1:Elu', 'a2:Softplus', 'a3:Selu'],
    );
    assert.deepEqual(s[0][2], { alpha: 1 });
    assert.deepEqual(s[1][2], {});
    const selu = s[2][2] as { alpha: number; gamma: number };
    assert.ok(Math.abs(selu.alpha - TF_SELU_ALPHA) < 1e-15 && Math.abs(selu.gamma - TF_SELU_SCALE) < 1e-15, JSON.stringify(selu));
    // the unsupported-op message names the Keras form
    assert.equal(g.nodes[0].sourceOp, "Activation('elu')");
  } finally {
    dispose(g);
  }
});

test('model.json fields of the wrong type are input errors naming the file and the field', () => {
  const badGraph = graphModel([
    { name: 'x', op: 'Placeholder', attr: { shape: shapeAttr([-1, 4, 4, 1]), dtype: { type: 'DT_FLOAT' } } },
    { name: 'p', op: 'MaxPool', input: ['x'], attr: { ...T, ksize: { list: { i: ['1', 'two', '2', '1'] } } } },
  ]);
  assert.throws(
    () => importGraph(badGraph),
    (e: Error) =>
      e instanceof GraphError && e.message.includes(badGraph) && e.message.includes("field 'modelTopology.node[1].attr.ksize.list.i[1]' should be a number"),
  );
  const notNode = graphModel([{ name: 'x', op: 'Placeholder', input: 'x' }]);
  assert.throws(() => importGraph(notNode), /field 'modelTopology\.node\[0\]\.input' should be a list/);

  const badLayers = writeModelJson({
    modelTopology: {
      class_name: 'Sequential',
      config: {
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4, 4, 2] } },
          { class_name: 'LeakyReLU', config: { name: 'lr', alpha: { value: 0.1 } } },
        ],
      },
    },
    weightsManifest: [],
  });
  assert.throws(
    () => importGraph(badLayers),
    (e: Error) =>
      e instanceof GraphError && e.message.includes(badLayers) && e.message.includes("field 'modelTopology.config.layers[1].config.alpha' should be a number"),
  );
  const noClass = writeModelJson({ modelTopology: { class_name: 'Sequential', config: { layers: [{ config: { name: 'a' } }] } } });
  assert.throws(() => importGraph(noClass), /field 'modelTopology\.config\.layers\[0\]\.class_name' should be a string/);
});

test('handler tables: the new ops are mapped in each format, and an op claimed by two families is refused', () => {
  for (const op of ['Elu', 'Softplus', 'Selu', 'Conv', 'Resize']) assert.ok(onnxMappedOps().includes(op), op);
  for (const op of ['Elu', 'Softplus', 'Selu', 'Conv2D', '_FusedMatMul']) assert.ok(tfGraphMappedOps().includes(op), op);
  for (const cls of ['Activation', 'Conv2D', 'Dense', 'Dropout']) assert.ok(kerasMappedLayers().includes(cls), cls);
  const f = () => true;
  assert.throws(() => mergeHandlerTables('test', { a: { Relu: f }, b: { Relu: f } }), /op 'Relu' has handlers in both 'a' and 'b'/);
  assert.deepEqual([...mergeHandlerTables('test', { a: { Relu: f }, b: { Tanh: f } }).keys()], ['Relu', 'Tanh']);
});

test('the ONNX constant folder covers the same ops as before its split into family tables', () => {
  // the folder's op set before the split: UNARY ∪ BINARY ∪ COMPARE ∪ FOLDABLE of the former onnx-host.ts
  const before = [
    'Neg',
    'Abs',
    'Sqrt',
    'Reciprocal',
    'Exp',
    'Log',
    'Floor',
    'Ceil',
    'Round',
    'Sign',
    'Relu',
    'Sigmoid',
    'Tanh',
    'Erf',
    'Add',
    'Sub',
    'Mul',
    'Div',
    'Pow',
    'Max',
    'Min',
    'Sum',
    'Equal',
    'Less',
    'Greater',
    'LessOrEqual',
    'GreaterOrEqual',
    'And',
    'Or',
    'Xor',
    'Identity',
    'Dropout',
    'Cast',
    'CastLike',
    'Unsqueeze',
    'Squeeze',
    'Reshape',
    'Flatten',
    'Transpose',
    'Concat',
    'Gather',
    'Slice',
    'ConstantOfShape',
    'Range',
    'Not',
    'Where',
    'Mod',
    'Mean',
    'Expand',
    'Tile',
    'DequantizeLinear',
    'QuantizeLinear',
    'ReduceProd',
    'ReduceSum',
    'ReduceMax',
    'ReduceMin',
    'ReduceMean',
    'ReduceSumSquare',
    'Split',
    'MatMul',
    'Clip',
    'Size',
    'Shape',
    'Softmax',
  ];
  assert.deepEqual(foldableOps().sort(), before.sort());
});

const scalarInit = (name: string, v: number) => onnx.TensorProto.create({ name, dataType: 1, dims: [], floatData: [v] });
const strAttr = (name: string, s: string) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) });

test('ONNX Erf, Gelu and LayerNormalization become naflow nodes; a GELU chain is fused only when nothing else reads its steps', () => {
  const direct = (lnAxis: number) =>
    onnxModel([
      onnx.NodeProto.create({ name: 'erf', opType: 'Erf', input: ['x'], output: ['a'] }),
      onnx.NodeProto.create({ name: 'gt', opType: 'Gelu', input: ['a'], output: ['b'], attribute: [strAttr('approximate', 'tanh')] }),
      onnx.NodeProto.create({
        name: 'ln',
        opType: 'LayerNormalization',
        input: ['b'],
        output: ['y'],
        attribute: [floatAttr('epsilon', 1e-3), onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: lnAxis })],
      }),
    ]);
  const g = importOnnx(direct(1), 'direct.onnx');
  try {
    // over C, H, W of an NCHW tensor: storage axes 1..3 of naflow's NHWC
    assert.deepEqual(nodeSummary(g), [
      ['erf', 'Erf', {}],
      ['gt', 'Gelu', { approximate: 'tanh' }],
      ['ln', 'LayerNormalization', { axis: 1, epsilon: Math.fround(1e-3) }],
    ]);
  } finally {
    dispose(g);
  }
  // over W alone: no trailing storage axes
  assert.throws(() => importOnnx(direct(-1), 'direct.onnx'), /node 'ln' \(LayerNormalization\): normalises NCHW axes 3\.\.3 \(not channels\)/);
  const gelu = (alsoRead: boolean) => {
    const m = onnx.ModelProto.decode(
      onnxModel([
        onnx.NodeProto.create({ name: '/act/Div', opType: 'Div', input: ['x', 'sqrt2'], output: ['d'] }),
        onnx.NodeProto.create({ name: '/act/Erf', opType: 'Erf', input: ['d'], output: ['e'] }),
        onnx.NodeProto.create({ name: '/act/Add', opType: 'Add', input: ['e', 'one'], output: ['p'] }),
        onnx.NodeProto.create({ name: '/act/Mul', opType: 'Mul', input: ['x', 'p'], output: ['q'] }),
        onnx.NodeProto.create({ name: '/act/Mul_1', opType: 'Mul', input: ['q', 'half'], output: alsoRead ? ['r'] : ['y'] }),
        ...(alsoRead ? [onnx.NodeProto.create({ name: '/other/Add', opType: 'Add', input: ['r', 'e'], output: ['y'] })] : []),
      ]),
    );
    m.graph!.initializer = [scalarInit('sqrt2', Math.SQRT2), scalarInit('one', 1), scalarInit('half', 0.5)];
    return importOnnx(onnx.ModelProto.encode(m).finish(), 'gelu.onnx');
  };
  const fused = gelu(false);
  const kept = gelu(true);
  try {
    assert.deepEqual(nodeSummary(fused), [['/act/Gelu', 'Gelu', { approximate: 'none' }]]);
    assert.deepEqual(
      kept.nodes.map((n) => n.op),
      ['Div', 'Erf', 'Add', 'Mul', 'Mul', 'Add'],
    );
  } finally {
    dispose(fused);
    dispose(kept);
  }
});

test('tfjs graph Erf and tfjs layers gelu, gelu_new and LayerNormalization become naflow nodes', () => {
  const tfGraph = importGraph(
    graphModel([
      { name: 'x', op: 'Placeholder', attr: { shape: shapeAttr([-1, 4]), dtype: { type: 'DT_FLOAT' } } },
      { name: 'erf', op: 'Erf', input: ['x'], attr: T },
    ]),
  );
  const act = (name: string, a: string) => ({ class_name: 'Activation', config: { name, activation: a } });
  const layers = importGraph(
    writeModelJson({
      format: 'layers-model',
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'seq',
          layers: [
            { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 3, 3, 4] } },
            act('g1', 'gelu'),
            act('g2', 'gelu_new'),
            { class_name: 'LayerNormalization', config: { name: 'ln', axis: -1, epsilon: 1e-6, center: false, scale: false } },
          ],
        },
      },
      weightsManifest: [],
    }),
  );
  try {
    assert.deepEqual(nodeSummary(tfGraph), [['erf', 'Erf', {}]]);
    assert.deepEqual(
      nodeSummary(layers).map(([, op, attrs]) => [op, attrs]),
      [
        ['Gelu', { approximate: 'none' }],
        ['Gelu', { approximate: 'tanh' }],
        ['LayerNormalization', { axis: 3, epsilon: 1e-6 }],
      ],
    );
  } finally {
    dispose(tfGraph);
    dispose(layers);
  }
});
