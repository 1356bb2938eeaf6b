/**
 * Parity with the authors' released code (github.com/ly9802/NAFlow, docs/spec.md §7 "reference mode").
 *
 * The fixture test/fixtures/parity/alexnet-chelsea/ was written by tools/parity/run_authors.py, which runs
 * the authors' own AlexNet_Flow.forward (reduced-width AlexNet, seeded weights, the photo chelsea.png
 * preprocessed by their code) with two run-time patches (a PyTorch 1.13 shim for `materialize_grads`, and
 * their provably all-zero dense Jacobians returned as a zero-stride tensor — see tools/parity/README.md).
 * It holds the 11 raw maps (Σ_c ReLU(B ⊙ G), before normalisation), the exact input tensor, the model
 * (ONNX) and which ONNX tensor each map belongs to.
 *
 * naflow's reference mode must reproduce every map: max|a − b| / max|b| ≤ 1e-4 per map, and the class.
 *
 * In-place ReLU: the authors' AlexNet uses nn.ReLU(inplace=True), so the tensor their code keeps as a
 * conv's output / a ReLU's input IS the ReLU output. Those maps are matched to the ONNX ReLU outputs
 * (`tensor`), and also to the ONNX conv output (the pre-activation, `alsoEquals`): naflow's map of the
 * pre-activation equals the ReLU output's, since its importance is zero wherever it is ≤ 0.
 *
 * Set NAFLOW_PARITY_FIXTURE to another directory written by the same script (e.g. the full-width run,
 * `--width full --out /tmp/parity-full`, ~245 MB, not committed) to check that one instead.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { runCascade } from '../src/naflow/cascade.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = process.env.NAFLOW_PARITY_FIXTURE ?? path.join(repoRoot, 'test/fixtures/parity/alexnet-chelsea');
const TOLERANCE = 1e-4;

interface MapEntry {
  index: number;
  file: string;
  tensor: string;
  alsoEquals?: string;
  shape: [number, number];
  bpfmMismatchesVsForwardTimesMask?: number;
}

/** max|a − b| / max|b| */
function relError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  assert.ok(scale > 0, 'the authors\u2019 map is not all zero');
  return diff / scale;
}

// the native graph (where onnxruntime-node is available; else it runs op by op as well) and the op-by-op path
for (const [backend, engine] of [
  ['cpu', 'auto'],
  ['cpu', 'per-op'],
  ['wasm', 'per-op'],
] as const) {
  test(`reference mode reproduces the authors' released code on AlexNet + chelsea.png (${backend}, engine ${engine})`, async (t) => {
    await initBackend({ backend });
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const model = await loadModel(path.join(dir, manifest.model));
    const input = readNpy(path.join(dir, manifest.input.file));
    assert.deepEqual(input.shape, manifest.input.shape);
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(input), input.shape as [number, number, number, number]), [0, 2, 3, 1]));
    const before = tf.memory().numTensors;
    const flow = runCascade(model, x, { mode: 'reference', engine });
    assert.equal(tf.memory().numTensors, before, 'the cascade frees what it allocates');
    x.dispose();
    model.dispose();

    assert.equal(flow.classIndex, manifest.predictedClass, 'the predicted class');
    const maps: MapEntry[] = manifest.maps;
    assert.equal(maps.length, 11, 'the authors\u2019 code emits 11 maps for AlexNet');
    const report: string[] = [];
    for (const entry of maps) {
      // The premise of reference mode: the code's BPFM of every unit input is its forward value times
      // [G != 0]. The runner counts exceptions; the ones that could occur in principle are listed in
      // tools/parity/README.md (max-unpool write collisions, ties at positive values), and none does here.
      assert.equal(entry.bpfmMismatchesVsForwardTimesMask ?? 0, 0, `map ${entry.index}: the authors' BPFM is not A * [G != 0]`);
      const want = npyToFloat32(readNpy(path.join(dir, entry.file)));
      for (const name of [entry.tensor, entry.alsoEquals].filter((n): n is string => !!n)) {
        const layer = flow.layers.find((l) => l.name === name);
        assert.ok(layer, `naflow has a map for ${name}`);
        assert.deepEqual(layer.shape.slice(0, 2), entry.shape, `${name}: map size`);
        const err = relError(layer.map, want);
        report.push(`map ${entry.index} ${name}: ${err.toExponential(2)}`);
        assert.ok(err <= TOLERANCE, `map ${entry.index} (${name}): relative error ${err} > ${TOLERANCE}`);
      }
    }
    t.diagnostic(report.join('\n'));
  });
}
