/**
 * The evaluation's input errors — a bad data folder, a bad option of `naflow eval`, an output folder it
 * did not write, shards that do not belong together — each exits 1 with one line naming the folder or
 * option (the check: test/helpers/input-error-cases.ts; the other commands' rows: input-errors.test.ts).
 */
import test from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, DEFAULT_IMAGE } from '../src/defaults.js';
import { inputErrorTests, type Case } from './helpers/input-error-cases.js';

const TINY = path.join(PACKAGE_ROOT, 'models', 'tiny-darknet');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-input-errors-eval-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One image of the bundled cat in a class folder the bundled model knows: a one-image eval dataset. */
function oneImageData(name: string): string {
  const dir = path.join(tmp, name, 'Egyptian cat');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(DEFAULT_IMAGE, path.join(dir, 'chelsea.png'));
  return path.dirname(dir);
}

/** A shard folder as `naflow eval --shard index/count` leaves it (records of `done` images; `edit` changes its config). */
function shardFolder(
  name: string,
  index: number,
  count: number,
  images: number,
  done?: number[],
  edit: (c: Record<string, unknown>) => void = () => {},
): string {
  const dir = path.join(tmp, 'shards', name);
  fs.mkdirSync(dir, { recursive: true });
  const layers = [{ index: 0, name: 'x', depth: 1 }];
  const config: Record<string, unknown> = {
    model: { file: path.join(tmp, 'no-such-model.onnx'), sha256: '0'.repeat(64) },
    data: path.join(tmp, 'data'),
    methods: ['gradcam'],
    metrics: ['drop'],
    layers: ['x'],
    steps: 32,
    substrate: 'blur',
    shard: { index, count, images, listing: 'a'.repeat(64), layers },
  };
  edit(config);
  fs.writeFileSync(path.join(dir, 'eval-config.json'), JSON.stringify(config, null, 2));
  const records = (done ?? [...Array(images).keys()].filter((k) => k % count === index)).map((i) =>
    JSON.stringify({ i, file: `${i}.png`, classIndex: 0, results: { gradcam: { x: { drop: 1, increase: 0 } } }, centre: null, area: null }),
  );
  fs.writeFileSync(path.join(dir, 'progress.jsonl'), records.map((l) => `${l}\n`).join(''));
  return dir;
}

const cases: Case[] = [
  {
    what: 'an eval data folder with no images',
    args: () => {
      const dir = path.join(tmp, 'empty-data');
      fs.mkdirSync(path.join(dir, 'cat'), { recursive: true });
      return ['eval', path.join(TINY, 'model.json'), '--data', dir, '--out', path.join(tmp, 'out-eval-empty')];
    },
    names: /empty-data/,
  },
  {
    what: 'eval --steps beyond what the curves can hold',
    args: () => {
      const dir = path.join(tmp, 'steps-data', 'Egyptian cat');
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(DEFAULT_IMAGE, path.join(dir, 'chelsea.png'));
      return ['eval', path.join(TINY, 'model.json'), '--data', path.dirname(dir), '--steps', '100000000', '--out', path.join(tmp, 'out-eval-steps')];
    },
    // 224×224×3 float32 = 602,112 bytes per step: 1 GiB holds 1783 of them
    names: /--steps 100000000 is more than this model's 224×224 input allows: at most 1783/,
  },
  {
    what: 'an eval data folder that does not exist',
    args: () => ['eval', path.join(TINY, 'model.json'), '--data', path.join(tmp, 'no-such-data'), '--out', path.join(tmp, 'out-eval-missing')],
    names: /no-such-data/,
  },
  {
    what: 'an eval --layers entry that is no layer',
    args: () => {
      const dir = path.join(tmp, 'one-image', 'Egyptian cat');
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(DEFAULT_IMAGE, path.join(dir, 'chelsea.png'));
      return ['eval', path.join(TINY, 'model.json'), '--data', path.dirname(dir), '--layers', '0,no_such_layer', '--out', path.join(tmp, 'out-eval-layers')];
    },
    names: /--layers: 'no_such_layer'/,
  },
  {
    what: 'eval --limit with spaces',
    args: () => ['eval', path.join(TINY, 'model.json'), '--data', oneImageData('limit-data'), '--limit', ' 3', '--out', path.join(tmp, 'out-eval-limit')],
    names: /--limit must be a positive integer, got ' 3'/,
  },
  {
    what: 'eval --out onto a folder naflow did not write',
    args: () => {
      const dir = path.join(tmp, 'my-results');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'results.json'), '{"mine": true}');
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
      return ['eval', path.join(TINY, 'model.json'), '--data', oneImageData('foreign-data'), '--out', dir];
    },
    names: /my-results: exists and is not a naflow eval folder \(it holds 'notes\.txt'\).*choose another output folder \(--out\)/,
  },
  {
    what: 'eval --out onto a regular file',
    args: () => {
      const file = path.join(tmp, 'c-file.txt');
      fs.writeFileSync(file, 'mine');
      return ['eval', path.join(TINY, 'model.json'), '--data', oneImageData('file-data'), '--out', file];
    },
    names: /c-file\.txt: exists and is not a folder; choose another output folder \(--out\)/,
  },
  {
    what: 'eval --shard that is not i/n',
    args: () => ['eval', path.join(TINY, 'model.json'), '--data', path.join(tmp, 'no-such-data'), '--shard', 'a/b', '--out', path.join(tmp, 'out-shard-ab')],
    names: /--shard takes i\/n .*got 'a\/b'/,
  },
  {
    what: 'eval --shard with the index not below the count',
    args: () => ['eval', path.join(TINY, 'model.json'), '--data', path.join(tmp, 'no-such-data'), '--shard', '3/3', '--out', path.join(tmp, 'out-shard-33')],
    names: /--shard 3\/3: the index counts from 0, so it must be below 3/,
  },
  {
    what: 'eval --shard with no shards',
    args: () => ['eval', path.join(TINY, 'model.json'), '--data', path.join(tmp, 'no-such-data'), '--shard', '0/0', '--out', path.join(tmp, 'out-shard-00')],
    names: /--shard 0\/0: there must be at least one shard/,
  },
  {
    what: 'eval --shard resuming a folder that holds another shard',
    args: () => {
      const held = path.join(tmp, 'held-shard');
      fs.mkdirSync(held, { recursive: true });
      fs.writeFileSync(path.join(held, 'eval-config.json'), JSON.stringify({ shard: { index: 0, count: 2 } }));
      return ['eval', path.join(TINY, 'model.json'), '--data', oneImageData('shard-data'), '--shard', '1/2', '--out', held];
    },
    names: /held-shard holds shard 0\/2 of an evaluation, and this run is shard 1\/2: resume it with --shard 0\/2/,
  },
  {
    what: 'eval merge with a shard missing',
    args: () => ['eval', 'merge', shardFolder('half', 0, 2, 4), '--out', path.join(tmp, 'out-merge-half')],
    names: /images 1, 3 of 4 are missing: no folder of shard 1\/2 was given/,
  },
  {
    what: 'eval merge with a shard given twice',
    args: () => [
      'eval',
      'merge',
      shardFolder('dupA', 0, 2, 4),
      shardFolder('dupB', 0, 2, 4),
      shardFolder('dupC', 1, 2, 4),
      '--out',
      path.join(tmp, 'out-merge-dup'),
    ],
    names: /shard 0\/2 is given twice \(.*dupA and .*dupB\)/,
  },
  {
    what: 'eval merge of shards of different runs',
    args: () => [
      'eval',
      'merge',
      shardFolder('runA', 0, 2, 4),
      shardFolder('runB', 1, 2, 4, undefined, (c) => void (c.methods = ['layercam'])),
      '--out',
      path.join(tmp, 'out-merge-runs'),
    ],
    names: /runA and .*runB are shards of different runs: their methods differ/,
  },
  {
    what: 'eval merge of a shard that did not finish',
    args: () => ['eval', 'merge', shardFolder('fin', 0, 2, 4), shardFolder('unfinished', 1, 2, 4, [1]), '--out', path.join(tmp, 'out-merge-unfinished')],
    names: /unfinished \(shard 1\/2\) is not finished: image 3 has no record; run that shard's command again/,
  },
  {
    what: "eval merge of a shard folder holding another shard's image",
    args: () => ['eval', 'merge', shardFolder('mixed', 0, 2, 4, [0, 1, 2]), shardFolder('fine', 1, 2, 4), '--out', path.join(tmp, 'out-merge-mixed')],
    names: /mixed \(shard 0\/2\) has a record of image 1 \(1\.png\), which is not this shard's/,
  },
  {
    what: 'eval merge of a folder that was not sharded',
    args: () => ['eval', 'merge', shardFolder('unsharded', 0, 1, 2, undefined, (c) => void delete c.shard), '--out', path.join(tmp, 'out-merge-unsharded')],
    names: /unsharded holds an evaluation that was not sharded/,
  },
  {
    what: 'eval merge of a folder with no eval-config.json',
    args: () => {
      fs.mkdirSync(path.join(tmp, 'not-an-eval'), { recursive: true });
      return ['eval', 'merge', path.join(tmp, 'not-an-eval'), '--out', path.join(tmp, 'out-merge-noconfig')];
    },
    names: /not-an-eval has no eval-config\.json/,
  },
  {
    what: 'eval merge of a folder that does not exist',
    args: () => ['eval', 'merge', path.join(tmp, 'no-such-shard'), '--out', path.join(tmp, 'out-merge-nofolder')],
    names: /no-such-shard: no such folder/,
  },
  {
    what: 'eval merge without --out',
    args: () => ['eval', 'merge', shardFolder('noout', 0, 1, 2)],
    names: /eval merge: --out <dir> is required/,
  },
  {
    what: 'eval merge --out into one of the shard folders',
    args: () => ['eval', 'merge', shardFolder('into', 0, 1, 2), '--out', path.join(tmp, 'shards', 'into')],
    names: /--out .*into is one of the shard folders/,
  },
  {
    what: 'eval merge --out a folder that holds other files',
    args: () => {
      const out = path.join(tmp, 'merge-into-foreign');
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, 'thesis.tex'), 'mine');
      return ['eval', 'merge', shardFolder('foreign', 0, 1, 2), '--out', out];
    },
    names: /merge-into-foreign: holds files that are not merged eval results \('thesis\.tex'\)/,
  },
  {
    what: 'eval merge given an option of the run (--methods)',
    args: () => ['eval', 'merge', shardFolder('opt', 0, 1, 2), '--methods', 'gradcam', '--out', path.join(tmp, 'out-merge-opt')],
    names: /eval merge takes only --out and --html .*got --methods/,
  },
  {
    what: "eval merge --html where the shards' model is absent",
    args: () => ['eval', 'merge', shardFolder('html', 0, 1, 2), '--html', '--out', path.join(tmp, 'out-merge-html')],
    names: /the shards' model .*no-such-model\.onnx is absent here; merge without --html/,
  },
];

inputErrorTests(cases);
