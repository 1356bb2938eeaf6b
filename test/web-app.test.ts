/**
 * The web app (dist/web/index.html, built by tools/build-web.ts): headless Chromium opens it from a
 * loopback static server, gets the bundled Tiny Darknet (model.json + shards + card + labels) and the
 * bundled photo through the file inputs, and explains in a Web Worker: the viewer shows the 50 layers
 * and the decision ('Egyptian cat', as the CLI says), the page keeps drawing frames while the worker
 * runs, Cancel stops a paper-mode run and returns the page to ready, a file that is not a model is
 * reported in the page, the library client (explainInWorker) works from bytes, and no request leaves
 * the origin.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildWeb } from '../tools/build-web.js';
import { DEFAULT_MODEL, DEFAULT_IMAGE } from '../src/defaults.js';
import { browserSkip, openBrowser, screenshot, type Browser } from './helpers/browser.js';
import { serveStatic, type StaticServer } from './helpers/static-server.js';

const MODEL_DIR = path.dirname(DEFAULT_MODEL);
const MODEL_FILES = fs
  .readdirSync(MODEL_DIR)
  .filter((f) => !/^LICENSE|\.md$/.test(f))
  .map((f) => path.join(MODEL_DIR, f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-web-app-'));

let opened: { server: StaticServer; browser: Browser } | undefined;

async function app(): Promise<{ server: StaticServer; browser: Browser }> {
  if (opened) return opened;
  const web = path.join(tmp, 'web');
  await buildWeb(web);
  fs.writeFileSync(path.join(web, 'favicon.ico'), ''); // Chromium asks for one
  const server = await serveStatic({ '/models/tiny-darknet/': MODEL_DIR, '/photos/': path.dirname(DEFAULT_IMAGE), '/': web });
  const browser = await openBrowser();
  opened = { server, browser };
  await browser.page.goto(`${server.origin}/index.html`);
  return opened;
}

test.after(async () => {
  await opened?.browser.close();
  await opened?.server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const state = (b: Browser) => b.page.getAttribute('body', 'data-state');

test('the app explains the bundled photo with the bundled model in a worker, and the page stays responsive', {
  skip: browserSkip,
  timeout: 240_000,
}, async () => {
  const { server, browser } = await app();
  const { page } = browser;
  assert.equal(await state(browser), 'empty');
  await page.setInputFiles('#app-model-files', MODEL_FILES);
  await page.setInputFiles('#app-image-file', DEFAULT_IMAGE);
  // the top-5 classes come from the worker's predict
  await page.waitForFunction(() => (document.getElementById('app-class') as unknown as { length: number }).length === 6, undefined, { timeout: 120_000 });
  const firstClass = await page.textContent('#app-class option:nth-child(2)');
  assert.match(firstClass ?? '', /^Egyptian cat \(/);
  assert.equal(await state(browser), 'ready');

  // count animation frames while the worker explains: a frozen main thread draws none
  await page.evaluate(() => {
    const w = globalThis as unknown as {
      frames: number;
      maxGap: number;
      requestAnimationFrame(f: (t: number) => void): void;
      document: { body: { dataset: { state: string } } };
    };
    w.frames = 0;
    w.maxGap = 0;
    let last = 0;
    const tick = (t: number) => {
      if (w.document.body.dataset.state === 'busy') {
        w.frames++;
        if (last) w.maxGap = Math.max(w.maxGap, t - last);
        last = t;
      }
      w.requestAnimationFrame(tick);
    };
    w.requestAnimationFrame(tick);
  });
  await page.selectOption('#app-mode', 'reference');
  const t0 = Date.now();
  await page.click('#app-explain');
  await page.waitForSelector('body[data-state="done"]', { timeout: 180_000 });
  const busyMs = Date.now() - t0;
  await page.waitForSelector('#naflow-viewer[data-ready="true"]');
  assert.equal(await page.getAttribute('#naflow-viewer', 'data-layers'), '50');
  assert.equal(await page.getAttribute('.nv-layer', 'max'), '49', 'the scrubber runs over 50 layers');
  assert.equal(await page.getAttribute('#naflow-viewer', 'data-layer'), '49', 'the viewer opens at the deepest layer');
  assert.match((await page.textContent('.nv-facts')) ?? '', /Egyptian cat/);
  const factsDisplay = await page.evaluate(() => {
    const g = globalThis as unknown as { getComputedStyle(e: unknown): { display: string }; document: { querySelector(s: string): unknown } };
    return g.getComputedStyle(g.document.querySelector('.nv-facts')).display;
  });
  assert.equal(factsDisplay, 'grid', "the viewer's stylesheet (viewer.css) applies");
  assert.equal(await page.getAttribute('#app-progress', 'data-done'), '50');
  const { frames, maxGap } = await page.evaluate(() => {
    const w = globalThis as unknown as { frames: number; maxGap: number };
    return { frames: w.frames, maxGap: w.maxGap };
  });
  assert.ok(frames >= 3, `the page drew ${frames} frames in the ${busyMs} ms the worker ran`);
  assert.ok(maxGap < 1000, `the longest pause between frames was ${maxGap.toFixed(0)} ms`);
  await screenshot(page, 'web-app-reference.png');

  assert.ok(server.requested.includes('/naflow-worker.js'), `the worker came from the server: ${server.requested.join(', ')}`);
  assert.ok(
    server.requested.some((p) => p.endsWith('.wasm')),
    `the wasm binary came from the server: ${server.requested.join(', ')}`,
  );
  const away = browser.requests.filter((u) => !u.startsWith(`${server.origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(away, [], `requests leaving ${server.origin}`);
  assert.deepEqual(browser.errors, []);
});

test('Cancel stops a paper-mode run: the progress stops and the page returns to ready', { skip: browserSkip, timeout: 240_000 }, async () => {
  const { server, browser } = await app();
  const { page } = browser;
  if ((await state(browser)) !== 'done') {
    await page.setInputFiles('#app-model-files', MODEL_FILES);
    await page.setInputFiles('#app-image-file', DEFAULT_IMAGE);
  }
  await page.selectOption('#app-mode', 'paper');
  await page.click('#app-explain');
  // a few layers done, then cancel
  await page.waitForFunction(
    () => Number((document.getElementById('app-progress') as unknown as { dataset: { done?: string } }).dataset.done ?? 0) >= 3,
    undefined,
    {
      timeout: 120_000,
    },
  );
  assert.equal(await state(browser), 'busy');
  assert.equal(page.workers().length, 1, 'one worker runs the explanation');
  const closed = new Promise((r) => page.workers()[0].once('close', r));
  await page.click('#app-cancel');
  await page.waitForSelector('body[data-state="ready"]', { timeout: 10_000 });
  await closed; // the worker itself is gone, not just its answers ignored
  assert.equal(page.workers().length, 0);
  const stoppedAt = await page.getAttribute('#app-progress', 'data-done');
  assert.equal(await page.textContent('#app-status'), 'cancelled.');
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await page.getAttribute('#app-progress', 'data-done'), stoppedAt, 'no progress after Cancel');
  assert.ok(Number(stoppedAt) < 50, `cancelled before the end (at layer ${stoppedAt})`);
  assert.equal(await page.isDisabled('#app-explain'), false, 'Explain is offered again');
  assert.equal(await page.isDisabled('#app-cancel'), true);

  // the next run starts a fresh worker (the model is sent again) and completes
  await page.selectOption('#app-mode', 'reference');
  await page.click('#app-explain');
  await page.waitForSelector('body[data-state="done"]', { timeout: 180_000 });
  assert.equal(await page.getAttribute('#naflow-viewer', 'data-layers'), '50');
  assert.equal(page.workers().length, 1, 'a fresh worker');
  const away = browser.requests.filter((u) => !u.startsWith(`${server.origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(away, [], `requests leaving ${server.origin}`);
  assert.deepEqual(browser.errors, []);
});

test('explainInWorker (the library client) takes bytes, transfers the maps back and ends its worker', { skip: browserSkip, timeout: 240_000 }, async () => {
  const { server, browser } = await app();
  const { page } = browser;
  const names = MODEL_FILES.map((f) => path.basename(f));
  const before = page.workers().length;
  const got = await page.evaluate(
    async ({ names, photo }) => {
      const lib = await import('/naflow-client.js' as string);
      const bytes = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());
      const files: Record<string, Uint8Array> = {};
      for (const n of names) files[n] = await bytes(`/models/tiny-darknet/${n}`);
      const image = await bytes(photo);
      let progress = 0;
      const r = await lib.explainInWorker(files, image, { mode: 'reference', onProgress: (done: number) => (progress = done) }).promise;
      const layer = r.layers[r.layers.length - 1];
      return {
        label: r.decision.label,
        layers: r.layers.length,
        progress,
        isF32: layer.map instanceof Float32Array,
        mapLength: layer.map.length,
        shape: layer.shape,
        callerKeptBytes: files[names[0]].byteLength > 0 && image.byteLength > 0,
      };
    },
    { names, photo: `/photos/${path.basename(DEFAULT_IMAGE)}` },
  );
  assert.equal(got.label, 'Egyptian cat');
  assert.equal(got.layers, 50);
  assert.equal(got.progress, 50);
  assert.ok(got.isF32);
  assert.equal(got.mapLength, got.shape[0] * got.shape[1]);
  assert.ok(got.callerKeptBytes, "the caller's bytes were copied, not transferred away");
  // the task's own worker is terminated once it answered
  for (let i = 0; i < 50 && page.workers().length > before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page.workers().length, before);
  const away = browser.requests.filter((u) => !u.startsWith(`${server.origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(away, [], `requests leaving ${server.origin}`);
});

test('a file that is not a model gets a message naming what to give, and Explain then fails with it, not silently', {
  skip: browserSkip,
  timeout: 120_000,
}, async () => {
  const { browser } = await app();
  const { page } = browser;
  await page.setInputFiles('#app-model-files', [DEFAULT_IMAGE]);
  await page.setInputFiles('#app-image-file', DEFAULT_IMAGE);
  await page.waitForSelector('#app-status.error', { timeout: 60_000 });
  assert.match(
    (await page.textContent('#app-status')) ?? '',
    /no model among the files \(chelsea\.png\): give an \.onnx file, or a TensorFlow\.js model\.json/,
  );
  await page.click('#app-explain');
  await page.waitForFunction(
    () => /the explanation failed/.test((document.getElementById('app-status') as unknown as { textContent: string }).textContent),
    undefined,
    {
      timeout: 60_000,
    },
  );
  assert.match((await page.textContent('#app-status')) ?? '', /no model among the files/);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
  assert.deepEqual(browser.errors, [], 'the failures are shown in the page, not thrown');
});
