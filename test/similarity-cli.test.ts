/**
 * `naflow explain-similarity` and `naflow bank build` as a user runs them: outputs (flow.json with
 * `similarity`, the reference's own flow, baselines with --compare), and clear errors (no/two decision sources, an empty support
 * class, a bank built with another model).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { naflow } from './helpers/run-cli.js';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { DEFAULT_WEIGHTING } from '../src/metrics/embedding-metric.js';

const photos = path.join(PACKAGE_ROOT, 'assets/photos');
const embedHead = path.join(PACKAGE_ROOT, 'test/fixtures/similarity/embedhead/model.onnx');

function labelled(root: string, classes: Record<string, string[]>): string {
  for (const [label, files] of Object.entries(classes)) {
    fs.mkdirSync(path.join(root, label), { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(photos, f), path.join(root, label, f));
  }
  return root;
}

test('explain-similarity --gallery: flow.json with the similarity, the top-1 reference and its own flow', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-simcli-'));
  try {
    const gallery = path.join(tmp, 'gallery');
    fs.mkdirSync(gallery);
    for (const f of ['coffee.png', 'astronaut.png', 'butterfly.jpg']) fs.copyFileSync(path.join(photos, f), path.join(gallery, f));
    const out = path.join(tmp, 'out');
    const r = await naflow([
      'explain-similarity',
      'models/tiny-darknet',
      '--query',
      path.join(photos, 'chelsea.png'),
      '--gallery',
      gallery,
      '--mode',
      'reference',
      '--explain-ref',
      '--compare',
      'layercam',
      '--out',
      out,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const flow = JSON.parse(r.stdout);
    assert.equal(flow.similarity.kind, 'retrieval');
    assert.equal(flow.similarity.metric, 'cosine');
    assert.equal(flow.similarity.weighting, DEFAULT_WEIGHTING);
    assert.equal(flow.similarity.candidates.length, 3);
    const best = flow.similarity.candidates[0];
    assert.equal(flow.similarity.references[0].file, best.file);
    assert.ok(flow.similarity.candidates.every((c: { score: number }) => c.score <= best.score));
    assert.equal(flow.similarity.topDimensions.length, 10);
    assert.equal(flow.layers.length, 50);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')).similarity, flow.similarity);
    const refFlow = JSON.parse(fs.readFileSync(path.join(out, 'reference', 'flow.json'), 'utf8'));
    assert.equal(refFlow.image.file, best.file, "the reference's own explanation");
    assert.ok(fs.existsSync(path.join(out, 'reference', 'flow-strip.png')));
    assert.ok(Math.abs(refFlow.similarity.value - flow.similarity.value) < 1e-6, 'cosine is symmetric');
    // --compare: LayerCAM explaining the same similarity, under the same file stems as maps/
    assert.equal(flow.compare.length, 1);
    assert.equal(flow.compare[0].method, 'layercam');
    assert.deepEqual(
      flow.compare[0].layers.map((l: { name: string }) => l.name),
      flow.layers.map((l: { name: string }) => l.name),
    );
    const last = flow.compare[0].layers.at(-1);
    assert.equal(path.basename(last.npy), path.basename(flow.layers.at(-1).npy));
    const npy = readNpy(path.join(out, last.npy));
    assert.deepEqual(npy.shape, last.shape.slice(0, 2));
    assert.ok(
      npyToFloat32(npy).some((v) => v > 0),
      'a non-zero map',
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('bank build → explain-similarity --bank (k-NN); another model is refused; bad sources are usage errors', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-bankcli-'));
  try {
    const dir = labelled(path.join(tmp, 'labelled'), { cats: ['chelsea.png'], things: ['coffee.png', 'butterfly.jpg'] });
    const bank = path.join(tmp, 'bank.json');
    const b = await naflow(['bank', 'build', embedHead, dir, '-o', bank]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /3 images of 2 classes, 16-D embeddings/);
    const ok = await naflow([
      'explain-similarity',
      embedHead,
      '--query',
      path.join(photos, 'chelsea.png'),
      '--bank',
      bank,
      '--k',
      '2',
      '--no-images',
      '--out',
      path.join(tmp, 'o1'),
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const flow = JSON.parse(ok.stdout);
    assert.equal(flow.similarity.kind, 'knn');
    assert.equal(flow.similarity.decision, 'cats', 'its own image is its nearest neighbour');
    const other = await naflow([
      'explain-similarity',
      'models/tiny-darknet',
      '--query',
      path.join(photos, 'chelsea.png'),
      '--bank',
      bank,
      '--out',
      path.join(tmp, 'o2'),
    ]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /was built with another model .*rebuild it with naflow bank build/);
    const none = await naflow(['explain-similarity', embedHead, '--query', path.join(photos, 'chelsea.png')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give exactly one of --ref, --gallery, --support or --bank/);
    const two = await naflow([
      'explain-similarity',
      embedHead,
      '--query',
      path.join(photos, 'chelsea.png'),
      '--ref',
      path.join(photos, 'coffee.png'),
      '--bank',
      bank,
    ]);
    assert.equal(two.code, 1);
    assert.match(two.stderr, /got --ref and --bank/);
    fs.mkdirSync(path.join(dir, 'empty'));
    const empty = await naflow(['explain-similarity', embedHead, '--query', path.join(photos, 'chelsea.png'), '--support', dir, '--out', path.join(tmp, 'o3')]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /support folder .*labelled: class 'empty' has no images/);
    assert.ok(!fs.existsSync(path.join(tmp, 'o3')), 'nothing written');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('explain-similarity --weighting: recorded in flow.json, signed weights are p_d/|s|; bad or empty choices exit 1 naming the option', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-weighting-'));
  try {
    const query = path.join(photos, 'chelsea.png');
    const ref = path.join(photos, 'coffee.png');
    const ok = await naflow([
      'explain-similarity',
      embedHead,
      '--query',
      query,
      '--ref',
      ref,
      '--weighting',
      'signed',
      '--mode',
      'reference',
      '--no-images',
      '--out',
      path.join(tmp, 'o1'),
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const s = JSON.parse(ok.stdout).similarity;
    assert.equal(s.weighting, 'signed');
    for (const t of s.topDimensions) assert.ok(Math.abs(t.weight - t.contribution / Math.abs(s.value)) <= 1e-6 * Math.abs(t.weight), `dim ${t.dim}: w = p/|s|`);
    const bad = await naflow(['explain-similarity', embedHead, '--query', query, '--ref', ref, '--weighting', 'softmax', '--out', path.join(tmp, 'o2')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--weighting must be one of minmax, signed, rectified, gradient, got 'softmax'/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    const none = await naflow([
      'explain-similarity',
      embedHead,
      '--query',
      query,
      '--ref',
      ref,
      '--metric',
      'euclidean',
      '--weighting',
      'rectified',
      '--out',
      path.join(tmp, 'o3'),
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /the rectified channel weights are all zero \(under the euclidean metric every contribution/);
    assert.ok(!fs.existsSync(path.join(tmp, 'o2')) && !fs.existsSync(path.join(tmp, 'o3')), 'nothing written');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
