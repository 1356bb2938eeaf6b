/**
 * The photo-preprocessing study (docs/photo-preprocessing-study.md): the bundled Tiny Darknet's top-1 and
 * top-5 on imagenet-val1300 under three resize candidates, on the shared 227×227 images as they are and
 * on full-size-aspect images rebuilt from them (each resized back to its original [width, height] from
 * labels-boxes.json, in memory: nothing is written unless --keep names a folder, which must be outside
 * the repository: ImageNet images are research-only).
 *
 *   node dist/bench/photo-preprocessing.js [--data ../shared/data/imagenet-val1300] [--limit N]
 *        [--out /tmp/naflow-photo-study/results.json] [--keep /tmp/naflow-photo-study/rebuilt]
 *
 * Prints the tables of the study (whole set, selection half = even positions, confirmation half = odd
 * positions; Wilson 95 % intervals; paired bootstrap 95 % intervals of the differences) and writes every
 * image's top-5 per run to --out.
 */
import '../src/node/register.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';
import { initBackendInfo, shutdownBackend } from '../src/engine/backend.js';
import { forward } from '../src/engine/execute.js';
import type { Model } from '../src/engine/model.js';
import { imageSpecFor, prepareImageForSpec, type ImageSpec } from '../src/image/preprocess.js';
import { loadModel } from '../src/node/load.js';
import { topK } from '../src/predict.js';
import { mulberry32 } from './seeded-random.js';

interface Entry {
  file: string;
  wnid: string;
  orig_size: [number, number];
}

/** The candidates of the protocol, as overrides of the card's resize (so the card itself does not matter). */
const CANDIDATES: Record<string, Partial<ImageSpec>> = {
  squash: { resize: 'squash' },
  crop224: { resize: 'center-crop' },
  crop256: { resize: 'center-crop', resizeShorter: 256 },
};

/** Each run: a way of building the image from the shared file, and the candidates run on it. */
const RUNS: Array<{ set: 'full-aspect' | 'shared' | 'full-aspect-swapped'; candidates: string[] }> = [
  { set: 'full-aspect', candidates: ['squash', 'crop224', 'crop256'] },
  { set: 'shared', candidates: ['squash', 'crop224', 'crop256'] },
  { set: 'full-aspect-swapped', candidates: ['crop224'] },
];

function parseArgs(argv: string[]): { data: string; out: string; limit: number; keep?: string } {
  const opts = {
    data: path.resolve(PACKAGE_ROOT, '..', 'shared', 'data', 'imagenet-val1300'),
    out: path.join(os.tmpdir(), 'naflow-photo-study', 'results.json'),
    limit: Infinity,
    keep: undefined as string | undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k}: needs a value`);
    if (k === '--data') opts.data = path.resolve(v);
    else if (k === '--out') opts.out = path.resolve(v);
    else if (k === '--limit') opts.limit = Number(v);
    else if (k === '--keep') opts.keep = path.resolve(v);
    else throw new Error(`unknown option ${k} (--data, --out, --limit, --keep)`);
  }
  if (opts.keep && !path.relative(PACKAGE_ROOT, opts.keep).startsWith('..'))
    throw new Error(`--keep ${opts.keep}: not inside the repository (ImageNet images)`);
  return opts;
}

/** The shared image resized to [width, height] (Lanczos-3, sharp's default), as lossless PNG bytes. */
async function rebuilt(file: string, [width, height]: [number, number]): Promise<Uint8Array> {
  const png = await sharp(file).resize({ width, height, fit: 'fill' }).png({ compressionLevel: 1 }).toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

async function top5(model: Model, input: string | Uint8Array, spec: ImageSpec, name: string): Promise<number[]> {
  const { tensor } = await prepareImageForSpec(input, spec, name);
  try {
    const rec = forward(model, tensor);
    try {
      return topK(rec.outputs[0].dataSync(), 5);
    } finally {
      rec.dispose();
    }
  } finally {
    tensor.dispose();
  }
}

/** Every run's top-5 class indices (model order) for every image. */
async function measure(model: Model, entries: Entry[], dir: string, keep?: string): Promise<Record<string, number[][]>> {
  const specs = Object.fromEntries(Object.entries(CANDIDATES).map(([id, o]) => [id, imageSpecFor(model, o)]));
  const out: Record<string, number[][]> = {};
  for (const r of RUNS) for (const c of r.candidates) out[`${r.set}/${c}`] = [];
  if (keep) fs.mkdirSync(keep, { recursive: true });
  const t0 = performance.now();
  for (const [i, e] of entries.entries()) {
    const file = path.join(dir, e.file);
    const [w, h] = e.orig_size;
    for (const r of RUNS) {
      const input = r.set === 'shared' ? file : await rebuilt(file, r.set === 'full-aspect' ? [w, h] : [h, w]);
      if (keep && r.set === 'full-aspect') fs.writeFileSync(path.join(keep, `${path.basename(e.file, path.extname(e.file))}.png`), input);
      for (const c of r.candidates) out[`${r.set}/${c}`].push(await top5(model, input, specs[c], e.file));
    }
    if ((i + 1) % 50 === 0 || i + 1 === entries.length)
      process.stderr.write(`${i + 1}/${entries.length} images, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  return out;
}

/** Wilson score interval, 95 %, of k successes in n. */
export function wilson(k: number, n: number, z = 1.959964): [number, number] {
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [centre - half, centre + half];
}

/** Paired bootstrap 95 % interval of mean(a) − mean(b) over the same items (0/1 each). */
export function pairedBootstrap(a: number[], b: number[], resamples = 10000, seed = 15): [number, number] {
  const n = a.length;
  const next = mulberry32(seed);
  const diffs = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const j = Math.floor(next() * n);
      s += a[j] - b[j];
    }
    diffs[r] = s / n;
  }
  diffs.sort();
  return [diffs[Math.floor(0.025 * resamples)], diffs[Math.ceil(0.975 * resamples) - 1]];
}

const pct = (x: number) => (100 * x).toFixed(1);

/** Per-image hits (1/0) at top-1 and top-5 of one run. */
function hits(tops: number[][], entries: Entry[], ids: string[]): { top1: number[]; top5: number[] } {
  return {
    top1: tops.map((t, i) => (ids[t[0]] === entries[i].wnid ? 1 : 0)),
    top5: tops.map((t, i) => (t.some((j) => ids[j] === entries[i].wnid) ? 1 : 0)),
  };
}

function cell(h: number[]): string {
  const k = h.reduce((s, v) => s + v, 0);
  const [lo, hi] = wilson(k, h.length);
  return `${pct(k / h.length)} [${pct(lo)}, ${pct(hi)}]`;
}

const HALVES: Array<[string, (i: number) => boolean]> = [
  ['all', () => true],
  ['selection (even)', (i) => i % 2 === 0],
  ['confirmation (odd)', (i) => i % 2 === 1],
];

/** The study's tables, in markdown. */
function report(runs: Record<string, number[][]>, entries: Entry[], ids: string[]): string {
  const lines: string[] = [];
  const h = Object.fromEntries(Object.entries(runs).map(([k, t]) => [k, hits(t, entries, ids)]));
  for (const [half, keep] of HALVES) {
    const pick = (v: number[]) => v.filter((_, i) => keep(i));
    lines.push(`\n**${half}** (${pick(entries.map(() => 1)).length} images): top-1 / top-5 %, Wilson 95 % interval\n`);
    lines.push('| set | candidate | top-1 | top-5 |', '|---|---|---|---|');
    for (const [key, v] of Object.entries(h)) {
      const [set, cand] = key.split('/');
      lines.push(`| ${set} | ${cand} | ${cell(pick(v.top1))} | ${cell(pick(v.top5))} |`);
    }
    lines.push('', '| set | difference | top-1 points [paired bootstrap 95 %] | top-5 points |', '|---|---|---|---|');
    for (const set of ['full-aspect', 'shared'])
      for (const [a, b] of [
        ['crop224', 'squash'],
        ['crop256', 'squash'],
        ['crop256', 'crop224'],
      ]) {
        const x = h[`${set}/${a}`];
        const y = h[`${set}/${b}`];
        const d = (u: number[], w: number[]) => {
          const [lo, hi] = pairedBootstrap(pick(u), pick(w));
          const m = pick(u).reduce((s, v, i) => s + v - pick(w)[i], 0) / pick(u).length;
          return `${(100 * m).toFixed(1)} [${(100 * lo).toFixed(1)}, ${(100 * hi).toFixed(1)}]`;
        };
        lines.push(`| ${set} | ${a} − ${b} | ${d(x.top1, y.top1)} | ${d(x.top5, y.top5)} |`);
      }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const all = JSON.parse(fs.readFileSync(path.join(opts.data, 'labels-boxes.json'), 'utf8')) as Entry[];
  const entries = all.slice(0, Math.min(all.length, opts.limit));
  const info = await initBackendInfo({ backend: 'wasm' });
  const model = await loadModel(DEFAULT_MODEL);
  try {
    const ids = model.card.idList!;
    const t0 = performance.now();
    const runs = await measure(model, entries, opts.data, opts.keep);
    const secs = (performance.now() - t0) / 1000;
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    const meta = { date: new Date().toISOString(), host: `${os.cpus()[0]?.model} × ${os.cpus().length}`, node: process.version, threads: info.threads, secs };
    fs.writeFileSync(opts.out, `${JSON.stringify({ meta, files: entries.map((e) => e.file), runs })}\n`);
    console.log(`# ${entries.length} images, ${secs.toFixed(0)} s, ${meta.host}, Node ${meta.node}, wasm ${info.threads} thread(s), ${meta.date}`);
    console.log(report(runs, entries, ids));
    console.log(`\nper-image top-5: ${opts.out}`);
  } finally {
    model.dispose();
    shutdownBackend();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) await main();
