/**
 * The engine in a web page (`naflow/web`, dist/web/naflow.js built by tools/build-web.ts): headless
 * Chromium opens a page from a loopback static server, loads the bundled model from fetched bytes or
 * File objects, and computes what Node computes — the maps of both modes for the same input tensor
 * (against the Node CLI's maps/*.npy: reference ≤ 1e-5, paper ≤ 1e-3 relative at every layer), the
 * decoded pixels of a PNG (against sharp's), and the top class of the bundled photo. No request may
 * leave the page's origin.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildWeb } from '../tools/build-web.js';
import { DEFAULT_MODEL, DEFAULT_IMAGE } from '../src/defaults.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage } from '../src/image/preprocess.js';
import { predict } from '../src/predict.js';
import { decodeImage } from '../src/node/decode-image.js';
import { initBackend } from '../src/engine/backend.js';
import { encodeNpy, parseNpy, npyToFloat32 } from '../src/util/npy.js';
import { browserSkip, openBrowser, type Browser } from './helpers/browser.js';
import { serveStatic, type StaticServer } from './helpers/static-server.js';
import { naflow } from './helpers/run-cli.js';

const MODEL_DIR = path.dirname(DEFAULT_MODEL);
const MODEL_FILES = fs.readdirSync(MODEL_DIR).filter((f) => !/^LICENSE|\.md$/.test(f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-web-'));
const site = path.join(tmp, 'site');

/** The test page: imports the bundle and offers base64 helpers (the project compiles without DOM typings, so page code is plain JS). */
const PAGE = `<!doctype html><meta charset="utf-8"><title>naflow/web test</title>
<script type="module">
import * as naflow from '/web/naflow.js';
const toB64 = (ta) => { const b = new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength); let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192)); return btoa(s); };
const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const fetchBytes = async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(url + ': HTTP ' + r.status); return new Uint8Array(await r.arrayBuffer()); };
window.t = { naflow, toB64, fromB64, fetchBytes };
window.naflowReady = true;
</script>`;

let opened: { server: StaticServer; browser: Browser } | undefined;

/** Build the bundle, serve it with the model, open the page (once for all tests). */
async function page(): Promise<{ server: StaticServer; browser: Browser }> {
  if (opened) return opened;
  await buildWeb(path.join(tmp, 'web'));
  fs.mkdirSync(site, { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), PAGE);
  fs.writeFileSync(path.join(site, 'favicon.ico'), ''); // Chromium asks for one
  const server = await serveStatic({ '/web/': path.join(tmp, 'web'), '/models/tiny-darknet/': MODEL_DIR, '/photos/': path.dirname(DEFAULT_IMAGE), '/': site });
  const browser = await openBrowser();
  opened = { server, browser };
  await browser.page.goto(`${server.origin}/index.html`);
  await browser.page.waitForFunction('window.naflowReady === true', undefined, { timeout: 30_000 });
  return opened;
}

test.after(async () => {
  await opened?.browser.close();
  await opened?.server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every request of the page went to the server's origin, and the page reported no error. */
function assertStayedHome({ server, browser }: { server: StaticServer; browser: Browser }): void {
  const away = browser.requests.filter((u) => !u.startsWith(`${server.origin}/`));
  assert.deepEqual(away, [], `requests leaving ${server.origin}`);
  assert.ok(
    browser.requests.some((u) => u.endsWith('.wasm')),
    `the wasm binary came from the server: ${browser.requests.join(', ')}`,
  );
  assert.deepEqual(browser.errors, []);
}

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

/** max |a − b| / max |b| */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (scale || 1);
}

interface PageFlow {
  ms: number;
  engine: string;
  classIndex: number;
  label: string | null;
  backend: string;
  layers: { node: string; map: string }[];
}

/** explain in the page: the model from fetched bytes (a name → bytes map), the input tensor from base64. */
function explainInPage(b: Browser, x: Float32Array, shape: number[], mode: string): Promise<PageFlow> {
  return b.page.evaluate(
    async ({ names, x64, shape, mode }) => {
      // biome-ignore lint/suspicious/noExplicitAny: page globals (no DOM typings in this project)
      const t = (globalThis as any).t;
      const files: Record<string, Uint8Array> = {};
      for (const n of names) files[n] = await t.fetchBytes(`/models/tiny-darknet/${n}`);
      const model = await t.naflow.loadModel(files);
      const raw = t.fromB64(x64);
      const input = t.naflow.tf.tensor4d(new Float32Array(raw.buffer), shape);
      const t0 = performance.now();
      const flow = await t.naflow.explain(model, input, { mode });
      const ms = performance.now() - t0;
      input.dispose();
      model.dispose();
      return {
        ms,
        engine: flow.engine,
        classIndex: flow.decision.classIndex,
        label: flow.decision.label,
        backend: t.naflow.currentBackend(),
        // biome-ignore lint/suspicious/noExplicitAny: page values
        layers: flow.layers.map((l: any) => ({ node: l.node, map: t.toB64(l.map) })),
      };
    },
    { names: MODEL_FILES, x64: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64'), shape, mode },
  );
}

/** The Node CLI's maps for `--input-tensor npy` in `mode`, shallow → deep, and its flow.json. */
async function cliMaps(
  npy: string,
  mode: string,
  env: Record<string, string> = {},
): Promise<{ maps: { file: string; map: Float32Array }[]; elapsedMs: number; classIndex: number; engine: string }> {
  const out = path.join(tmp, `cli-${mode}-${Object.keys(env).length}`);
  const r = await naflow(['explain', DEFAULT_MODEL, '--input-tensor', npy, '--mode', mode, '--no-images', '--out', out], env);
  assert.equal(r.code, 0, r.stderr);
  const files = fs.readdirSync(path.join(out, 'maps')).sort();
  const maps = files.map((f) => ({ file: f, map: npyToFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'maps', f))))) }));
  const flow = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8'));
  return { maps, elapsedMs: flow.elapsedMs, classIndex: flow.decision.classIndex, engine: flow.engine };
}

/** Per layer: max |a − b| / max |b|, and the share of pixels off by more than `limit`·max |b|. */
function layerErrors(a: Float32Array, b: Float32Array, limit: number): { err: number; offShare: number } {
  assert.equal(a.length, b.length);
  const err = relativeError(a, b);
  const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  const off = a.filter((v, i) => Math.abs(v - b[i]) > limit * scale).length;
  return { err, offShare: off / a.length };
}

/** The bundled photo as Node preprocesses it (sharp), so that the page and Node see the same tensor. */
async function photoTensor(): Promise<{ x: Float32Array; shape: number[] }> {
  await initBackend();
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const prepared = await prepareImage(model, DEFAULT_IMAGE);
    const x = new Float32Array(prepared.tensor.dataSync());
    prepared.tensor.dispose();
    return { x, shape: [1, 224, 224, 3] };
  } finally {
    model.dispose();
  }
}

const LIMITS: Record<string, number> = { reference: 1e-5, paper: 1e-3 };

test("the page computes the Node CLI's maps for the same tensor: reference ≤ 1e-5, paper ≤ 1e-3 relative at every layer on the same kernels", {
  skip: browserSkip,
}, async () => {
  const opened = await page();
  const { x, shape } = await photoTensor();
  const npy = path.join(tmp, 'x.npy');
  fs.writeFileSync(npy, encodeNpy(x, shape));
  for (const mode of ['reference', 'paper']) {
    const web = await explainInPage(opened.browser, x, shape, mode);
    assert.equal(web.backend, 'wasm');
    assert.equal(web.engine, 'per-op');
    assert.equal(web.classIndex, 7, 'Egyptian cat');
    assert.equal(web.label, 'Egyptian cat');
    const maps = web.layers.map((l) => f32(l.map));
    // the Node CLI on the same kernels as the page (tfjs wasm): every layer within the limit
    const tfjs = await cliMaps(npy, mode, { NAFLOW_NATIVE: '0' });
    assert.equal(tfjs.maps.length, maps.length);
    let worstTfjs = 0;
    web.layers.forEach((l, i) => {
      assert.ok(tfjs.maps[i].file.endsWith(`_${l.node.replace(/[^\w.-]+/g, '_')}.npy`), `${tfjs.maps[i].file} vs ${l.node}`);
      const err = relativeError(maps[i], tfjs.maps[i].map);
      worstTfjs = Math.max(worstTfjs, err);
      assert.ok(err <= LIMITS[mode], `${mode} mode vs NAFLOW_NATIVE=0, layer ${i} (${l.node}): relative error ${err.toExponential(2)} > ${LIMITS[mode]}`);
    });
    // the default Node CLI (onnxruntime's kernels): float32 rounding of other kernels moves some
    // max-pool argmaxes and leaky-ReLU branches at near-ties, which moves those pixels' gradient. Node's
    // own two engines differ by exactly that, so the page must agree with the default CLI as closely as
    // Node's tfjs engine does: per layer, no more pixels off by more than the limit (and none where it has none)
    const native = await cliMaps(npy, mode);
    let worst = { err: 0, offShare: 0, layer: '' };
    web.layers.forEach((l, i) => {
      const e = layerErrors(maps[i], native.maps[i].map, LIMITS[mode]);
      const nodeOwn = layerErrors(tfjs.maps[i].map, native.maps[i].map, LIMITS[mode]);
      if (e.err > worst.err) worst = { ...e, layer: l.node };
      assert.ok(
        e.offShare <= nodeOwn.offShare + 1e-4,
        `${mode} mode vs Node, layer ${i} (${l.node}): ${(e.offShare * 100).toFixed(3)} % of the pixels off by > ${LIMITS[mode]}; Node's tfjs engine vs its default: ${(nodeOwn.offShare * 100).toFixed(3)} %`,
      );
    });
    console.log(
      `# ${mode} mode: page ${web.ms.toFixed(0)} ms (tfjs wasm, per-op); Node CLI ${native.elapsedMs} ms (${native.engine}), ${tfjs.elapsedMs} ms with NAFLOW_NATIVE=0; ` +
        `worst layer vs NAFLOW_NATIVE=0 ${worstTfjs.toExponential(2)}, vs Node ${worst.layer} ${worst.err.toExponential(2)} (${(worst.offShare * 100).toFixed(3)} % of its pixels)`,
    );
  }
  assertStayedHome(opened);
});

interface PageImage {
  data: string;
  width: number;
  height: number;
  format: string;
  hadAlpha: boolean;
}

/** decodeImage in the page: of fetched bytes, or of a URL (the decoder fetches it). */
function decodeInPage(b: Browser, url: string, options: { asUrl?: boolean; size?: [number, number] } = {}): Promise<PageImage> {
  return b.page.evaluate(
    async ({ url, asUrl, size }) => {
      // biome-ignore lint/suspicious/noExplicitAny: page globals (no DOM typings in this project)
      const t = (globalThis as any).t;
      const img = await t.naflow.decodeImage(asUrl ? url : await t.fetchBytes(url), size ? { resize: { size } } : {});
      return { data: t.toB64(img.data), width: img.width, height: img.height, format: img.format, hadAlpha: img.hadAlpha };
    },
    { url, asUrl: options.asUrl ?? false, size: options.size },
  );
}

test("the page's image decoder gives sharp's RGB for a PNG at the model's input size (opaque: equal; transparent: within 1)", {
  skip: browserSkip,
}, async () => {
  const opened = await page();
  // the photo at 224×224 (sharp's resize), and the same with an alpha ramp
  const cat = await decodeImage(DEFAULT_IMAGE, { resize: { size: [224, 224] } });
  const raw = { raw: { width: 224, height: 224, channels: 3 as const } };
  fs.writeFileSync(path.join(site, 'cat224.png'), await sharp(cat.data, raw).png().toBuffer());
  const rgba = new Uint8Array(224 * 224 * 4);
  for (let i = 0; i < 224 * 224; i++) {
    rgba.set(cat.data.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = (i % 224) + 16; // alpha 16…239, left to right
  }
  fs.writeFileSync(
    path.join(site, 'alpha224.png'),
    await sharp(rgba, { raw: { width: 224, height: 224, channels: 4 } })
      .png()
      .toBuffer(),
  );
  for (const [name, tolerance, alpha] of [
    ['cat224.png', 0, false],
    ['alpha224.png', 1, true],
  ] as const) {
    const node = await decodeImage(path.join(site, name));
    for (const asUrl of [false, true]) {
      const web = await decodeInPage(opened.browser, `/${name}`, { asUrl });
      assert.deepEqual([web.width, web.height, web.format, web.hadAlpha], [224, 224, 'png', alpha], name);
      const data = Buffer.from(web.data, 'base64');
      assert.equal(data.length, node.data.length);
      let worst = 0;
      node.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - data[i]))));
      assert.ok(worst <= tolerance, `${name}: the page's RGB differs from sharp's by up to ${worst} levels (> ${tolerance})`);
      if (alpha)
        assert.ok(
          node.data.some((v, i) => v !== cat.data[i]),
          'the alpha ramp changed the composite (the check can fail)',
        );
    }
  }
  // the canvas resizes, not sharp: close to Node's, not equal (docs/web.md)
  const resized = await decodeInPage(opened.browser, '/photos/chelsea.png', { size: [224, 224] });
  const data = Buffer.from(resized.data, 'base64');
  const mean = cat.data.reduce((s, v, i) => s + Math.abs(v - data[i]), 0) / cat.data.length;
  console.log(`# canvas resize of chelsea.png to 224×224 vs sharp: mean |difference| ${mean.toFixed(2)} levels`);
  assert.ok(mean < 4, `the canvas resize differs from sharp's by ${mean.toFixed(2)} levels on average`);
  const err = await opened.browser.page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: page globals
    const t = (globalThis as any).t;
    return t.naflow.decodeImage(new Uint8Array([1, 2, 3]), { name: 'noise.bin' }).then(
      () => 'decoded',
      (e: Error) => `${e.constructor.name}: ${e.message}`,
    );
  });
  assert.match(err, /^ImageError: noise\.bin: not a decodable image/);
  assertStayedHome(opened);
});

test("the page's predict on the bundled photo (decoded and resized by the browser) names Node's top class; loadModel takes File objects", {
  skip: browserSkip,
}, async () => {
  const opened = await page();
  await initBackend();
  const model = await loadModel(DEFAULT_MODEL);
  const node = await predict(model, DEFAULT_IMAGE);
  model.dispose();
  const web = await opened.browser.page.evaluate(
    async ({ names }) => {
      // biome-ignore lint/suspicious/noExplicitAny: page globals (no DOM typings in this project)
      const t = (globalThis as any).t;
      const files = [];
      for (const n of names) files.push(new File([await t.fetchBytes(`/models/tiny-darknet/${n}`)], n));
      const model = await t.naflow.loadModel(files);
      const result = await t.naflow.predict(model, await t.fetchBytes('/photos/chelsea.png'));
      model.dispose();
      return result.top;
    },
    { names: MODEL_FILES },
  );
  console.log(
    `# page top-5: ${web.map((p: { label: string; prob: number }) => `${p.label} ${p.prob.toFixed(3)}`).join(', ')}; Node top-1: ${node.top[0].label} ${node.top[0].prob.toFixed(3)}`,
  );
  assert.equal(web.length, 5);
  assert.equal(web[0].index, node.top[0].index, `page top-1 ${web[0].label} vs Node's ${node.top[0].label}`);
  assert.equal(web[0].id, 'n02124075');
  assertStayedHome(opened);
});

test('loadModel in the page names what is missing: no model among the files, a shard, a labels file', { skip: browserSkip }, async () => {
  const opened = await page();
  const messages = await opened.browser.page.evaluate(
    async ({ names }) => {
      // biome-ignore lint/suspicious/noExplicitAny: page globals (no DOM typings in this project)
      const t = (globalThis as any).t;
      const all: Record<string, Uint8Array> = {};
      for (const n of names) all[n] = await t.fetchBytes(`/models/tiny-darknet/${n}`);
      const without = (...drop: string[]) => Object.fromEntries(Object.entries(all).filter(([n]) => !drop.includes(n)));
      const attempt = (files: unknown) =>
        t.naflow.loadModel(files).then(
          // biome-ignore lint/suspicious/noExplicitAny: page values
          (m: any) => (m.dispose(), 'loaded'),
          (e: Error) => `${e.constructor.name}: ${e.message}`,
        );
      return [await attempt(without('model.json')), await attempt(without('group3-shard1of1')), await attempt(without('darknet1k.txt')), await attempt({})];
    },
    { names: MODEL_FILES },
  );
  assert.match(messages[0], /^ModelLoadError: loadModel: no model among the files .*give an \.onnx file, or a TensorFlow\.js model\.json/);
  assert.match(messages[1], /group3-shard1of1/);
  assert.match(messages[2], /^CardError: model\.naflow\.json: 'labels' names darknet1k\.txt, which is not among the files: add it/);
  assert.match(messages[3], /^ModelLoadError: loadModel: no files given/);
  assertStayedHome(opened);
});
