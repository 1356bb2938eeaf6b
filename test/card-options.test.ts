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
