/**
 * Layers that carry no picture and explanations that carry no news. A squeeze-excitation block
 * (tools/se_block_fixture.py) has four 1×1 tensors among its ten layers: their maps are written to
 * maps/, but the layer PNGs, strip, GIF and viewer leave them out unless --include-1x1 (or --layers
 * names them). A network with smooth activations (tools/smooth_activation_fixture.py) abandons no
 * neuron: explain says paper mode's maps are reference mode's, and they are.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import type { ViewerData } from '../src/viewer/data.js';
import { naflow } from './helpers/run-cli.js';

const SE = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'se-block', 'model.onnx');
const SMOOTH = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'smooth-act');
const PHOTO = path.join(PACKAGE_ROOT, 'assets', 'photos', 'chelsea.png');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-pictureless-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Flow {
  nothingAbandoned?: boolean;
  layers: Array<{ index: number; shape: number[]; npy: string; png: string | null }>;
}
const readFlow = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')) as Flow;
const viewerOf = (out: string) =>
  JSON.parse(
    /<script type="application\/json" id="naflow-data">([^<]*)<\/script>/.exec(fs.readFileSync(path.join(out, 'report.html'), 'utf8'))![1],
  ) as ViewerData;
const gifFrames = async (out: string) => (await sharp(path.join(out, 'flow.gif'), { animated: true }).metadata()).pages;

test('1×1 layers: maps written, left out of the PNGs, GIF and viewer by default; --include-1x1 and --layers bring them back', async () => {
  const out = path.join(tmp, 'default');
  const r = await naflow(['explain', SE, PHOTO, '--mode', 'reference', '--html', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const flow = readFlow(out);
  const flat = flow.layers.filter((l) => l.shape[0] * l.shape[1] === 1).map((l) => l.index);
  assert.deepEqual(flat, [2, 3, 4, 5, 6], 'the SE block’s pool, 1×1 convs, ReLU and sigmoid');
  for (const l of flow.layers) {
    assert.ok(fs.existsSync(path.join(out, l.npy)), `${l.npy} written`);
    assert.equal(l.png === null, flat.includes(l.index), `layer ${l.index}: png ${l.png}`);
  }
  assert.equal(fs.readdirSync(path.join(out, 'layers')).length, flow.layers.length - flat.length);
  assert.equal(await gifFrames(out), flow.layers.length - flat.length);
  assert.match(r.stdout, new RegExp(`${flat.length} of them 1×1 .*--include-1x1`));
  const viewer = viewerOf(out);
  assert.deepEqual(
    viewer.layers.map((l) => l.index),
    flow.layers.map((l) => l.index).filter((i) => !flat.includes(i)),
    'the viewer keeps each layer’s own index',
  );
  assert.ok(viewer.flows.every((f) => f.layers.length === viewer.layers.length));

  const all = path.join(tmp, 'all');
  const a = await naflow(['explain', SE, PHOTO, '--mode', 'reference', '--html', '--include-1x1', '--out', all]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(fs.readdirSync(path.join(all, 'layers')).length, flow.layers.length);
  assert.equal(await gifFrames(all), flow.layers.length);
  assert.equal(viewerOf(all).layers.length, flow.layers.length);
  assert.doesNotMatch(a.stdout, /1×1/);

  const named = path.join(tmp, 'named');
  const n = await naflow(['explain', SE, PHOTO, '--mode', 'reference', '--layers', `${flat[0]},0`, '--out', named]);
  assert.equal(n.code, 0, n.stderr);
  assert.deepEqual(
    readFlow(named)
      .layers.filter((l) => l.png)
      .map((l) => l.index),
    [0, flat[0]],
  );
});

test("paper mode that abandons nothing says its maps are reference mode's, and they are; one that abandons says nothing", async () => {
  const args = ['explain', path.join(SMOOTH, 'model.onnx'), '--input-tensor', path.join(SMOOTH, 'input.npy'), '--no-images'];
  const paper = await naflow([...args, '--out', path.join(tmp, 'paper')]);
  const ref = await naflow([...args, '--mode', 'reference', '--out', path.join(tmp, 'ref')]);
  assert.equal(paper.code, 0, paper.stderr);
  assert.equal(ref.code, 0, ref.stderr);
  assert.match(paper.stdout, /paper mode abandoned no neuron in any layer .* its maps are reference mode's/);
  assert.doesNotMatch(ref.stdout, /abandoned/);
  const flow = readFlow(path.join(tmp, 'paper'));
  assert.equal(flow.nothingAbandoned, true);
  assert.equal(readFlow(path.join(tmp, 'ref')).nothingAbandoned, undefined);
  for (const l of flow.layers) {
    const p = npyToFloat32(readNpy(path.join(tmp, 'paper', l.npy)));
    const q = npyToFloat32(readNpy(path.join(tmp, 'ref', l.npy)));
    assert.deepEqual(p, q, `layer ${l.index}`);
  }
  // the SE network's ReLUs abandon neurons: no note
  const se = await naflow([
    'explain',
    SE,
    '--input-tensor',
    path.join(PACKAGE_ROOT, 'test', 'fixtures', 'se-block', 'input.npy'),
    '--no-images',
    '--out',
    path.join(tmp, 'se-paper'),
  ]);
  assert.equal(se.code, 0, se.stderr);
  assert.doesNotMatch(se.stdout, /abandoned/);
  assert.equal(readFlow(path.join(tmp, 'se-paper')).nothingAbandoned, undefined);
});
