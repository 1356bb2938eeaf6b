/**
 * No silent preprocessing: a model without a card is run with the defaults only after a warning that
 * names where the card was looked for; --preprocess / --input-size / --layout give the card's fields on
 * the command line; `<file>.onnx.naflow.json` is found as well as `<file>.naflow.json`.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, DEFAULT_IMAGE } from '../src/defaults.js';
import { naflow } from './helpers/run-cli.js';

const RESNET = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'onnx', 'resnet18', 'model.onnx');
const DYNAMIC = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'dynamic-hw', 'model.onnx');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-card-options-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const probs = (stdout: string) => JSON.parse(stdout.trim().split('\n')[0]).top.map((t: { index: number; prob: number }) => [t.index, t.prob]);

test('no card: a warning naming both card names looked for, and the defaults; --preprocess silences it and takes effect', async () => {
  const plain = await naflow(['predict', RESNET, DEFAULT_IMAGE, '--json']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(
    plain.stderr,
    /^naflow: warning: .*model\.onnx has no model card \(looked for .*model\.naflow\.json and .*model\.onnx\.naflow\.json\): images are scaled to \[0, 1\] \(x\/255\).*--preprocess imagenet/m,
  );
  const imagenet = await naflow(['predict', RESNET, DEFAULT_IMAGE, '--json', '--preprocess', 'imagenet']);
  assert.equal(imagenet.code, 0, imagenet.stderr);
  assert.equal(imagenet.stderr, '', 'a chosen normalisation is not warned about');
  assert.notDeepEqual(probs(imagenet.stdout), probs(plain.stdout), 'the normalisation changed the input');
  // the same as a card saying it, under either card name
  const dir = path.join(tmp, 'r18');
  fs.mkdirSync(dir);
  fs.copyFileSync(RESNET, path.join(dir, 'resnet18.onnx'));
  fs.writeFileSync(path.join(dir, 'resnet18.onnx.naflow.json'), JSON.stringify({ preprocess: 'imagenet' }));
  const carded = await naflow(['predict', path.join(dir, 'resnet18.onnx'), DEFAULT_IMAGE, '--json']);
  assert.equal(carded.stderr, '');
  assert.deepEqual(probs(carded.stdout), probs(imagenet.stdout));
  // two cards for one model: which one is meant is not guessed
  fs.writeFileSync(path.join(dir, 'resnet18.naflow.json'), JSON.stringify({ preprocess: 'unit' }));
  const two = await naflow(['predict', path.join(dir, 'resnet18.onnx'), DEFAULT_IMAGE]);
  assert.equal(two.code, 1);
  assert.match(two.stderr, /two model cards for .*resnet18\.onnx: .*resnet18\.naflow\.json and .*resnet18\.onnx\.naflow\.json; keep one/);
  // the bundled model has its card: no warning
  const bundled = await naflow(['predict', DEFAULT_IMAGE]);
  assert.equal(bundled.stderr, '');
});

test('--input-size fixes a symbolic input size; bad values name the option', async () => {
  const r = await naflow(['predict', DYNAMIC, DEFAULT_IMAGE, '--json', '--input-size', '20x24', '--preprocess', 'unit']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(probs(r.stdout).length, 4);
  const bad = [
    [['--input-size', 'big'], /--input-size must be N or HxW/],
    [['--preprocess', 'bogus'], /--preprocess must be imagenet, unit or raw255, got 'bogus'/],
    [['--layout', 'HWC'], /--layout must be NCHW or NHWC, got 'HWC'/],
  ] as const;
  for (const [args, message] of bad) {
    const e = await naflow(['predict', DYNAMIC, DEFAULT_IMAGE, ...args]);
    assert.equal(e.code, 1, e.stderr);
    assert.match(e.stderr, message);
  }
});

test('naflow card init writes a commented card that loads, never overwrites, and asks for a symbolic size', async () => {
  const dir = path.join(tmp, 'init');
  fs.mkdirSync(dir);
  fs.copyFileSync(DYNAMIC, path.join(dir, 'fcn.onnx'));
  fs.copyFileSync(RESNET, path.join(dir, 'r18.onnx'));
  fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\nc\nd\n');
  const open = await naflow(['card', 'init', path.join(dir, 'fcn.onnx')]);
  assert.equal(open.code, 1);
  assert.match(open.stderr, /fcn\.onnx: its input height and width are symbolic: give --input-size HxW/);
  const made = await naflow([
    'card',
    'init',
    path.join(dir, 'fcn.onnx'),
    '--input-size',
    '20x24',
    '--preprocess',
    'imagenet',
    '--labels',
    path.join(dir, 'labels.txt'),
  ]);
  assert.equal(made.code, 0, made.stderr);
  const cardFile = path.join(dir, 'fcn.naflow.json');
  const card = JSON.parse(fs.readFileSync(cardFile, 'utf8'));
  assert.deepEqual(Object.fromEntries(Object.entries(card).filter(([k]) => !k.startsWith('//'))), {
    inputSize: [20, 24],
    channels: 3,
    preprocess: 'imagenet',
    resize: 'squash',
    layout: 'NCHW',
    labels: 'labels.txt',
  });
  assert.ok(Object.keys(card).filter((k) => k.startsWith('//')).length >= 4, 'the choices are commented');
  // the card is found and used: labels from it, no warning, the size fixed
  const p = await naflow(['predict', path.join(dir, 'fcn.onnx'), DEFAULT_IMAGE, '--json', '--top', '1']);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stderr, '');
  assert.ok(['a', 'b', 'c', 'd'].includes(JSON.parse(p.stdout).top[0].label));
  // never overwritten
  const before = fs.readFileSync(cardFile, 'utf8');
  const again = await naflow(['card', 'init', path.join(dir, 'fcn.onnx'), '--input-size', '8x8']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /fcn\.naflow\.json exists: naflow card init never overwrites a file/);
  assert.equal(fs.readFileSync(cardFile, 'utf8'), before);
  // a static model: the size read off it, and the default preprocessing flagged for checking
  const r18 = await naflow(['card', 'init', path.join(dir, 'r18.onnx')]);
  assert.match(r18.stdout, /r18\.naflow\.json: written \(preprocess 'unit', x\/255: check it — a torchvision model wants imagenet\)/);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'r18.naflow.json'), 'utf8')).inputSize, [64, 64]);
});

test('a misspelt card field is an error naming it (not silently ignored); // keys are comments', async () => {
  const dir = path.join(tmp, 'typo');
  fs.mkdirSync(dir);
  fs.copyFileSync(RESNET, path.join(dir, 'm.onnx'));
  fs.writeFileSync(path.join(dir, 'm.naflow.json'), JSON.stringify({ '//': 'my notes', preprocesss: 'imagenet' }));
  const r = await naflow(['predict', path.join(dir, 'm.onnx'), DEFAULT_IMAGE]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /m\.naflow\.json: unknown field 'preprocesss' \(fields: name, inputSize, channels, preprocess/);
});
