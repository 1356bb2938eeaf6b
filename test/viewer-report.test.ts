/**
 * report.html (`naflow explain --html`, `--compare`): the data encoding round-trips, the file is
 * self-contained (no URL, no request when opened from disk, < 10 MB for Tiny Darknet), and in headless
 * Chromium the viewer works: the scrubber (slider and arrow keys) changes the shown layer and the canvas
 * pixels, which match naflow's own PNG of that layer; normalisation, colour map, opacity, side by side
 * and play change what is drawn. A screenshot is kept in test-artifacts/.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { encodeMap, decodeMap, viewerData, evalSection, type ViewerData } from '../src/viewer/data.js';
import { renderReport, jsonForScript } from '../src/viewer/report.js';
import type { EvalResults } from '../src/eval/run.js';
import { naflow } from './helpers/run-cli.js';
import { rng } from './helpers/rng.js';
import { browserSkip, openBrowser, screenshot, canvasPixels, differing } from './helpers/browser.js';

/** Poll a condition in the test (the report's CSP forbids Playwright's eval-based waitForFunction). */
async function until(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-viewer-report-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Any reference to another origin: a scheme URL, or a protocol-relative one in src/href/url()/fetch. */
const EXTERNAL = /https?:\/\/|(?:src|href|action)\s*=\s*["']?\/\/|url\(\s*["']?\/\/|fetch\(|XMLHttpRequest|WebSocket|EventSource|@import/i;

test('maps round-trip through the viewer encoding (float32 exact, 8-bit within one step)', () => {
  const rand = rng(7);
  const map = Float32Array.from({ length: 6 * 5 }, () => rand() * 10 - 3);
  map[4] = NaN;
  const f = encodeMap(map, 6, 5);
  assert.equal(f.enc, 'f32');
  const back = decodeMap(f);
  assert.ok(Number.isNaN(back[4]));
  back.forEach((v, i) => i !== 4 && assert.equal(v, map[i]));
  const q = encodeMap(map, 6, 5, 'u8');
  const span = q.max - q.min;
  decodeMap(q).forEach((v, i) => i !== 4 && assert.ok(Math.abs(v - map[i]) <= span / 255 / 2 + 1e-6, `value ${i}`));
  assert.throws(() => encodeMap(map, 5, 5), /30 values for a 5×5 map/);
  assert.equal(jsonForScript({ s: '</script><!-- \u2028' }), '{"s":"\\u003c/script>\\u003c!-- \\u2028"}');
});

test('viewerData quantises to 8 bits only above its budget; the eval section holds plots without namespaces', async () => {
  const layer = (i: number) => ({
    name: `t${i}`,
    node: `n${i}`,
    op: 'Conv',
    shape: [4, 4, 2] as [number, number, number],
    map: new Float32Array(16).fill(i),
    kept: 1,
  });
  const result = {
    mode: 'paper' as const,
    engine: 'per-op' as const,
    scoreTensor: 's',
    trunkEnd: 't1',
    classIndex: 0,
    score: 1,
    layers: [layer(0), layer(1)],
    decision: { classIndex: 0, label: null, id: null, score: 1 },
    elapsedMs: 1,
  };
  const exact = await viewerData(result, { compare: [{ method: 'gradcam', layers: [{ name: 't1', shape: [4, 4, 2], map: new Float32Array(16) }] }] });
  assert.deepEqual(
    exact.flows.map((f) => [f.method, f.layers.map((l) => l?.enc ?? null)]),
    [
      ['naflow', ['f32', 'f32']],
      ['gradcam', [null, 'f32']],
    ],
  );
  const small = await viewerData(result, { maxMapBytes: 100 });
  assert.deepEqual(
    small.flows[0].layers.map((l) => l!.enc),
    ['u8', 'u8'],
  );
  const ev: EvalResults = {
    naflow: '0.1.0',
    model: { file: 'm.onnx', sha256: 'x'.repeat(64) },
    data: 'd',
    images: 3,
    methods: ['naflow', 'gradcam'],
    metrics: ['insertion'],
    settings: { steps: 8, substrate: 'blur', score: 'probability of the ground-truth class', explained: 'ground-truth class' },
    layers: [
      { index: 0, name: 'a', depth: 0 },
      { index: 1, name: 'b', depth: 1 },
    ],
    rows: ['naflow', 'gradcam'].flatMap((m, k) =>
      [0, 1].map((i) => ({ method: m, layer: i ? 'b' : 'a', layerIndex: i, depth: i, n: 3, values: { insertion: 0.1 * (i + k) } })),
    ),
    baselines: { centrePointing: null, uniformEnergy: null },
  };
  const sec = evalSection(ev);
  assert.equal(sec.plots.length, 1);
  assert.match(sec.plots[0].svg, /^<svg width=/);
  assert.deepEqual(sec.tables[0].rows, [
    ['0 a', '0', '0.1'],
    ['1 b', '0.1', '0.2'],
  ]);
  const html = renderReport(await viewerData(null, { eval: ev, modelName: 'm.onnx' }));
  assert.doesNotMatch(html, EXTERNAL);
  fs.writeFileSync(evalOnly, html);
});

const evalOnly = path.join(tmp, 'eval-only.html');

const out = path.join(tmp, 'chelsea');
let report: string | undefined;
const made = (async () => {
  const r = await naflow(['explain', '--mode', 'reference', '--html', '--compare', 'layercam,gradcam', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  report = path.join(out, 'report.html');
})();

test('naflow explain --html --compare writes a self-contained report.html under 10 MB and the baselines’ maps', async () => {
  await made;
  const html = fs.readFileSync(report!, 'utf8');
  const size = fs.statSync(report!).size;
  assert.ok(size < 10 * 1024 * 1024, `report.html is ${(size / 1e6).toFixed(1)} MB`);
  const bad = EXTERNAL.exec(html);
  assert.equal(bad, null, `an external reference in report.html: …${bad ? html.slice(Math.max(0, bad.index - 60), bad.index + 60) : ''}…`);
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
  const data = JSON.parse(/<script type="application\/json" id="naflow-data">([^<]*)<\/script>/.exec(html)![1]) as ViewerData;
  assert.equal(data.layers.length, 50);
  assert.deepEqual(
    data.flows.map((f) => f.method),
    ['naflow', 'layercam', 'gradcam'],
  );
  assert.ok(
    data.flows.every((f) => f.layers.every((l) => l && l.enc === 'f32')),
    'Tiny Darknet maps stay float32',
  );
  assert.match(data.image!.src, /^data:image\/png;base64,/);
  assert.equal(data.decision!.label, 'Egyptian cat');
  // the raw maps in the report are the .npy maps
  const flow = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8'));
  const npy = fs.readFileSync(path.join(out, flow.layers[10].npy));
  const fromNpy = new Float32Array(
    npy.buffer.slice(npy.byteOffset + npy.length - 4 * data.layers[10].shape[0] * data.layers[10].shape[1], npy.byteOffset + npy.length),
  );
  assert.deepEqual(decodeMap(data.flows[0].layers[10]!), fromNpy);
  assert.deepEqual(
    flow.compare.map((c: { method: string }) => c.method),
    ['layercam', 'gradcam'],
  );
  for (const m of ['layercam', 'gradcam']) assert.equal(fs.readdirSync(path.join(out, 'compare', m)).length, 50);
  assert.equal(flow.compare[0].layers[10].npy, flow.layers[10].npy.replace('maps/', 'compare/layercam/'));
});

test('naflow explain --compare refuses unknown methods before any work', async () => {
  const r = await naflow(['explain', '--compare', 'layercam,bogus', '--out', path.join(tmp, 'never')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--compare: unknown 'bogus'; choose from gradcam, gradcampp, layercam, hirescam/);
  assert.equal(fs.existsSync(path.join(tmp, 'never')), false);
});

test('report.html in Chromium: scrubber, keys, normalisation, colour map, opacity, side by side, play', { skip: browserSkip }, async () => {
  await made;
  const b = await openBrowser();
  try {
    const { page } = b;
    const url = pathToFileURL(report!).href;
    await page.goto(url);
    await page.waitForSelector('[data-ready="true"]', { timeout: 15_000 });
    const layer = async () => Number(await page.getAttribute('#naflow-viewer', 'data-layer'));
    const info = async (k: string) => (await page.textContent(`.nv-info-${k}`))!.trim();
    assert.equal(await layer(), 49, 'opens on the deepest layer');
    assert.match(await info('shape'), /^14 × 14 × 1000/);

    // the canvas shows exactly naflow's own overlay PNG of that layer (±1 for rounding)
    const flow = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8'));
    const check = async (i: number) => {
      const png = await sharp(path.join(out, flow.layers[i].png)).raw().toBuffer({ resolveWithObject: true });
      const px = await canvasPixels(page, '.nv-main');
      assert.equal(px.length / 4, png.info.width * png.info.height);
      let worst = 0;
      for (let p = 0; p < px.length / 4; p++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(px[4 * p + c] - png.data[3 * p + c]));
      assert.ok(worst <= 2, `layer ${i}: canvas differs from ${flow.layers[i].png} by up to ${worst}`);
      return px;
    };
    const deep = await check(49);

    // keyboard: ← moves one layer shallower, End/Home jump
    const blur = () => page.evaluate('document.activeElement && document.activeElement.blur()');
    await blur();
    await page.keyboard.press('ArrowLeft');
    assert.equal(await layer(), 48);
    assert.equal(await info('tensor'), flow.layers[48].name);
    const px48 = await check(48);
    assert.ok(differing(deep, px48) > 1000, 'moving the scrubber changes the canvas');
    await page.keyboard.press('Home');
    assert.equal(await layer(), 0);
    assert.match(await info('shape'), /^224 × 224 × 16/);
    assert.match(await info('kept'), /%$/);
    assert.match(await info('solver'), /no solve at this layer/, 'reference mode has no solver');

    // slider: drag it with the keyboard and set it directly
    await page.focus('.nv-layer');
    await page.keyboard.press('ArrowRight');
    assert.equal(await layer(), 1);
    await page.fill('.nv-layer', '20');
    assert.equal(await layer(), 20);
    assert.equal(await page.inputValue('.nv-layer'), '20');
    const own = await check(20);

    // normalisation shared by all layers: the same layer is drawn on another scale
    await page.check('input[value="global"]');
    await until(async () => (await info('range')).includes('shared scale'));
    const shared = await canvasPixels(page, '.nv-main');
    assert.ok(differing(own, shared) > 1000, 'the normalisation toggle changes the canvas');
    await page.check('input[value="layer"]');
    await page.waitForTimeout(50);
    assert.equal(differing(own, await canvasPixels(page, '.nv-main')), 0, 'and back');

    // colour map and opacity
    await page.selectOption('.nv-cmap', 'viridis');
    await page.waitForTimeout(50);
    const viridis = await canvasPixels(page, '.nv-main');
    assert.ok(differing(own, viridis) > 1000, 'the colour map changes the canvas');
    await page.fill('.nv-opacity', '100');
    await page.waitForTimeout(50);
    assert.ok(differing(viridis, await canvasPixels(page, '.nv-main')) > 1000, 'opacity changes the canvas');
    await page.fill('.nv-opacity', '40');
    await page.selectOption('.nv-cmap', 'jet');

    // side by side with LayerCAM (the first baseline: shown from the start), none, and back
    assert.equal(await page.isVisible('.nv-side'), true);
    assert.equal(await page.inputValue('.nv-compare'), 'layercam');
    await page.selectOption('.nv-compare', '');
    assert.equal(await page.isVisible('.nv-side'), false);
    await page.selectOption('.nv-compare', 'layercam');
    assert.equal(await page.isVisible('.nv-side'), true);
    const side = await canvasPixels(page, '.nv-side');
    assert.ok(differing(side, await canvasPixels(page, '.nv-main')) > 1000, 'LayerCAM differs from NAFlow');
    await blur();
    await page.keyboard.press('ArrowRight');
    assert.equal(await layer(), 21);
    assert.ok(differing(side, await canvasPixels(page, '.nv-side')) > 0, 'the side canvas follows the scrubber');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.waitForTimeout(100);
    await screenshot(page, 'report.png');

    // play with space, pause with space
    await blur();
    await page.keyboard.press('Home');
    await page.keyboard.press(' ');
    assert.equal(await page.getAttribute('.nv-play', 'aria-pressed'), 'true');
    await until(async () => (await layer()) >= 2);
    await page.keyboard.press(' ');
    assert.equal(await page.getAttribute('.nv-play', 'aria-pressed'), 'false');
    const stopped = await layer();
    await page.waitForTimeout(600);
    assert.equal(await layer(), stopped, 'paused');
    // thumbnails choose a layer
    await page.click('.nv-thumb >> nth=7');
    assert.equal(await layer(), 7);

    assert.deepEqual(b.errors, []);
    assert.deepEqual(
      b.requests.filter((r) => r !== url && !r.startsWith('data:')),
      [],
      'no request but the file itself',
    );

    // an eval report without a flow: the plots and tables alone
    await page.goto(pathToFileURL(evalOnly).href);
    await page.waitForSelector('.nv-plot svg polyline', { state: 'attached' });
    assert.equal(await page.locator('.nv-plot svg').count(), 1);
    assert.equal(await page.locator('.nv-table tbody tr').count(), 2);
    assert.equal(await page.locator('.nv-main').count(), 0);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
