/** Every canonical op of the IR has a rule with forward, vjp and inferShape, registered by src/ops/index. */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { OpType } from '../src/ir/graph.js';
import { getOpRule, supportedOps } from '../src/ops/index.js';

// Record<OpType, …> makes the compiler fail here when the IR gains an op this list lacks.
const ALL: Record<OpType, true> = {
  Conv: true,
  ConvTranspose: true,
  BatchNormalization: true,
  Relu: true,
  LeakyRelu: true,
  PRelu: true,
  Clip: true,
  Sigmoid: true,
  HardSigmoid: true,
  HardSwish: true,
  Tanh: true,
  Add: true,
  Sub: true,
  Mul: true,
  Div: true,
  Concat: true,
  MaxPool: true,
  AveragePool: true,
  GlobalAveragePool: true,
  GlobalMaxPool: true,
  ReduceMean: true,
  Gemm: true,
  MatMul: true,
  Flatten: true,
  Reshape: true,
  Transpose: true,
  Slice: true,
  Pad: true,
  Resize: true,
  Dropout: true,
  Identity: true,
  Softmax: true,
  Elu: true,
  Softplus: true,
  Selu: true,
  Gelu: true,
  Erf: true,
  LayerNormalization: true,
};

test('all IR ops are registered with forward, vjp and inferShape', () => {
  for (const op of Object.keys(ALL)) {
    const r = getOpRule(op);
    assert.ok(r, `${op} registered`);
    assert.equal(r.op, op);
    assert.equal(typeof r.forward, 'function', `${op}.forward`);
    assert.equal(typeof r.vjp, 'function', `${op}.vjp`);
    assert.equal(typeof r.inferShape, 'function', `${op}.inferShape`);
  }
  assert.deepEqual(supportedOps(), Object.keys(ALL).sort());
});
