/**
 * A vision transformer (tools/vit_fixture.py: torchvision's VisionTransformer, tiny sizes, exported at
 * opset 13) predicts PyTorch's logits — its ops (attention's MatMul/Softmax, the class token's Concat,
 * LayerNorm and GELU fused at import) are plain forward ops — and `inspect` says in its verdict line
 * why it cannot be explained; so does `explain`'s error.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { formatInspect, inspectGraph } from '../src/inspect.js';
import { forward } from '../src/engine/execute.js';
import { runCascade } from '../src/naflow/cascade.js';
import { GraphError } from '../src/ir/graph.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';

const dir = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'vit-tiny');
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const npy = (f: string) => npyToFloat32(readNpy(path.join(dir, f)));

test('a tiny ViT: PyTorch logits; inspect and explain say it is not a CNN trunk', async () => {
  await initBackend({ backend: 'cpu' });
  const model = await loadModel(path.join(dir, manifest.model));
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(npy(manifest.input.file), manifest.input.shape), [0, 2, 3, 1]));
  try {
    const report = inspectGraph(model.graph);
    assert.ok(report.allSupported);
    const verdict = formatInspect(report).split('\n').at(-1)!;
    assert.match(
      verdict,
      /^Verdict: all \d+ nodes supported, but naflow cannot explain it: not a CNN trunk: after the last spatial \(rank-4\) tensor, '\/conv_proj\/Conv' \(Conv\)/,
    );
    assert.match(verdict, /MatMul ×10.*Softmax ×2/);
    assert.ok(report.notExplainable?.startsWith('not a CNN trunk'));

    const out = model.graph.outputs[0];
    const record = forward(model, x, { record: true, outputs: [out] });
    const logits = record.get(out).dataSync();
    const want = npy(manifest.logits.file);
    const err = Math.max(...want.map((v, i) => Math.abs(v - logits[i]))) / Math.max(...want.map(Math.abs));
    assert.ok(err <= 1e-5, `logits: rel. error ${err}`);
    record.dispose();

    assert.throws(
      () => runCascade(model, x, { mode: 'reference' }),
      (e: Error) => e instanceof GraphError && /cannot find where the convolutional trunk ends .*not a CNN trunk/.test(e.message),
    );
  } finally {
    x.dispose();
    model.dispose();
  }
});
