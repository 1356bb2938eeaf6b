/**
 * Reference mode (docs/spec.md §7) equals Σ_c ReLU(A ⊙ ∂S/∂A), computed here independently from the
 * PyTorch-saved activations and gradients of the AlexNet, VGG16 and ResNet-18 fixtures — per-layer
 * LayerCAM, Σ_c A ⊙ ReLU(∂S/∂A), where A ≥ 0 (AlexNet's and VGG16's post-ReLU / max-pool tensors;
 * ResNet-18's middle tensor is a residual sum before its ReLU). Both engines: one native graph (where
 * onnxruntime-node is available) and op by op. Tolerance: max|a−b| / max|b| ≤ 1e-5.
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
import { nativeStatus } from '../src/runtime/native.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(repoRoot, 'test/fixtures/onnx');

function referenceMap(value: Float32Array, grad: Float32Array, [c, h, w]: number[]): Float32Array {
  const out = new Float32Array(h * w);
  for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) out[p] += Math.max(0, value[k * h * w + p] * grad[k * h * w + p]);
  return out;
}

const engines = nativeStatus().available ? (['auto', 'per-op'] as const) : (['per-op'] as const);
for (const [name, engine] of ['alexnet', 'vgg16', 'resnet18'].flatMap((n) => engines.map((e) => [n, e] as const)))
  test(`reference mode equals Σ_c ReLU(A ⊙ G) from PyTorch gradients (${name}, engine ${engine})`, async () => {
    await initBackend({ backend: 'cpu' });
    const dir = path.join(fixtures, name);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const model = await loadModel(path.join(dir, manifest.model));
    const input = npyToFloat32(readNpy(path.join(dir, manifest.input.file)));
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(input, manifest.input.shape), [0, 2, 3, 1]));
    const before = tf.memory().numTensors;
    const flow = runCascade(model, x, { mode: 'reference', engine });
    assert.equal(flow.engine, engine === 'auto' ? 'native-graph' : 'per-op');
    assert.equal(tf.memory().numTensors, before, 'the cascade frees what it allocates');
    assert.equal(flow.classIndex, manifest.topClass);
    for (const inner of manifest.inner) {
      const layer = flow.layers.find((l) => l.name === inner.tensor);
      assert.ok(layer, `a map for ${inner.tensor}`);
      const want = referenceMap(npyToFloat32(readNpy(path.join(dir, inner.value))), npyToFloat32(readNpy(path.join(dir, inner.grad))), inner.shape.slice(1));
      let diff = 0;
      let scale = 0;
      want.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(v - layer!.map[i]));
        scale = Math.max(scale, Math.abs(v));
      });
      assert.ok(scale > 0, `${inner.tensor}: the map is not all zero`);
      assert.ok(diff / scale <= 1e-5, `${inner.tensor}: rel. error ${diff / scale}`);
    }
    x.dispose();
    model.dispose();
  });
