/**
 * The paths a user takes to check naflow against their own framework: `predict --input-tensor x.npy
 * --json --logits` and `flow.json`'s `decision.logits`, both against the logits PyTorch computed for
 * the same input (tools/smooth_activation_fixture.py: an ONNX CNN, NCHW input).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { naflow } from './helpers/run-cli.js';
import { maxRelativeError } from './helpers/compare.js';

const dir = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'smooth-act');
const MODEL = path.join(dir, 'model.onnx');
const INPUT = path.join(dir, 'input.npy');
const torchLogits = Array.from(npyToFloat32(readNpy(path.join(dir, 'logits.npy'))));
const TOP_CLASS = 2; // the fixture's arg-max (manifest.json)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-compare-paths-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("predict --input-tensor x.npy --json --logits: PyTorch's logits; an image and a tensor together are refused", async () => {
  const r = await naflow(['predict', MODEL, '--input-tensor', INPUT, '--json', '--logits', '--top', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /no model card/, 'a tensor needs no preprocessing: no card warning');
  const line = JSON.parse(r.stdout) as { image: string; top: Array<{ index: number }>; logits: number[] };
  assert.equal(line.image, INPUT);
  assert.equal(line.top[0].index, TOP_CLASS);
  assert.ok(maxRelativeError(line.logits, torchLogits) < 1e-5, `logits ${line.logits} vs PyTorch ${torchLogits}`);

  const both = await naflow(['predict', MODEL, path.join(PACKAGE_ROOT, 'assets', 'photos', 'chelsea.png'), '--input-tensor', INPUT]);
  assert.equal(both.code, 1, both.stderr);
  assert.match(both.stderr, /either images or --input-tensor, not both/);
});

for (const mode of ['reference', 'paper'] as const) {
  test(`explain --mode ${mode}: flow.json's decision holds every logit, PyTorch's, and the score is the explained one`, async () => {
    const out = path.join(tmp, mode);
    const r = await naflow(['explain', MODEL, '--input-tensor', INPUT, '--mode', mode, '--no-images', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const flow = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')) as {
      engine: string;
      decision: { classIndex: number; score: number; logits: number[] };
    };
    assert.equal(flow.decision.classIndex, TOP_CLASS);
    assert.ok(maxRelativeError(flow.decision.logits, torchLogits) < 1e-5, `logits ${flow.decision.logits} vs PyTorch ${torchLogits}`);
    assert.equal(flow.decision.logits[TOP_CLASS], flow.decision.score);
  });
}

test("the bundled model in reference mode (one onnxruntime graph): flow.json's logits are predict's (tfjs forward)", async () => {
  const out = path.join(tmp, 'bundled');
  const e = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', out]);
  assert.equal(e.code, 0, e.stderr);
  const flow = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')) as {
    engine: string;
    decision: { classIndex: number; score: number; logits: number[] };
  };
  const p = await naflow(['predict', '--json', '--logits', '--top', '1']);
  assert.equal(p.code, 0, p.stderr);
  const predicted = JSON.parse(p.stdout) as { top: Array<{ index: number }>; logits: number[] };
  if (flow.engine !== 'native-graph') assert.equal(process.env.NAFLOW_REQUIRE_NATIVE, undefined, 'CI requires the native kernels');
  assert.equal(flow.decision.logits.length, 1000);
  assert.equal(flow.decision.classIndex, predicted.top[0].index);
  assert.ok(maxRelativeError(flow.decision.logits, predicted.logits) < 1e-4, 'logits of the two engines');
  assert.equal(flow.decision.logits[flow.decision.classIndex], flow.decision.score);
});
