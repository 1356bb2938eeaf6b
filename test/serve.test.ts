/**
 * `naflow serve`: the explanation job frees its tensors (in process); the server refuses what it must
 * (413 over the upload limit, 415 for non-images, 400 for `..` and encoded paths — sent as raw HTTP,
 * since clients normalise `../` —, 403 for a foreign Host, 503 when the queue is full); the CLI starts,
 * answers and stops on SIGINT; and in headless Chromium an uploaded image's flow arrives live and the
 * viewer works (screenshot in test-artifacts/).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { spawn } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { unzipSync } from 'fflate';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';
import { runExplainJob } from '../src/serve/job.js';
import { startServer, sniffImage, badPath, type RunningServer } from '../src/serve/server.js';
import { BIN } from './helpers/run-cli.js';
import { browserSkip, openBrowser, screenshot, canvasPixels, differing } from './helpers/browser.js';

const chelsea = new Uint8Array(fs.readFileSync(DEFAULT_IMAGE));
const models = [{ id: 'tiny-darknet', name: 'Tiny Darknet', file: DEFAULT_MODEL, kind: 'bundled' as const }];

/** Send raw bytes over TCP (no client-side path normalisation) and return the status code and body. */
function rawHttp(port: number, request: string | Uint8Array): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    s.on('error', reject);
    s.end(request);
  });
}

/** Every state a job's server-sent event stream carries, until the server ends it. */
async function sseStates(url: string): Promise<{ status: string; position: number; progress: { stage: string; done: number } | null }[]> {
  const res = await fetch(url);
  assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .map((block) => block.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => !!l)
    .map((l) => JSON.parse(l.slice(6)));
}

async function waitDone(base: string, id: string): Promise<{ status: string; message?: string }> {
  for (;;) {
    const s = (await (await fetch(`${base}api/jobs/${id}`)).json()) as { status: string; message?: string };
    if (s.status === 'done' || s.status === 'error') return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('sniffImage and badPath', () => {
  assert.equal(sniffImage(chelsea), 'image/png');
  assert.equal(sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), 'image/jpeg');
  assert.equal(sniffImage(new Uint8Array(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))), 'image/webp');
  assert.equal(sniffImage(new Uint8Array(Buffer.from('GIF89a...'))), null);
  assert.equal(sniffImage(new Uint8Array(Buffer.from('<svg xmlns='))), null);
  for (const p of ['/', '/api/models', '/api/jobs/0123456789abcdef/report.html']) assert.equal(badPath(p), null, p);
  for (const p of ['/../etc/passwd', '/api/jobs/../../x', '/a/./b', '/%2e%2e/x', '/a%2Fb', '/a\\..\\b', '/%00', 'x']) assert.ok(badPath(p), p);
});

test('the serve explanation job frees every tensor it creates and zips the raw maps', async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const job = { image: chelsea, imageName: 'chelsea.png', mode: 'reference' as const, compare: ['layercam' as const] };
    await runExplainJob(model, 'Tiny Darknet', job); // warm-up (backend caches)
    const before = tf.memory().numTensors;
    let last: Awaited<ReturnType<typeof runExplainJob>> | undefined;
    const stages = new Set<string>();
    for (let i = 0; i < 3; i++) last = await runExplainJob(model, 'Tiny Darknet', job, (p) => stages.add(p.stage));
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind after repeated requests');
    assert.deepEqual([...stages], ['naflow', 'compare', 'report']);
    const files = unzipSync(last!.zip);
    const names = Object.keys(files);
    assert.equal(names.filter((n) => n.startsWith('maps/')).length, 50);
    assert.equal(names.filter((n) => n.startsWith('compare/layercam/')).length, 50);
    const flow = JSON.parse(Buffer.from(files['flow.json']).toString());
    assert.equal(flow.decision.label, 'Egyptian cat');
    assert.deepEqual(
      last!.data.flows.map((f) => f.method),
      ['naflow', 'layercam'],
    );
  } finally {
    model.dispose();
  }
});

test('the server refuses big, non-image and queued-over uploads, traversal paths and foreign hosts', async () => {
  const srv = await startServer({ port: 0, models, maxUploadBytes: 300 * 1024, maxQueue: 1 });
  const base = srv.url;
  try {
    const post = (body: Uint8Array | string, type = 'image/png', q = 'mode=reference') =>
      fetch(`${base}api/explain?${q}`, { method: 'POST', headers: { 'Content-Type': type }, body: body as unknown as BodyInit });
    // over the limit: declared by Content-Length, and streamed without one
    const big = new Uint8Array(400 * 1024);
    big.set(chelsea.subarray(0, 8));
    let r = await post(big);
    assert.equal(r.status, 413);
    assert.match(((await r.json()) as { error: string }).error, /over the limit of 0\.3 MB/);
    const chunk = `${(100 * 1024).toString(16)}\r\n${'\0'.repeat(100 * 1024)}\r\n`;
    const chunked = await rawHttp(
      srv.port,
      `POST /api/explain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.repeat(4)}0\r\n\r\n`,
    );
    assert.equal(chunked.status, 413);
    // not an image: by content type, by magic bytes, and a PNG signature on garbage
    r = await post('hello', 'text/plain');
    assert.equal(r.status, 415);
    r = await fetch(`${base}api/explain`, { method: 'POST', body: new Blob([chelsea as unknown as ArrayBuffer]) });
    assert.equal(r.status, 415, 'no Content-Type (what a cross-site no-cors fetch can send)');
    r = await fetch(`${base}api/explain`, {
      method: 'POST',
      headers: { 'Content-Type': 'image/png', Origin: 'http://evil.example' },
      body: chelsea as unknown as BodyInit,
    });
    assert.equal(r.status, 403, 'cross-origin upload');
    r = await post(new Uint8Array(fs.readFileSync(`${PACKAGE_ROOT}/package.json`)));
    assert.equal(r.status, 415);
    assert.match(((await r.json()) as { error: string }).error, /not a PNG, JPEG or WebP image/);
    r = await post(new Uint8Array([...chelsea.subarray(0, 8), 1, 2, 3, 4]));
    assert.equal(r.status, 415);
    assert.match(((await r.json()) as { error: string }).error, /cannot decode the PNG image/);
    r = await post(chelsea, 'image/png', 'mode=fast');
    assert.equal(r.status, 400);
    r = await post(chelsea, 'image/png', 'compare=scorecam');
    assert.equal(r.status, 400);
    r = await post(chelsea, 'image/png', 'model=../../etc');
    assert.equal(r.status, 400);
    // paths: raw requests, since fetch would normalise them away
    for (const p of ['/../package.json', '/api/../../package.json', '/%2e%2e/package.json', '/api/jobs/..%2f..%2fpackage.json', '/assets\\..\\package.json'])
      assert.equal((await rawHttp(srv.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).status, 400, p);
    for (const p of ['/package.json', '/assets/viewer/viewer.js', '/api/jobs/0123456789abcdef', '/api/jobs/xyz/report.html'])
      assert.equal((await fetch(base + p.slice(1))).status, 404, p);
    assert.equal((await fetch(`${base}api/models`, { method: 'DELETE' })).status, 405);
    assert.equal((await rawHttp(srv.port, 'GET / HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n')).status, 403, 'DNS rebinding');
    const app = await fetch(base);
    assert.equal(app.status, 200);
    assert.match(app.headers.get('content-security-policy')!, /default-src 'none'.*connect-src 'self'/);
    // the queue: one running, one waiting, the third refused
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      r = await post(chelsea);
      assert.equal(r.status, 202);
      ids.push(((await r.json()) as { id: string }).id);
    }
    r = await post(chelsea);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '10');
    const second = (await (await fetch(`${base}api/jobs/${ids[1]}`)).json()) as { status: string; position: number };
    assert.deepEqual([second.status, second.position], ['queued', 1]);
    const states = sseStates(`${base}api/jobs/${ids[1]}/events`);
    assert.equal((await fetch(`${base}api/jobs/${ids[1]}/report.html`)).status, 409, 'not done yet');
    for (const id of ids) assert.equal((await waitDone(base, id)).status, 'done');
    // the waiting job's stream: its queue position, then live progress layer by layer, then done
    const seen = await states;
    assert.deepEqual([seen[0].status, seen[0].position], ['queued', 1]);
    const layers = seen.filter((x) => x.status === 'running' && x.progress?.stage === 'naflow').map((x) => x.progress!.done);
    assert.ok(layers.length >= 10 && layers.every((d, i) => i === 0 || d > layers[i - 1]), `progress by layer: ${layers.join(',')}`);
    assert.equal(seen[seen.length - 1].status, 'done');
    const t = srv.workerTensors();
    r = await post(chelsea);
    assert.equal((await waitDone(base, ((await r.json()) as { id: string }).id)).status, 'done');
    assert.deepEqual(srv.workerTensors(), t, 'the worker holds no more tensors after another job');
    const report = await fetch(`${base}api/jobs/${ids[0]}/report.html`);
    assert.equal(report.status, 200);
    assert.match(report.headers.get('content-disposition')!, /^attachment; filename="naflow-upload\.html"/);
    assert.match(await report.text(), /<script type="application\/json" id="naflow-data">/);
    const zip = await fetch(`${base}api/jobs/${ids[0]}/maps.zip`);
    assert.equal(Object.keys(unzipSync(new Uint8Array(await zip.arrayBuffer()))).filter((n) => n.endsWith('.npy')).length, 50);
  } finally {
    await srv.close();
  }
});

test('naflow serve starts, prints its URL, answers, and stops on SIGINT', async () => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('NAFLOW_')) delete env[k];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: PACKAGE_ROOT, env });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out} ${err}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /naflow serve: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const models = (await (await fetch(`${url}api/models`)).json()) as { id: string }[];
  assert.deepEqual(
    models.map((m) => m.id),
    ['tiny-darknet'],
  );
  const code = await new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.kill('SIGINT');
  });
  assert.equal(code, 0, err);
  assert.match(err, /stopping/);
  const bad = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'serve', '--port', '70000'], { cwd: PACKAGE_ROOT, env });
    let e = '';
    c.stderr.on('data', (d) => (e += d));
    c.on('close', (code) => resolve({ code, err: e }));
  });
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--port must be an integer from 0 to 65535/);
  const missing = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--model', 'nowhere.onnx'], { cwd: PACKAGE_ROOT, env });
    let e = '';
    c.stderr.on('data', (d) => (e += d));
    c.on('close', (code) => resolve({ code, err: e }));
  });
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nowhere\.onnx: no such file or directory/);
});

test('serve in Chromium: upload an image, follow the flow live, scrub it, download the report', { skip: browserSkip }, async () => {
  let srv: RunningServer | undefined;
  const b = await openBrowser();
  try {
    srv = await startServer({ port: 0, models });
    const { page } = b;
    await page.goto(srv.url);
    await page.waitForSelector('#app-model option', { state: 'attached' });
    await page.setInputFiles('#app-file', DEFAULT_IMAGE);
    await page.selectOption('#app-mode', 'reference');
    await page.check('#cmp-layercam');
    const progress: string[] = [];
    page.on('response', (r) => progress.push(r.url()));
    await page.click('#app-go');
    await page.waitForSelector('#naflow-viewer[data-ready="true"]', { timeout: 60_000 });
    assert.ok(
      progress.some((u) => /\/api\/jobs\/[0-9a-f]{16}\/events$/.test(u)),
      'progress came over server-sent events',
    );
    assert.match((await page.textContent('#app-status'))!, /done: Egyptian cat/);
    const before = await canvasPixels(page, '#naflow-viewer .nv-main');
    assert.equal(await page.getAttribute('#naflow-viewer', 'data-layer'), '49');
    await page.fill('#naflow-viewer .nv-layer', '30');
    assert.equal(await page.getAttribute('#naflow-viewer', 'data-layer'), '30');
    assert.ok(differing(before, await canvasPixels(page, '#naflow-viewer .nv-main')) > 1000, 'the scrubber changes the canvas');
    await page.selectOption('#naflow-viewer .nv-compare', 'layercam');
    assert.equal(await page.isVisible('#naflow-viewer .nv-side'), true);
    await screenshot(page, 'serve.png');
    const report = await page.getAttribute('#app-report', 'href');
    const res = await fetch(new URL(report!, srv.url));
    assert.equal(res.status, 200);
    assert.ok((await res.text()).length > 500_000);
    // a refused upload shows its reason
    await page.setInputFiles('#app-file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not really a png') });
    await page.click('#app-go');
    await page.waitForSelector('#app-status.error');
    assert.match((await page.textContent('#app-status'))!, /refused: not a PNG, JPEG or WebP image/);
    assert.deepEqual(
      b.errors.filter((e) => !/status of 415/.test(e)),
      [],
    );
  } finally {
    await b.close();
    await srv?.close();
  }
});
