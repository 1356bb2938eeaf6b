/**
 * `naflow serve` hands out the in-browser app under /web/ (files of dist/web by name only, behind the
 * Host check): the app opened from the server explains the bundled photo in a worker with every
 * request on the server's origin; names outside the app folder, a foreign Host and an unbuilt app are refused.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { buildWeb } from '../tools/build-web.js';
import { DEFAULT_MODEL, DEFAULT_IMAGE } from '../src/defaults.js';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { browserSkip, openBrowser } from './helpers/browser.js';

const MODEL_DIR = path.dirname(DEFAULT_MODEL);
const MODEL_FILES = fs
  .readdirSync(MODEL_DIR)
  .filter((f) => !/^LICENSE|\.md$/.test(f))
  .map((f) => path.join(MODEL_DIR, f));
const models = [{ id: 'tiny-darknet', name: 'Tiny Darknet', file: DEFAULT_MODEL, kind: 'bundled' as const }];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-web-serve-'));
const web = path.join(tmp, 'web');
let srv: RunningServer | undefined;

async function server(): Promise<RunningServer> {
  if (srv) return srv;
  await buildWeb(web);
  srv = await startServer({ port: 0, models, webDir: web });
  return srv;
}

test.after(async () => {
  await srv?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** GET a path with a given Host header (fetch would set its own). */
function get(port: number, p: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('/web/: the app files with their types; other names 404, dot paths 400, a foreign Host 403', async () => {
  const { port } = await server();
  const index = await get(port, '/web/');
  assert.equal(index.status, 200);
  assert.match(index.headers['content-type'] ?? '', /^text\/html/);
  assert.equal(index.body, fs.readFileSync(path.join(web, 'index.html'), 'utf8'));
  assert.equal((await get(port, '/web')).headers.location, '/web/');
  const wasm = fs.readdirSync(web).find((f) => f.endsWith('.wasm'));
  assert.ok(wasm, 'the build has a .wasm file');
  assert.equal((await get(port, `/web/${wasm}`)).headers['content-type'], 'application/wasm');
  assert.match((await get(port, '/web/naflow-worker.js')).headers['content-type'] ?? '', /^text\/javascript/);
  assert.equal((await get(port, '/web/no-such.js')).status, 404);
  assert.equal((await get(port, '/web/sub/index.html')).status, 404);
  assert.equal((await get(port, '/web/../package.json')).status, 400);
  assert.equal((await get(port, '/web/', 'attacker.example')).status, 403);
  const unbuilt = await startServer({ port: 0, models, webDir: path.join(tmp, 'not-built') });
  try {
    const r = await get(unbuilt.port, '/web/');
    assert.equal(r.status, 404);
    assert.match(JSON.parse(r.body).error, /the web app is not built here: run npm run build:web/);
  } finally {
    await unbuilt.close();
  }
});

test('the app opened from naflow serve explains the bundled photo in a worker, every request on the origin', {
  skip: browserSkip,
  timeout: 240_000,
}, async () => {
  const { url } = await server();
  const browser = await openBrowser();
  try {
    const { page } = browser;
    await page.goto(`${url}web/`);
    await page.setInputFiles('#app-model-files', MODEL_FILES);
    await page.setInputFiles('#app-image-file', DEFAULT_IMAGE);
    await page.waitForFunction(() => (document.getElementById('app-class') as unknown as { length: number }).length === 6, undefined, { timeout: 120_000 });
    await page.selectOption('#app-mode', 'reference');
    await page.click('#app-explain');
    await page.waitForSelector('body[data-state="done"]', { timeout: 180_000 });
    await page.waitForSelector('#naflow-viewer[data-ready="true"]');
    assert.equal(await page.getAttribute('#naflow-viewer', 'data-layers'), '50');
    assert.match((await page.textContent('.nv-facts')) ?? '', /Egyptian cat/);
    const origin = url.replace(/\/$/, '');
    const away = browser.requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(away, [], `requests leaving ${origin}`);
    assert.ok(
      browser.requests.some((u) => u === `${origin}/web/naflow-worker.js`),
      'the worker came from the server',
    );
    assert.deepEqual(browser.errors, [], 'no failed request (the page declares its icon), no page error');
  } finally {
    await browser.close();
  }
});
