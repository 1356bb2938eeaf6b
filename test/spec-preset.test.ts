/**
 * The specification's configuration stays runnable by name: `variant: 'spec'` (the API) and
 * `naflow explain --variant spec` (the CLI) reproduce the maps paper mode drew before the cascade's
 * open choices became variants (commit fd7a933; test/fixtures/spec-maps: per layer the sum, the maximum
 * and 25 sampled values of each map of the bundled model on the bundled photo), to 1e-5 relative.
 * The fixture was made when the bundled card squashed the photo to 224×224; the card now crops its
 * centre (docs/photo-preprocessing-study.md), so these tests ask for the squash explicitly (the API's
 * image override; for the CLI a copy of the bundled card with "resize": "squash").
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { explain } from '../src/naflow/explain.js';
import { resolveVariant } from '../src/naflow/variant.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';
import { naflow } from './helpers/run-cli.js';

interface Fixture {
  decision: { classIndex: number; score: number };
  layers: Array<{ name: string; shape: [number, number]; sum: number; max: number; samples: Array<[number, number]> }>;
}
const fixture = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'test/fixtures/spec-maps/tiny-darknet-chelsea.json'), 'utf8')) as Fixture;

/** The fixture's framing: the whole photo squashed to 224×224 (the bundled card's until the photo study). */
const SQUASH = { resize: 'squash' } as const;

/** The bundled card with "resize": "squash", written into `dir` (labels and ids by absolute path). */
function squashCard(dir: string): string {
  const modelDir = path.dirname(DEFAULT_MODEL);
  const card = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.naflow.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, 'squash.naflow.json');
  const { resizeShorter: _dropped, ...rest } = card;
  fs.writeFileSync(
    file,
    JSON.stringify({ ...rest, resize: 'squash', labels: path.join(modelDir, String(card.labels)), ids: path.join(modelDir, String(card.ids)) }),
  );
  return file;
}

function assertSpecMaps(maps: Array<{ name: string; map: Float32Array }>, what: string): void {
  assert.equal(maps.length, fixture.layers.length, `${what}: one map per layer`);
  fixture.layers.forEach((want, k) => {
    const { name, map } = maps[k];
    assert.equal(name, want.name);
    const scale = Math.max(want.max, 1e-30);
    const close = (a: number, b: number, s: number, label: string) => assert.ok(Math.abs(a - b) <= 1e-5 * s, `${what} ${name}: ${label} ${a} vs ${b}`);
    close(
      map.reduce((a, v) => a + v, 0),
      want.sum,
      Math.abs(want.sum) + scale,
      'sum',
    );
    close(Math.max(...map), want.max, scale, 'max');
    for (const [i, v] of want.samples) close(map[i], v, scale, `value ${i}`);
  });
}

test('variant spec reproduces the paper-mode maps of before the variants (API)', async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const r = await explain(model, DEFAULT_IMAGE, { mode: 'paper', variant: resolveVariant('spec'), image: SQUASH });
    assert.equal(r.decision.classIndex, fixture.decision.classIndex);
    assertSpecMaps(r.layers, 'API');
  } finally {
    model.dispose();
  }
});

test('naflow explain --variant spec writes those maps, and flow.json names the configuration', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-spec-'));
  try {
    const r = await naflow(['explain', '--variant', 'spec', '--card', squashCard(out), '--no-images', '--out', path.join(out, 'o')]);
    assert.equal(r.code, 0, r.stderr);
    const flow = JSON.parse(fs.readFileSync(path.join(out, 'o', 'flow.json'), 'utf8'));
    assert.deepEqual(flow.variant, resolveVariant('spec'));
    assertSpecMaps(
      flow.layers.map((l: { name: string; npy: string }) => ({ name: l.name, map: npyToFloat32(readNpy(path.join(out, 'o', l.npy))) })),
      'CLI',
    );
    const bad = await naflow(['explain', '--variant', 'abandon=sometimes', '--no-images', '--out', path.join(out, 'p')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--variant: abandon must be one of zero, keep, free, got 'sometimes'/);
    const badRho = await naflow(['explain', '--rho', '', '--no-images', '--out', path.join(out, 'p')]);
    assert.equal(badRho.code, 1);
    assert.match(badRho.stderr, /--rho must be a finite number ≥ 0, got ''/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("the default configuration is the study's choice: ρ = 1 (damping = σ_max) and at most 4 LSMR iterations per solve, unlike the spec", async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    // the fixture's framing, so that only the configuration differs from the fixture
    const r = await explain(model, DEFAULT_IMAGE, { mode: 'paper', image: SQUASH });
    assert.deepEqual(r.variant, resolveVariant('spec,rho=1,maxIter=4'));
    const solves = r.layers.flatMap((l) => (l.solver ?? []).filter((s) => s.method !== 'diagonal'));
    assert.ok(solves.length >= 10, `least-squares solves recorded: ${solves.length}`);
    for (const s of solves) {
      assert.ok(Math.abs(s.damping - s.sigmaMax) <= 1e-6 * s.sigmaMax, `damping ${s.damping} = ρ·σ_max with ρ = 1 (σ_max ${s.sigmaMax})`);
      assert.ok(s.iterations <= 4, `${s.iterations} LSMR iterations`);
    }
    // and its maps are not the spec's (the fixture): the default is not silently the spec
    const deepest = fixture.layers.length - 2;
    const spec = fixture.layers[deepest];
    const mine = r.layers[deepest].map;
    assert.ok(Math.abs(mine.reduce((a, v) => a + v, 0) - spec.sum) > 1e-3 * Math.abs(spec.sum), `${spec.name}: the default's map sum equals the spec's`);
  } finally {
    model.dispose();
  }
});
