/**
 * The `naflow` command line, spawned as a user would run it (`node bin/naflow.js …`): the bundled
 * default, exit codes and the error messages for the common mistakes.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, DEFAULT_IMAGE } from '../src/defaults.js';
import { naflow, type Run } from './helpers/run-cli.js';

const PHOTOS = path.join(PACKAGE_ROOT, 'assets', 'photos');
const CAT_IDS = ['n02124075', 'n02123045', 'n02123159']; // Egyptian cat, tabby, tiger cat
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-cli-test-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function parseLines(stdout: string): Array<{ image: string; top: Array<{ index: number; label: string | null; prob: number; id: string | null }> }> {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace expected:\n${r.stderr}`);
}

test('predict --json on the bundled default: 5 entries, chelsea.png is a cat', async () => {
  const r = await naflow(['predict', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = parseLines(r.stdout);
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(path.basename(line.image), 'chelsea.png');
  assert.equal(path.resolve(line.image), DEFAULT_IMAGE);
  assert.equal(line.top.length, 5);
  for (const p of line.top) {
    assert.deepEqual(Object.keys(p).sort(), ['id', 'index', 'label', 'prob']);
    assert.ok(Number.isInteger(p.index) && p.index >= 0 && p.index < 1000);
    assert.ok(p.prob > 0 && p.prob <= 1);
    assert.equal(typeof p.label, 'string');
    assert.match(p.id ?? '', /^n\d{8}$/);
  }
  for (let i = 1; i < 5; i++) assert.ok(line.top[i - 1].prob >= line.top[i].prob, 'sorted by probability');
  assert.ok(CAT_IDS.includes(line.top[0].id!), `top-1 ${line.top[0].id} (${line.top[0].label}) is not a cat`);
});

test('predict: an image as first argument goes to the default model; several images, --top, text output', async () => {
  const imgs = ['chelsea.png', 'coffee.png'].map((f) => path.join(PHOTOS, f));
  const j = await naflow(['predict', ...imgs, '--json', '--top', '3']);
  assert.equal(j.code, 0, j.stderr);
  const lines = parseLines(j.stdout);
  assert.deepEqual(
    lines.map((l) => l.image),
    imgs,
  );
  assert.ok(lines.every((l) => l.top.length === 3));
  assert.ok(CAT_IDS.includes(lines[0].top[0].id!));
  assert.equal(lines[1].top[0].label, 'espresso');
  const t = await naflow(['predict', imgs[0], '--top', '2']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /chelsea\.png\n\s+1\. Egyptian cat\s+n02124075\s+\d+\.\d\d%\n\s+2\. /);
});

test('predict with 2 wasm threads exits by itself (thread pool shut down); self-check fallback', async () => {
  const r = await naflow(['predict', '--json', '--threads', '2'], {}, 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(parseLines(r.stdout)[0].top.length, 5);
  const e = await naflow(['predict', '--json'], { NAFLOW_THREADS: '1', NAFLOW_BACKEND: 'wasm' }, 60_000);
  assert.equal(e.code, 0, e.stderr);
  // the self-check's fallback to one thread (forced): a warning, same result
  const f = await naflow(['predict', '--json', '--threads', '2'], { NAFLOW_THREADS_SELFCHECK: 'fail' }, 60_000);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stderr, /^naflow: warning: the extra wasm threads did not speed up a test convolution .*; using 1 thread$/m);
  assert.deepEqual(
    parseLines(f.stdout)[0].top.map((p) => p.index),
    parseLines(r.stdout)[0].top.map((p) => p.index),
  );
});

test('inspect on the default: all nodes supported, exit 0', async () => {
  const r = await naflow(['inspect']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[lines.length - 1], /^Verdict: all \d+ nodes supported$/);
  assert.match(r.stdout, /conv2d_1\s+Conv\s+Conv2D\s+\[\?,224,224,16\]\s+432\s+yes/);
  const j = await naflow(['inspect', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const rep = JSON.parse(j.stdout);
  assert.equal(rep.allSupported, true);
  assert.equal(rep.rows.length, Number(/all (\d+) nodes/.exec(rep.verdict)![1]));
  assert.equal(
    rep.totalParams,
    rep.rows.reduce((s: number, x: { params: number }) => s + x.params, 0),
  );
});

test('inspect on a model with an unsupported op: lists it by op and node, exit 3', async () => {
  const bad = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'bad', 'unknown-op.onnx');
  const r = await naflow(['inspect', bad]);
  assert.equal(r.code, 3, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[lines.length - 1], 'Verdict: 1 unsupported op type: Einsum (1 node: unsupported_einsum_node)');
  assert.match(r.stdout, /unsupported_einsum_node\s+Einsum\s+.*NO/);
  // predict and explain refuse it, naming the op type, its count and first node, and inspect
  for (const cmd of ['predict', 'explain']) {
    const p = await naflow([cmd, bad, DEFAULT_IMAGE, ...(cmd === 'explain' ? ['--out', path.join(tmp, 'unknown-op-out')] : [])]);
    assert.equal(p.code, 1);
    assert.match(
      p.stderr,
      /^naflow: .*unknown-op\.onnx: naflow does not support this op: Einsum \(1 node: unsupported_einsum_node\); naflow inspect .*unknown-op\.onnx lists every node$/m,
    );
    assertNoStack(p);
  }
});

test('error: truncated ONNX file', async () => {
  const candidates = [
    path.join(PACKAGE_ROOT, 'test', 'fixtures', 'onnx', 'resnet18', 'model.onnx'),
    path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'models', 'cifar-resnet', 'resnet20.onnx'),
  ];
  const src = candidates.find((f) => fs.existsSync(f));
  assert.ok(src, 'an ONNX file to truncate');
  const buf = fs.readFileSync(src);
  const cut = path.join(tmp, 'truncated.onnx');
  fs.writeFileSync(cut, new Uint8Array(buf.buffer, buf.byteOffset, buf.length >> 1));
  for (const cmd of ['predict', 'inspect']) {
    const r = await naflow([cmd, cut]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^naflow: .*truncated\.onnx: .*ONNX/m);
    assertNoStack(r);
  }
});

test('error: a text file given as the model', async () => {
  const txt = path.join(tmp, 'notes.txt');
  fs.writeFileSync(txt, 'These are my notes, not a neural network.\n');
  const r = await naflow(['predict', txt, DEFAULT_IMAGE]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^naflow: .*notes\.txt: not a model file: it looks like text/);
  assertNoStack(r);
  const i = await naflow(['inspect', txt]);
  assert.equal(i.code, 1);
  assert.match(i.stderr, /notes\.txt: not a model file/);
  // a JSON file that is not a TensorFlow.js model
  const js = path.join(tmp, 'config.json');
  fs.writeFileSync(js, '{"hello": "world"}');
  const k = await naflow(['inspect', js]);
  assert.equal(k.code, 1);
  assert.match(k.stderr, /config\.json: JSON but not a TensorFlow\.js model/);
});

test('error: a non-image file given as an image', async () => {
  const fake = path.join(tmp, 'holiday.jpg');
  fs.writeFileSync(fake, 'not really a JPEG\n');
  const r = await naflow(['predict', fake]); // image-looking first argument → default model
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^naflow: .*holiday\.jpg: not a decodable image \(JPEG, PNG or WebP\): /);
  assertNoStack(r);
  // with an explicit model, and a good image after the bad one: the good one is still predicted
  const r2 = await naflow(['predict', path.join(PACKAGE_ROOT, 'models', 'tiny-darknet', 'model.json'), fake, DEFAULT_IMAGE, '--json']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /holiday\.jpg: not a decodable image/);
  assert.equal(parseLines(r2.stdout).length, 1);
  const missing = await naflow(['predict', path.join(tmp, 'nope.png')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.png: no such file/);
});

test('error: an image given to a model whose input has 4 channels', async () => {
  // a TensorFlow.js layers model: input [?, 8, 8, 4] → GlobalAveragePooling2D (no weights)
  const dir = path.join(tmp, 'rgba-model');
  fs.mkdirSync(dir);
  const modelJson = {
    format: 'layers-model',
    modelTopology: {
      keras_version: '2.1.6',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Model',
        config: {
          name: 'rgba',
          layers: [
            {
              name: 'rgba_in',
              class_name: 'InputLayer',
              config: { batch_input_shape: [null, 8, 8, 4], dtype: 'float32', sparse: false, name: 'rgba_in' },
              inbound_nodes: [],
            },
            {
              name: 'gap',
              class_name: 'GlobalAveragePooling2D',
              config: { name: 'gap', trainable: true, data_format: 'channels_last' },
              inbound_nodes: [[['rgba_in', 0, 0, {}]]],
            },
          ],
          input_layers: [['rgba_in', 0, 0]],
          output_layers: [['gap', 0, 0]],
        },
      },
    },
    weightsManifest: [],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  const r = await naflow(['predict', path.join(dir, 'model.json'), DEFAULT_IMAGE]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^naflow: .*model\.json: model input 'rgba_in' has 4 channels \(shape \[\?, 8, 8, 4\], NHWC\); an image gives 1 \(grayscale\) or 3 \(RGB\) channels/m,
  );
  assertNoStack(r);
});

test('usage errors exit 1; help exits 0', async () => {
  const u = await naflow(['predict', '--frobnicate']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /^naflow: unknown option '--frobnicate'/);
  const t = await naflow(['predict', '--top', 'zero']);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /--top must be a positive integer/);
  const b = await naflow(['predict', '--backend', 'gpu']);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /--backend must be 'wasm' or 'cpu'/);
  const e = await naflow(['predict'], { NAFLOW_THREADS: 'many' });
  assert.equal(e.code, 1);
  assert.match(e.stderr, /NAFLOW_THREADS must be a positive integer/);
  const c = await naflow(['frobnicate']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^naflow: unknown command 'frobnicate'/);
  const i = await naflow(['inspect', DEFAULT_IMAGE]);
  assert.equal(i.code, 1);
  assert.match(i.stderr, /chelsea\.png: is an image, not a model/);
  const h = await naflow(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Examples:/);
  assert.match(h.stdout, /predict/);
  const hp = await naflow(['predict', '--help']);
  assert.equal(hp.code, 0);
  assert.match(hp.stdout, /--top <k>/);
  assert.match(hp.stdout, /Exit codes/);
});

// ---- the library functions behind the commands (in-process) ----

test('predict() frees every tensor it creates; softmax unless the card says outputIsProbability', async () => {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../src/engine/backend.js');
  const { loadModel } = await import('../src/node/load.js');
  const { predict, topPredictions } = await import('../src/predict.js');
  const { DEFAULT_MODEL } = await import('../src/defaults.js');
  await initBackend({ backend: 'wasm', threads: 1 });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const before = tf.memory().numTensors;
    const r = await predict(model, DEFAULT_IMAGE, { top: 5 });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind (image input)');
    assert.ok(CAT_IDS.includes(r.top[0].id!));
    const x = tf.zeros([224, 224, 3]);
    const r2 = await predict(model, x, { top: 1000 });
    assert.equal(tf.memory().numTensors, before + 1, "no tensor left behind (tensor input, which stays the caller's)");
    x.dispose();
    assert.equal(r2.top.length, 1000);
    assert.ok(Math.abs(r2.top.reduce((s, p) => s + p.prob, 0) - 1) < 1e-9, 'softmax sums to 1');
  } finally {
    model.dispose();
  }
  // outputIsProbability: scores are passed through; no labels → null
  const p = topPredictions({ card: { outputIsProbability: true } }, [0.1, 0.7, 0.2], 2);
  assert.deepEqual(p, [
    { index: 1, label: null, prob: 0.7, id: null },
    { index: 2, label: null, prob: 0.2, id: null },
  ]);
  const s = topPredictions({ card: { labelList: ['a', 'b'], idList: ['x', 'y'] } }, [0, Math.log(3)], 2);
  assert.equal(s[0].label, 'b');
  assert.equal(s[0].id, 'y');
  assert.ok(Math.abs(s[0].prob - 0.75) < 1e-12);
});

test('inspectGraph verdict and table on a hand-built graph with unsupported ops', async () => {
  const { inspectGraph, formatInspect } = await import('../src/inspect.js');
  await import('../src/ops/index.js');
  const node = (name: string, op: string, inputs: string[], sourceOp?: string) => ({ name, op, inputs, outputs: [name], attrs: {}, sourceOp });
  const graph = {
    format: 'test',
    source: 'toy',
    inputs: [{ name: 'x', shape: [1, 4, 4, 3], dtype: 'float32' as const }],
    outputs: ['e2'],
    nodes: [node('r', 'Relu', ['x']), node('lrn1', 'LRN', ['r']), node('e1', 'Einsum', ['lrn1']), node('e2', 'Einsum', ['e1'])],
    constants: new Map(),
    values: new Map([['r', { name: 'r', shape: [1, 4, 4, 3], dtype: 'float32' as const }]]),
  };
  const rep = inspectGraph(graph);
  assert.equal(rep.verdict, 'Verdict: 2 unsupported op types: LRN (1 node: lrn1), Einsum (2 nodes, first: e1)');
  assert.deepEqual(rep.unsupported, [
    { op: 'LRN', nodes: ['lrn1'] },
    { op: 'Einsum', nodes: ['e1', 'e2'] },
  ]);
  assert.deepEqual(
    rep.rows.map((r) => r.supported),
    [true, false, false, false],
  );
  const text = formatInspect(rep).split('\n');
  assert.equal(text[text.length - 1], rep.verdict);
  const header = text.find((l) => l.startsWith('#'))!;
  const rRow = text.find((l) => /^1\s+r\s/.test(l))!;
  assert.equal(rRow.indexOf('[1,4,4,3]'), header.indexOf('output shape'), 'columns aligned');
  const ok = inspectGraph({ ...graph, nodes: [graph.nodes[0]], outputs: ['r'] });
  assert.equal(ok.verdict, 'Verdict: all 1 node supported');
});
