/**
 * Op roles on the rules, the gate pass and the generated op table:
 * * the roles the rules declare reproduce the op-name sets they replaced (HEAD_OPS/LAYOUT_OPS of the
 *   trunk-end search, WEIGHT_OPS of the sanity check, the ReLU family of guided backprop,
 *   SIGMOID_LIKE/SEE_THROUGH of the Mul inverse, the final Softmax/Sigmoid of the score search), written
 *   out here as they stood;
 * * the gate pass marks the gate operand of SiLU (x·σ(x), either order), a squeeze-excitation gate and a
 *   gate seen through layout ops, and nothing where no operand or both are gates; the Mul inverse of a
 *   Model's SiLU holds σ(x) and moves x by the closed form s·Δ/(s² + λ²);
 * * docs/ops.md is what the registry generates.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { PACKAGE_ROOT } from '../src/defaults.js';
import type { AnyNode } from '../src/ir/graph.js';
import { getOpRule, placeOf, rectifierAt, rolesOf, supportedOps } from '../src/ops/registry.js';
import { markGates } from '../src/ops/gate-pass.js';
import { opTable } from '../src/ops/table.js';
import { forward } from '../src/engine/execute.js';
import { node, testModel } from './helpers/graph.js';
import { assertClose, uniform } from './helpers/op-context.js';

await tf.setBackend('cpu');

const opsWhere = (pred: (op: string) => boolean) => supportedOps().filter(pred).sort();

test('the declared roles reproduce the op-name sets they replaced', () => {
  // (LayerNormalization joined later: ConvNeXt's classifier normalises the pooled features)
  const HEAD_OR_LAYOUT = [
    'GlobalAveragePool',
    'GlobalMaxPool',
    'ReduceMean',
    'Flatten',
    'Reshape',
    'Gemm',
    'MatMul',
    'Transpose',
    'Identity',
    'Dropout',
    'LayerNormalization',
  ];
  assert.deepEqual(
    opsWhere((op) => placeOf(op) !== 'trunk'),
    HEAD_OR_LAYOUT.sort(),
  );
  assert.deepEqual(
    opsWhere((op) => placeOf(op) === 'layout'),
    ['Identity', 'Dropout', 'Reshape', 'Flatten', 'Transpose'].sort(),
  );
  assert.deepEqual(
    opsWhere((op) => rolesOf(op).gate === true),
    ['Sigmoid', 'HardSigmoid', 'Softmax'].sort(),
  );
  assert.deepEqual(
    opsWhere((op) => rolesOf(op).weightInput !== undefined),
    ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'],
  );
  for (const op of ['Conv', 'ConvTranspose', 'Gemm', 'MatMul']) assert.equal(rolesOf(op).weightInput, 1, op);
  assert.deepEqual(
    opsWhere((op) => rolesOf(op).probabilities === true),
    ['Sigmoid', 'Softmax'],
  );
  assert.equal(placeOf('NoSuchOp'), 'trunk');
});

test('rectifiers: Relu (slope 0), LeakyRelu (its α), Clip from 0 (cut off at its max), nothing else', () => {
  const at = (op: string, attrs: object) => rectifierAt(node('n', op, ['x'], attrs));
  assert.deepEqual(at('Relu', {}), { negativeSlope: 0 });
  assert.deepEqual(at('LeakyRelu', { alpha: 0.2 }), { negativeSlope: 0.2 });
  assert.deepEqual(at('Clip', { min: 0, max: 6 }), { negativeSlope: 0, max: 6 });
  assert.equal(at('Clip', { min: -1, max: 1 }), undefined);
  assert.deepEqual(
    opsWhere((op) => rolesOf(op).rectifier !== undefined),
    ['Clip', 'LeakyRelu', 'Relu'],
  );
});

/** A graph of `nodes` over x [1, 4, 4, 3] (no constants), marked as a Model marks it. */
function marked(nodes: AnyNode[]): Map<string, number | undefined> {
  const m = testModel('op-roles.test', [1, 4, 4, 3], nodes, []);
  const gates = new Map(m.graph.nodes.filter((n) => n.op === 'Mul').map((n) => [n.name, n.gate] as [string, number | undefined]));
  m.dispose();
  return gates;
}

test('the gate pass marks SiLU, a squeeze-excitation gate and a gate behind layout ops', () => {
  assert.deepEqual(marked([node('s', 'Sigmoid', ['x']), node('silu', 'Mul', ['x', 's'])]), new Map([['silu', 1]]));
  assert.deepEqual(marked([node('s', 'Sigmoid', ['x']), node('silu', 'Mul', ['s', 'x'])]), new Map([['silu', 0]]));
  // squeeze-excitation: global pool → hard sigmoid → scale the feature map (broadcast, also held by size)
  assert.deepEqual(
    marked([
      node('r', 'Relu', ['x']),
      node('p', 'GlobalAveragePool', ['r']),
      node('g', 'HardSigmoid', ['p'], { alpha: 0.2, beta: 0.5 }),
      node('se', 'Mul', ['r', 'g']),
    ]),
    new Map([['se', 1]]),
  );
  assert.deepEqual(
    marked([node('s', 'Sigmoid', ['x']), node('i', 'Identity', ['s']), node('t', 'Transpose', ['i'], { perm: [0, 1, 2, 3] }), node('m', 'Mul', ['t', 'x'])]),
    new Map([['m', 0]]),
  );
  // no gate, two gates, a gate behind a trunk op: unmarked
  assert.deepEqual(marked([node('r', 'Relu', ['x']), node('m', 'Mul', ['x', 'r'])]), new Map([['m', undefined]]));
  assert.deepEqual(
    marked([node('a', 'Sigmoid', ['x']), node('b', 'Tanh', ['x']), node('c', 'Sigmoid', ['b']), node('m', 'Mul', ['a', 'c'])]),
    new Map([['m', undefined]]),
  );
  assert.deepEqual(marked([node('s', 'Sigmoid', ['x']), node('r', 'Relu', ['s']), node('m', 'Mul', ['x', 'r'])]), new Map([['m', undefined]]));
});

test('the gate pass re-marks a graph that changed (a mark is dropped when its gate goes)', () => {
  const m = testModel('op-roles.test', [1, 4, 4, 3], [node('s', 'Sigmoid', ['x']), node('silu', 'Mul', ['x', 's'])], []);
  const mul = m.graph.nodes[1];
  assert.equal(mul.gate, 1);
  m.graph.nodes[0] = node('s', 'Relu', ['x']);
  markGates(m.graph);
  assert.equal(mul.gate, undefined);
  m.dispose();
});

test("a Model's SiLU: the Mul inverse holds σ(x) and moves x by s·Δ/(s² + λ²)", () => {
  const m = testModel('op-roles.test', [1, 4, 4, 3], [node('s', 'Sigmoid', ['x']), node('silu', 'Mul', ['x', 's'])], []);
  const xv = uniform([1, 4, 4, 3], 5, -3, 3);
  const x = tf.tensor(xv, [1, 4, 4, 3]);
  const rec = forward(m, x, { record: true, outputs: ['silu'] });
  const mul = m.graph.nodes[1];
  const [xa, s, y] = ['x', 's', 'silu'].map((t) => rec.get(t));
  const bOut = tf.tensor(uniform([1, 4, 4, 3], 6), [1, 4, 4, 3]);
  const rho = 0.3;
  const res = getOpRule('Mul')!.inverse!(
    { inputs: [xa, s], outputs: [y], bOut: [bOut], settings: { rho, atol: 0, btol: 0, maxIter: 0, powerIterations: 0 } },
    m.context(mul),
  );
  assert.equal(res.b[1], null, 'the gate gives no estimate');
  const sv = s.dataSync(),
    yv = y.dataSync(),
    bo = bOut.dataSync();
  const lambda = rho * Math.max(...Array.from(sv, Math.abs));
  assertClose(
    res.b[0]!.dataSync(),
    Float64Array.from(xv, (v, i) => v + (sv[i] * (bo[i] - yv[i])) / (sv[i] ** 2 + lambda ** 2)),
    1e-5,
    1e-7,
    'SiLU',
  );
  tf.dispose([x, bOut, res.b[0]!]);
  rec.dispose();
  m.dispose();
});

test('docs/ops.md is the table the registry generates (regenerate: node dist/tools/op-table.js)', () => {
  const file = fs.readFileSync(path.join(PACKAGE_ROOT, 'docs', 'ops.md'), 'utf8');
  assert.equal(file, opTable());
  for (const op of supportedOps()) {
    const line = getOpRule(op)!.inverseRule;
    assert.ok(line.length > 0 && !line.includes('\n') && !line.includes('|'), `${op}: one table-safe line`);
    assert.ok(file.includes(`| ${op} |`), `${op} has a row`);
  }
});
