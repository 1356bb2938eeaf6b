/**
 * The bundled similarity models' accuracies, reproduced by naflow's own pipeline (image decoding,
 * preprocessing from the model card, forward, the same targets the explanations use) against the
 * figures their training scripts logged (models/<name>/training-log.txt): within ±1 point.
 *   ProtoNet (Omniglot): 20-way 1-shot on the 20 one-shot runs of ../shared/data/omniglot/all_runs.zip
 *   SimCLR (CIFAR-10): weighted k-NN (k = 20, τ = 0.07) on ../shared/data/cifar10-test, bank = first 50
 *   images per class, queries = the other 50
 * With NAFLOW_LONG=1: Tiny Darknet retrieval precision@1 over ../shared/data/imagenet-val1300.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { embed, imageFiles } from '../src/similarity/embed.js';
import { fewShotAccuracy, knnAccuracy, retrievalPrecisionAt1, type Episode } from '../src/similarity/evaluate.js';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';

const shared = path.resolve(PACKAGE_ROOT, '../shared/data');
const protonet = path.join(PACKAGE_ROOT, 'models/protonet-omniglot/protonet-omniglot.onnx');
const simclr = path.join(PACKAGE_ROOT, 'models/simclr-cifar10/simclr-cifar10.onnx');

/** The FINAL figure (in %) of a training log whose line matches `pattern`. */
function logged(model: string, pattern: RegExp): number {
  const log = fs.readFileSync(path.join(path.dirname(model), 'training-log.txt'), 'utf8');
  const line = log.split('\n').find((l) => l.startsWith('FINAL') && pattern.test(l));
  assert.ok(line, `${model}: no FINAL line matching ${pattern} in training-log.txt`);
  return Number(/([\d.]+) %\s*$/.exec(line!)![1]);
}

const omniglot = path.join(shared, 'omniglot/all_runs.zip');
test('ProtoNet: 20-way 1-shot accuracy on the Omniglot one-shot runs = the training script ±1 point', {
  skip: fs.existsSync(omniglot) ? false : `${omniglot} is absent (../shared/data)`,
}, async (t) => {
  await initBackend({ backend: 'wasm' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-omniglot-'));
  const model = await loadModel(protonet);
  try {
    for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(fs.readFileSync(omniglot))))) {
      if (name.endsWith('/')) continue;
      fs.mkdirSync(path.join(tmp, path.dirname(name)), { recursive: true });
      fs.writeFileSync(path.join(tmp, name), bytes);
    }
    const episodes: Episode[] = [];
    for (let r = 1; r <= 20; r++) {
      const run = `run${String(r).padStart(2, '0')}`;
      const words = fs
        .readFileSync(path.join(tmp, run, 'class_labels.txt'), 'utf8')
        .split(/\s+/)
        .filter(Boolean);
      const support = imageFiles(path.join(tmp, run, 'training'));
      const ep: Episode = { support: [], queries: [] };
      for (const f of support) ep.support.push({ label: path.basename(f), embeddings: [await embed(model, f)] });
      for (let i = 0; i < words.length; i += 2)
        ep.queries.push({ embedding: await embed(model, path.join(tmp, words[i])), label: path.basename(words[i + 1]) });
      episodes.push(ep);
    }
    assert.equal(
      episodes.reduce((a, e) => a + e.queries.length, 0),
      400,
    );
    const ours = fewShotAccuracy(episodes, 'euclidean').accuracy * 100;
    const theirs = logged(protonet, /20-way 1-shot/);
    t.diagnostic(`ProtoNet 20-way 1-shot: naflow ${ours.toFixed(2)} %, training script ${theirs.toFixed(2)} %`);
    assert.ok(Math.abs(ours - theirs) <= 1, `naflow ${ours} % vs training script ${theirs} %`);
    assert.ok(ours > 50, 'far above chance (5 %)');
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

const cifar = path.join(shared, 'cifar10-test');
test('SimCLR: weighted k-NN accuracy on cifar10-test (50/50 split per class) = the training script ±1 point', {
  skip: fs.existsSync(cifar) ? false : `${cifar} is absent (../shared/data)`,
}, async (t) => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(simclr);
  try {
    const bank = { embeddings: [] as Float32Array[], labels: [] as string[] };
    const queries = { embeddings: [] as Float32Array[], labels: [] as string[] };
    for (const label of fs.readdirSync(cifar).sort()) {
      const files = imageFiles(path.join(cifar, label));
      for (const [i, f] of files.entries()) {
        const into = i < 50 ? bank : queries;
        into.embeddings.push(await embed(model, f));
        into.labels.push(label);
      }
    }
    assert.equal(queries.embeddings.length, 500);
    const ours = knnAccuracy(bank, queries, { k: 20, temperature: 0.07 }) * 100;
    const theirs = logged(simclr, /cifar10-test/);
    t.diagnostic(`SimCLR k-NN: naflow ${ours.toFixed(2)} %, training script ${theirs.toFixed(2)} %`);
    assert.ok(Math.abs(ours - theirs) <= 1, `naflow ${ours} % vs training script ${theirs} %`);
    assert.ok(ours > 30, 'far above chance (10 %)');
  } finally {
    model.dispose();
  }
});

const imagenet = path.join(shared, 'imagenet-val1300');
const long = process.env.NAFLOW_LONG === '1';
test('Tiny Darknet retrieval (pooled last feature map, cosine): precision@1 over imagenet-val1300', {
  skip: !long ? 'set NAFLOW_LONG=1 (about a minute)' : fs.existsSync(imagenet) ? false : `${imagenet} is absent`,
}, async (t) => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const items = JSON.parse(fs.readFileSync(path.join(imagenet, 'labels-boxes.json'), 'utf8')) as { file: string; wnid: string }[];
    const embeddings: Float32Array[] = [];
    for (const it of items) embeddings.push(await embed(model, path.join(imagenet, it.file)));
    const r = retrievalPrecisionAt1(
      embeddings,
      items.map((i) => i.wnid),
      'cosine',
    );
    t.diagnostic(
      `Tiny Darknet retrieval: ${r.queries} queries in ${r.classes} classes, precision@1 ${(r.precisionAt1 * 100).toFixed(2)} % (by class ${(r.precisionAt1ByClass * 100).toFixed(2)} %)`,
    );
    assert.equal(r.queries, 949);
    assert.ok(r.precisionAt1 > 0.2, `precision@1 ${r.precisionAt1}: 100× chance (~0.2 %); measured 28.35 % (2026-11-26)`);
  } finally {
    model.dispose();
  }
});
