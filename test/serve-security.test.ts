/**
 * `naflow serve`'s hard edges: the Host allow-list holds on every address (127.0.0.2 stands for "off
 * loopback": Linux routes all of 127/8 to lo, so no test listens beyond this machine), the token is
 * required off loopback (query → cookie, Bearer header), a malformed Origin is 403, too many pixels 413,
 * a truncated image 400 at upload, job errors show no server folder, and uploads are not kept once a
 * worker has them. Every server here listens on loopback; every request count is small and bounded.
 */
import '../src/node/register.js';
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import sharp from 'sharp';
import { DEFAULT_IMAGE, DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';
import { startServer } from '../src/serve/server.js';
import { hostAllowList, hostOfHeader, redactPaths } from '../src/serve/access.js';
import { BIN } from './helpers/run-cli.js';
import { browserSkip, openBrowser } from './helpers/browser.js';

const chelsea = new Uint8Array(fs.readFileSync(DEFAULT_IMAGE));
const models = [{ id: 'tiny-darknet', name: 'Tiny Darknet', file: DEFAULT_MODEL, kind: 'bundled' as const }];
const TOKEN = 'test-token-0123456789abcdef';

/** One raw HTTP/1.1 request (any Host header, no client-side rewriting): status, headers, body. */
function rawHttp(host: string, port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    let data = '';
    s.setTimeout(10_000, () => s.destroy(new Error('raw request timed out')));
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('end', () => {
      const split = data.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]), head: data.slice(0, split), body: data.slice(split + 4) });
    });
    s.on('error', reject);
    s.end(request);
  });
}

const get = (p: string, hostHeader: string, extra = '') => `GET ${p} HTTP/1.1\r\nHost: ${hostHeader}\r\n${extra}Connection: close\r\n\r\n`;

async function waitDone(base: string, id: string, init?: RequestInit): Promise<{ status: string; message?: string }> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const s = (await (await fetch(`${base}api/jobs/${id}`, init)).json()) as { status: string; message?: string };
    if (s.status === 'done' || s.status === 'error') return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish in 120 s`);
}

test('Host headers, the allow-list and path redaction (units)', () => {
  assert.equal(hostOfHeader('LocalHost:8080'), 'localhost');
  assert.equal(hostOfHeader('[::1]:8080'), '::1');
  assert.equal(hostOfHeader('[::1]'), '::1');
  assert.equal(hostOfHeader('127.0.0.2'), '127.0.0.2');
  for (const bad of [undefined, '', 'a b', 'x:y:z', '[::1', 'host:port']) assert.equal(hostOfHeader(bad), null, String(bad));
  const bound = hostAllowList('127.0.0.2', ['Naflow.Test']);
  assert.deepEqual([...bound].sort(), ['127.0.0.1', '127.0.0.2', '::1', 'localhost', 'naflow.test']);
  // a wildcard bind answers for this machine's own addresses, never for any name
  const wild = hostAllowList('0.0.0.0');
  for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) assert.ok(wild.has(a.address.toLowerCase()), a.address);
  assert.equal(wild.has('attacker.example'), false);
  assert.equal(
    redactPaths("/home/ann/models/secret/resnet.onnx: unsupported op; ENOENT: open '/srv/x/w.bin'. see docs/ops.md"),
    "resnet.onnx: unsupported op; ENOENT: open 'w.bin'. see docs/ops.md",
  );
  assert.equal(redactPaths('C:\\Users\\ann\\m.onnx is bad at file:///tmp/a/b.png.'), 'm.onnx is bad at b.png.');
  for (const kept of ['1/2 of the layers, and/or 0.3 MB / s', 'cross-origin upload from http://evil.example/a/b refused'])
    assert.equal(redactPaths(kept), kept, 'no file path, nothing changed');
});

test('off loopback (127.0.0.2): foreign Hosts get 403, requests without the token 401; the token opens the page and the API', async () => {
  const srv = await startServer({ port: 0, host: '127.0.0.2', models, token: TOKEN, allowHosts: ['naflow.test'] });
  const h = `127.0.0.2:${srv.port}`;
  try {
    assert.equal(srv.url, `http://127.0.0.2:${srv.port}/`);
    for (const foreign of ['attacker.example', `attacker.example:${srv.port}`, '127.0.0.3', 'localhost.attacker.example']) {
      const r = await rawHttp('127.0.0.2', srv.port, get(`/?token=${TOKEN}`, foreign));
      assert.equal(r.status, 403, foreign);
      assert.match(JSON.parse(r.body).error, /not one this server answers to .*--allow-host/);
    }
    assert.equal((await rawHttp('127.0.0.2', srv.port, `GET / HTTP/1.0\r\n\r\n`)).status, 403, 'no Host at all');
    // allowed names, but no token
    for (const name of [h, `localhost:${srv.port}`, 'naflow.test', '127.0.0.1']) {
      const r = await rawHttp('127.0.0.2', srv.port, get('/api/models', name));
      assert.equal(r.status, 401, name);
      assert.match(r.head, /WWW-Authenticate: Bearer/i);
      assert.match(JSON.parse(r.body).error, /needs its token/);
    }
    assert.equal((await fetch(srv.url)).status, 401, 'the page');
    assert.equal((await fetch(`${srv.url}?token=wrong-token-0123456789`, { redirect: 'manual' })).status, 401, 'a wrong token');
    assert.equal((await fetch(`${srv.url}api/models?token=${TOKEN}`)).status, 401, '?token= opens the page only');
    assert.equal((await fetch(`${srv.url}api/models`, { headers: { Authorization: 'Bearer nope-nope-nope-nope' } })).status, 401);
    // Bearer
    const api = await fetch(`${srv.url}api/models`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(api.status, 200);
    assert.equal(((await api.json()) as unknown[]).length, 1);
    // ?token= on the page: a cookie (HttpOnly, SameSite=Strict) and a redirect to the bare page
    const open = await fetch(`${srv.url}?token=${TOKEN}`, { redirect: 'manual' });
    assert.equal(open.status, 303);
    assert.equal(open.headers.get('location'), '/');
    const [cookie] = open.headers.getSetCookie();
    assert.match(cookie, new RegExp(`^naflow-token-${srv.port}=${TOKEN}; Path=/; HttpOnly; SameSite=Strict$`));
    const jar = { Cookie: `other=1; ${cookie.split(';')[0]}` };
    const page = await fetch(srv.url, { headers: jar });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<h1>naflow/);
    assert.equal((await fetch(`${srv.url}api/models`, { headers: jar })).status, 200);
    assert.equal((await fetch(`${srv.url}api/models`, { headers: { Cookie: `naflow-token-${srv.port}=x${TOKEN}` } })).status, 401);
  } finally {
    await srv.close();
  }
  // the allow-list holds without a token too (it used to apply on 127.0.0.1/localhost/::1 only)
  const open = await startServer({ port: 0, host: '127.0.0.2', models });
  try {
    assert.equal((await rawHttp('127.0.0.2', open.port, get('/', 'attacker.example'))).status, 403);
    assert.equal((await rawHttp('127.0.0.2', open.port, get('/', `127.0.0.2:${open.port}`))).status, 200);
  } finally {
    await open.close();
  }
});

test('uploads: a malformed Origin is 403, over 40 MP is 413, a truncated image is 400 at upload', async () => {
  const srv = await startServer({ port: 0, models });
  try {
    const post = (body: Uint8Array, headers: Record<string, string> = {}) =>
      fetch(`${srv.url}api/explain?mode=reference`, {
        method: 'POST',
        headers: { 'Content-Type': 'image/png', ...headers },
        body: body as unknown as BodyInit,
      });
    for (const origin of ['http://[', 'not a url', 'http://exa mple.org']) {
      const r = await post(chelsea, { Origin: origin });
      assert.equal(r.status, 403, origin);
      assert.match(((await r.json()) as { error: string }).error, /cross-origin upload/);
    }
    // 6400 × 6400 = 41 MP of one colour: a small file whose header says too many pixels
    const huge = new Uint8Array(
      await sharp({ create: { width: 6400, height: 6400, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    let r = await post(huge);
    assert.equal(r.status, 413);
    assert.match(((await r.json()) as { error: string }).error, /6400×6400 pixels, over the limit of 40000000/);
    const jpeg = new Uint8Array(await sharp(chelsea).jpeg().toBuffer());
    for (const [kind, bytes] of [
      ['PNG', chelsea],
      ['JPEG', jpeg],
    ] as const) {
      r = await post(bytes.subarray(0, Math.floor(bytes.length * 0.8)), { 'Content-Type': kind === 'PNG' ? 'image/png' : 'image/jpeg' });
      assert.equal(r.status, 400, kind);
      assert.match(((await r.json()) as { error: string }).error, new RegExp(`the ${kind} image is truncated or damaged .*send the whole file`));
    }
    assert.equal(srv.uploadBytesHeld(), 0, 'no refused upload is kept');
  } finally {
    await srv.close();
  }
});

test('jobs: an error names no server folder (the log has it); uploads are dropped once a worker has them', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-serve-secret-'));
  const broken = path.join(dir, 'broken.onnx');
  fs.writeFileSync(broken, 'this is not an ONNX model');
  const log: string[] = [];
  const srv = await startServer({
    port: 0,
    models: [...models, { id: 'm1', name: 'broken.onnx', file: broken, kind: 'registered' }],
    log: (l) => log.push(l),
  });
  try {
    const post = (model: string) =>
      fetch(`${srv.url}api/explain?mode=reference&model=${model}`, {
        method: 'POST',
        headers: { 'Content-Type': 'image/png' },
        body: chelsea as unknown as BodyInit,
      });
    // one job runs, the next waits: only the waiting one's bytes are held
    const ids: string[] = [];
    for (const model of ['tiny-darknet', 'm1']) {
      const r = await post(model);
      assert.equal(r.status, 202);
      ids.push(((await r.json()) as { id: string }).id);
    }
    assert.equal(srv.uploadBytesHeld(), chelsea.length, 'the waiting job holds its upload, the running one not');
    assert.equal((await waitDone(srv.url, ids[0])).status, 'done');
    const failed = await waitDone(srv.url, ids[1]);
    assert.equal(failed.status, 'error');
    assert.match(failed.message!, /broken\.onnx/, 'the message names the model file');
    assert.equal(failed.message!.includes(dir), false, `no server folder in '${failed.message}'`);
    const conflict = await fetch(`${srv.url}api/jobs/${ids[1]}/report.html`);
    assert.equal(conflict.status, 409);
    assert.equal((await conflict.text()).includes(dir), false);
    assert.ok(
      log.some((l) => l.includes(broken)),
      'the server log keeps the full path',
    );
    assert.equal(srv.uploadBytesHeld(), 0, 'finished jobs keep no upload');
    assert.equal((await fetch(`${srv.url}api/jobs/${ids[0]}/maps.zip`)).status, 200, 'but keep their results');
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('in Chromium the token URL opens the app off loopback, and the cookie carries the upload, its events and downloads', { skip: browserSkip }, async () => {
  const srv = await startServer({ port: 0, host: '127.0.0.2', models, token: TOKEN });
  const b = await openBrowser();
  try {
    const { page } = b;
    await page.goto(`${srv.url}?token=${TOKEN}`);
    assert.equal(page.url(), srv.url, 'the token left the address bar');
    await page.waitForSelector('#app-model option', { state: 'attached' });
    await page.setInputFiles('#app-file', DEFAULT_IMAGE);
    await page.selectOption('#app-mode', 'reference');
    await page.click('#app-go');
    await page.waitForSelector('#naflow-viewer[data-ready="true"]', { timeout: 60_000 });
    assert.match((await page.textContent('#app-status'))!, /done: Egyptian cat/);
    const report = await page.evaluate(async () => (await fetch((document.getElementById('app-report') as HTMLAnchorElement).href)).status);
    assert.equal(report, 200, 'a download with the cookie');
    assert.deepEqual(b.errors, []);
    // without the cookie the page is refused
    await b.context.clearCookies();
    assert.equal((await page.goto(srv.url))?.status(), 401);
  } finally {
    await b.close();
    await srv.close();
  }
});

/** Start the CLI; resolves with the URL it prints, the process and its stderr so far. */
function startCli(args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ReturnType<typeof spawn>; err: () => string }> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NAFLOW_') && v !== undefined) clean[k] = v;
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { cwd: PACKAGE_ROOT, env: { ...clean, ...env } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no URL printed: ${out} ${err}`));
    }, 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /naflow serve: (http:\/\/\S+) \(/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, err: () => err });
      }
    });
  });
}

const stop = (child: ReturnType<typeof spawn>) =>
  new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.kill('SIGINT');
  });

test('naflow serve off loopback prints a URL with a random token and requires it; NAFLOW_TOKEN sets one on loopback', async () => {
  const off = await startCli(['--host', '127.0.0.2']);
  try {
    const m = /^http:\/\/127\.0\.0\.2:(\d+)\/\?token=([0-9a-f]{48})$/.exec(off.url);
    assert.ok(m, off.url);
    const bare = off.url.replace(/\?.*/, '');
    assert.equal((await fetch(`${bare}api/models`)).status, 401);
    assert.equal((await fetch(`${bare}api/models`, { headers: { Authorization: `Bearer ${m[2]}` } })).status, 200);
    assert.equal((await fetch(off.url, { redirect: 'manual' })).status, 303);
    assert.match(off.err(), /listening on 127\.0\.0\.2: anyone who can reach this address and has the token/);
  } finally {
    assert.equal(await stop(off.child), 0);
  }
  const env = await startCli([], { NAFLOW_TOKEN: TOKEN });
  try {
    assert.match(env.url, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/\\?token=${TOKEN}$`));
    assert.equal((await fetch(env.url.replace(/\?.*/, ''))).status, 401);
  } finally {
    assert.equal(await stop(env.child), 0);
  }
});
