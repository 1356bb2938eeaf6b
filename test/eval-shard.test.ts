/**
 * `naflow eval --shard i/n` and `naflow eval merge`: the shards of a run, each resumable on its own,
 * merge to the same results as the run made in one piece (results.json/csv/md byte for byte through the
 * CLI; the same object through the API, with a shard crashed and resumed on the way). The per-shard
 * refusals (another shard, an unsharded folder) are here; merge's refusals are rows of
 * input-errors.test.ts. Uses CIFAR ResNet-20 on ../shared/data/cifar10-test (skips where it is absent).
 */
import '../src/node/register.js';
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { readDataset } from '../src/eval/dataset.js';
import { runEval, type EvalOptions } from '../src/eval/run.js';
import { mergeShards } from '../src/eval/merge.js';
import { parseShard } from '../src/eval/shard.js';
import { readRecords } from '../src/eval/results.js';
import { naflow } from './helpers/run-cli.js';
import { PACKAGE_ROOT } from '../src/defaults.js';

const shared = path.resolve(PACKAGE_ROOT, '../shared/data');
const modelFile = path.join(shared, 'models/cifar-resnet/resnet20.onnx');
const data = path.join(shared, 'cifar10-test');
const card = path.join(PACKAGE_ROOT, 'models/cards/cifar10-resnet.naflow.json');
const skip = fs.existsSync(modelFile) && fs.existsSync(data) ? false : `${modelFile} or ${data} is absent (../shared/data)`;

test('--shard i/n is parsed strictly', () => {
  assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
  for (const bad of ['3/3', '0/0', '-1/2', '1.5/4', '1/4/2', ' 1/4', '1/', '/4', 'a/b', '1:4', '1e1/20']) assert.throws(() => parseShard(bad), /--shard/, bad);
});

test('3 shards (one crashed and resumed) merge to the results of the run made in one piece', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(modelFile, { card });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-shard-'));
  try {
    // 7 images: shards of 3, 2 and 2 (image k → shard k mod 3), several classes
    const items = readDataset(data, model.card)
      .filter((_, i) => i % 150 === 0)
      .slice(0, 7);
    const base: Omit<EvalOptions, 'out'> = {
      methods: ['naflow', 'gradcam', 'guided-backprop'],
      metrics: ['deletion', 'insertion', 'drop'],
      layers: ['0', '10'],
      steps: 4,
      modelFile,
      data,
    };
    const whole = await runEval(model, items, { ...base, out: path.join(tmp, 'whole') });
    const dirs = [0, 1, 2].map((k) => path.join(tmp, `shard${k}`));
    const counted: string[] = [];
    for (const [k, out] of dirs.entries()) {
      const shard = { index: k, count: 3 };
      if (k === 1)
        await assert.rejects(
          runEval(model, items, {
            ...base,
            out,
            shard,
            beforeImage: (i) => {
              if (i === 4) throw new Error('simulated crash');
            },
          }),
          /simulated crash/,
        );
      const r = await runEval(model, items, { ...base, out, shard, onImage: (done, total) => counted.push(`${done}/${total}`) });
      assert.equal(r.images, k === 0 ? 3 : 2, `shard ${k}/3: its own images`);
      assert.deepEqual(
        [...readRecords(path.join(out, 'progress.jsonl')).keys()].sort(),
        [...Array(7).keys()].filter((i) => i % 3 === k),
        `shard ${k}/3 holds images k mod 3 = ${k}`,
      );
    }
    assert.deepEqual(counted, ['1/3', '2/3', '3/3', '2/2', '1/2', '2/2'], 'progress counts the shard’s images; resumed, shard 1 did only image 4');
    // a resumed shard is only resumed by the same shard
    await assert.rejects(runEval(model, items, { ...base, out: dirs[1], shard: { index: 2, count: 3 } }), /holds shard 1\/3 .* this run is shard 2\/3/);
    await assert.rejects(runEval(model, items, { ...base, out: dirs[1] }), /holds shard 1\/3 .*not sharded: resume it with --shard 1\/3/);
    await assert.rejects(
      runEval(model, items, { ...base, out: path.join(tmp, 'whole'), shard: { index: 0, count: 3 } }),
      /not sharded, and this run is shard 0\/3/,
    );
    const merged = mergeShards([dirs[2], dirs[0], dirs[1]]);
    assert.deepEqual(merged.results, whole);
    assert.equal(JSON.stringify(merged.results), JSON.stringify(whole), 'the same numbers, in the same order');
    assert.equal(merged.first?.file, items[0].file);
    assert.equal(merged.first?.classIndex, items[0].classIndex);
    // another listing (here: one image fewer) is another run
    await runEval(model, items.slice(0, 6), { ...base, out: path.join(tmp, 'other'), shard: { index: 1, count: 3 } });
    assert.throws(() => mergeShards([dirs[0], path.join(tmp, 'other'), dirs[2]]), /shards of different runs: their shard images, data listing differ/);
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('naflow eval --shard and naflow eval merge: results.json/csv/md byte for byte those of the local run', { skip }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-shardcli-'));
  const args = (out: string, ...more: string[]) => [
    'eval',
    modelFile,
    '--card',
    card,
    '--data',
    data,
    '--every',
    '200',
    '--methods',
    'naflow-ref,layercam',
    '--metrics',
    'insertion,drop',
    '--steps',
    '4',
    '--out',
    out,
    ...more,
  ];
  try {
    const whole = await naflow(args(path.join(tmp, 'whole'), '--html'));
    assert.equal(whole.code, 0, whole.stderr);
    for (const k of [0, 1]) {
      const r = await naflow(args(path.join(tmp, `s${k}`), '--shard', `${k}/2`));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${k === 0 ? 3 : 2} images \\(shard ${k}/2 of 5\\), 2 methods`));
    }
    const m = await naflow(['eval', 'merge', path.join(tmp, 's1'), path.join(tmp, 's0'), '--out', path.join(tmp, 'merged'), '--html', '--card', card]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /^5 images from 2 shards, 2 methods, 1 layers → /);
    for (const f of ['results.json', 'results.csv', 'results.md', 'plot-insertion.svg', 'plot-increase.svg'])
      assert.equal(fs.readFileSync(path.join(tmp, 'merged', f), 'utf8'), fs.readFileSync(path.join(tmp, 'whole', f), 'utf8'), f);
    // report.html: the viewer on the listing's first image, as the local run's (all but the time it took)
    const viewer = (dir: string) => {
      const html = fs.readFileSync(path.join(tmp, dir, 'report.html'), 'utf8');
      const json = JSON.parse(/<script type="application\/json" id="naflow-data">([^<]*)<\/script>/.exec(html)![1]);
      json.elapsedMs = null;
      return json;
    };
    const merged = viewer('merged');
    assert.equal(merged.image.file, '0000.jpg');
    assert.deepEqual(merged, viewer('whole'));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
