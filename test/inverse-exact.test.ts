/**
 * NAFlow's exact inverse rules (docs/spec.md §5) on the cpu backend, section 1 of inverse.test.ts's plan:
 * inverse(forward(x)) = x (1e-5 rel) for BatchNormalization, LeakyRelu, PRelu and the data-movement ops;
 * Relu and Clip invert as the identity on values, a constant Pad crops, Slice scatters into its forward input.
 * Every inverse: one entry per input, null for constants, no input tensor returned, no leaks.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { InverseResult } from '../src/ops/registry.js';
import { assertClose, rand, useBackend } from './helpers/op-context.js';
import { data, disposeAll, invert, makeCase } from './helpers/inverse-case.js';

await useBackend('cpu');

/* ------------------------------------------------------------------------------------------------ */
/* 1. exact inverses round-trip                                                                      */
/* ------------------------------------------------------------------------------------------------ */

function roundTrip(op: string, attrs: object, inputs: tf.Tensor[], isConst: boolean[] = [], tol = 1e-5): InverseResult {
  const c = makeCase(op, attrs, inputs, isConst);
  const res = invert(c, c.y);
  res.b.forEach((b, i) => {
    if (!b) return;
    assertClose(data(b), data(c.inputs[i]), tol, 0, `${op}: inverse(forward(x)) input ${i}`);
  });
  const acts = c.inputs.map((_, i) => i).filter((i) => !isConst[i]);
  for (const i of acts) assert.ok(res.b[i], `${op}: activation input ${i} got an estimate`);
  disposeAll(res);
  c.dispose();
  return res;
}

test('exact inverses round-trip: BatchNormalization (one channel with γ = 0 keeps its input)', () => {
  const C = 4;
  const gamma = tf.tensor1d([1.5, -0.7, 0, 2.2]);
  roundTrip(
    'BatchNormalization',
    { epsilon: 1e-5 },
    [rand([1, 3, 3, C], 1, -2, 2), gamma, rand([C], 2), rand([C], 3), rand([C], 4, 0.2, 2)],
    [false, true, true, true, true],
  );
  // B_out ≠ A_out: (B_out − shift)/scale on live channels, the forward input on the dead one
  const x = rand([1, 2, 2, C], 5);
  const consts = [tf.tensor1d([1.5, -0.7, 0, 2.2]), rand([C], 6), rand([C], 7), rand([C], 8, 0.2, 2)];
  const c = makeCase('BatchNormalization', { epsilon: 1e-5 }, [x, ...consts], [false, true, true, true, true]);
  const bOut = rand(c.y.shape, 9);
  const res = invert(c, bOut);
  const [g, be, mu, va] = consts.map((t) => t.dataSync());
  const bo = bOut.dataSync(),
    xv = x.dataSync(),
    got = res.b[0]!.dataSync();
  for (let i = 0; i < got.length; i++) {
    const ch = i % C;
    const scale = g[ch] / Math.sqrt(va[ch] + 1e-5),
      shift = be[ch] - mu[ch] * scale;
    const want = Math.abs(scale) < 1e-12 ? xv[i] : (bo[i] - shift) / scale;
    assert.ok(Math.abs(got[i] - want) <= 1e-5 * (1 + Math.abs(want)), `BN inverse at ${i}: ${got[i]} vs ${want}`);
  }
  disposeAll(res);
  bOut.dispose();
  c.dispose();
});

test('exact inverses round-trip: LeakyRelu, PRelu (positive, negative and zero slopes)', () => {
  roundTrip('LeakyRelu', { alpha: 0.1 }, [rand([1, 4, 4, 3], 11, -3, 3)]);
  roundTrip('LeakyRelu', { alpha: 0.01 }, [rand([2, 5], 12, -3, 3)]);
  roundTrip('PRelu', {}, [rand([1, 4, 4, 4], 13, -3, 3), tf.tensor4d([0.25, -0.5, 0, 1.5], [1, 1, 1, 4])], [false, true]);
  // exactness off the forward point: B_out < 0 is divided by α
  const c = makeCase('LeakyRelu', { alpha: 0.2 }, [tf.tensor1d([1, -1, 2, -2])]);
  const b = tf.tensor1d([-0.4, 0.3, 0, -1]);
  const res = invert(c, b);
  assertClose(data(res.b[0]!), [-2, 0.3, 0, -5], 1e-6, 0, 'LeakyRelu exact inverse');
  disposeAll(res);
  b.dispose();
  c.dispose();
});

test('exact inverses round-trip: Concat, Reshape, Flatten, Transpose, Pad, Slice, Identity, Dropout', () => {
  const r = roundTrip('Concat', { axis: 3 }, [rand([1, 3, 3, 2], 21), rand([1, 3, 3, 1], 22), rand([1, 3, 3, 4], 23)], [false, true, false]);
  assert.equal(r.b[1], null);
  roundTrip('Concat', { axis: 1 }, [rand([1, 2, 3, 2], 24), rand([1, 4, 3, 2], 25)]);
  roundTrip('Reshape', { shape: [1, -1, 6] }, [rand([1, 4, 3, 2], 26)]);
  roundTrip('Flatten', { axis: 1 }, [rand([1, 4, 3, 2], 27)]);
  roundTrip('Transpose', { perm: [0, 3, 1, 2] }, [rand([1, 4, 3, 2], 28)]);
  roundTrip('Transpose', { perm: [2, 0, 3, 1] }, [rand([2, 4, 3, 5], 29)]);
  roundTrip(
    'Pad',
    {
      pads: [
        [0, 0],
        [1, 2],
        [2, 0],
        [0, 0],
      ],
      mode: 'constant',
      value: 0.5,
    },
    [rand([1, 3, 4, 2], 30)],
  );
  roundTrip(
    'Pad',
    {
      pads: [
        [0, 0],
        [0, 0],
        [0, 0],
        [8, 8],
      ],
      mode: 'constant',
      value: 0,
    },
    [rand([1, 2, 2, 16], 31)],
  );
  roundTrip(
    'Pad',
    {
      pads: [
        [0, 0],
        [2, 1],
        [1, 2],
        [0, 0],
      ],
      mode: 'reflect',
      value: 0,
    },
    [rand([1, 4, 4, 2], 32)],
  );
  roundTrip(
    'Pad',
    {
      pads: [
        [0, 0],
        [2, 1],
        [1, 3],
        [0, 0],
      ],
      mode: 'edge',
      value: 0,
    },
    [rand([1, 4, 4, 2], 33)],
  );
  roundTrip(
    'Pad',
    {
      pads: [
        [0, 0],
        [-1, 2],
        [1, -2],
        [0, 0],
      ],
      mode: 'constant',
      value: 0,
    },
    [rand([1, 4, 5, 2], 34)],
  );
  roundTrip('Slice', { starts: [0], ends: [32], axes: [1], steps: [2] }, [rand([1, 6, 5, 2], 35)]);
  roundTrip('Slice', { starts: [4, 1], ends: [0, 5], axes: [2, 3], steps: [-2, 3] }, [rand([1, 3, 6, 7], 36)]);
  roundTrip('Identity', {}, [rand([1, 2, 2, 3], 37)]);
  roundTrip('Dropout', {}, [rand([1, 2, 2, 3], 38)]);
});

test('Relu and Clip invert as the identity on values; Pad crops; Slice scatters into the forward input', () => {
  for (const [op, attrs] of [
    ['Relu', {}],
    ['Clip', { min: 0, max: 6 }],
  ] as const) {
    const c = makeCase(op, attrs, [rand([1, 3, 3, 2], 40, -2, 8)]);
    const b = rand(c.y.shape, 41);
    const res = invert(c, b);
    assertClose(data(res.b[0]!), data(b), 0, 0, `${op} identity`);
    disposeAll(res);
    b.dispose();
    c.dispose();
  }
  {
    const c = makeCase(
      'Pad',
      {
        pads: [
          [0, 0],
          [1, 1],
          [0, 2],
          [0, 0],
        ],
        mode: 'constant',
        value: 0,
      },
      [rand([1, 2, 2, 1], 42)],
    );
    const b = tf.tensor4d(
      Float32Array.from({ length: 16 }, (_, i) => i),
      [1, 4, 4, 1],
    );
    const res = invert(c, b);
    assertClose(data(res.b[0]!), [4, 5, 8, 9], 0, 0, 'Pad crop');
    disposeAll(res);
    b.dispose();
    c.dispose();
  }
  {
    // ResNet option-A shortcut: rows/cols 0, 2, 4 are picked; the others keep their forward values
    const x = tf.tensor4d(
      Float32Array.from({ length: 25 }, (_, i) => 100 + i),
      [1, 5, 5, 1],
    );
    const c = makeCase('Slice', { starts: [0, 0], ends: [5, 5], axes: [1, 2], steps: [2, 2] }, [x]);
    const b = tf.tensor4d(
      Float32Array.from({ length: 9 }, (_, i) => -i),
      [1, 3, 3, 1],
    );
    const res = invert(c, b);
    const got = res.b[0]!.dataSync();
    for (let r = 0; r < 5; r++)
      for (let q = 0; q < 5; q++) {
        const want = r % 2 === 0 && q % 2 === 0 ? -((r / 2) * 3 + q / 2) : 100 + r * 5 + q;
        assert.equal(got[r * 5 + q], want, `Slice scatter at (${r},${q})`);
      }
    disposeAll(res);
    b.dispose();
    c.dispose();
  }
});
