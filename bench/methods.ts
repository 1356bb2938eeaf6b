/**
 * Images per second of every explanation method on the bundled Tiny Darknet (224×224), one process,
 * wasm with 2 threads, over the five bundled photos (1 warm-up pass, then 2 timed passes; Score-CAM:
 * 2 photos, 1 pass):
 *   maps      every trunk layer (Score-CAM: the last layer only — it needs one forward per channel,
 *             about 8 000 forwards for every layer of Tiny Darknet); pixel methods one input map
 *   + metrics the maps at the last layer scored with deletion + insertion (16 steps) and average drop,
 *             as `naflow eval --layers last --metrics deletion,insertion,drop --steps 16` does
 * Writes docs/benchmarks.md's method table (between the bench-methods markers) and bench/methods.md.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, shutdownBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage } from '../src/image/preprocess.js';
import { findScoreTensor, findTrunkEnd, trunkTensorOrder } from '../src/structure/index.js';
import { listMethods, resolveMethod } from '../src/methods/index.js';
import { confidenceChange, deletionInsertion, makeScorer } from '../src/metrics/faithfulness.js';
import { DEFAULT_MODEL } from '../src/defaults.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const photos = ['chelsea.png', 'coffee.png', 'astronaut.png', 'grace_hopper.jpg', 'butterfly.jpg'].map((f) => path.join(root, 'assets/photos', f));
await initBackend({ backend: 'wasm', threads: 2 });
const model = await loadModel(DEFAULT_MODEL);
const prepared = await Promise.all(photos.map((p) => prepareImage(model, p)));
const last = trunkTensorOrder(model.graph, findTrunkEnd(model.graph, findScoreTensor(model.graph))).at(-1)!;

type Map1 = { map: Float32Array; height: number; width: number };
const asMap1 = (l: { map: Float32Array; shape: [number, number, number] }): Map1 => ({ map: l.map, height: l.shape[0], width: l.shape[1] });
// every registered method; slow ones (Score-CAM: ~1000 forward passes per image at the last layer) on the last layer only
const METHODS: Array<[string, (i: number, layers: 'all' | 'last') => Map1[]]> = listMethods().map((m) => {
  const method = resolveMethod(m.id);
  const lastOnly = m.slow === true;
  const run = (i: number, layers: 'all' | 'last') =>
    method.run(model, prepared[i].tensor, layers === 'last' || lastOnly ? { layers: [last] } : {}).layers.map(asMap1);
  return [lastOnly ? `${m.id} (last layer)` : m.id, run];
});

/** Images per second over `passes` timed passes (after one warm-up pass unless `images` is short). */
function rate(fn: (i: number) => void, images = photos.length, passes = 2, warm = true): number {
  if (warm) for (let i = 0; i < images; i++) fn(i);
  const t0 = performance.now();
  for (let pass = 0; pass < passes; pass++) for (let i = 0; i < images; i++) fn(i);
  return (passes * images) / ((performance.now() - t0) / 1000);
}

const rows: string[] = [];
for (const [name, fn] of METHODS) {
  // Score-CAM: ~1000 forward passes per image at Tiny Darknet's last layer: 2 photos, 1 pass, no warm-up
  const [n, passes, warm] = name.endsWith('(last layer)') ? [2, 1, false] : [photos.length, 2, true];
  const maps = rate((i) => void fn(i, 'all'), n, passes, warm);
  const scored = rate(
    (i) => {
      const m = fn(i, 'last').at(-1)!;
      const scorer = makeScorer(model, prepared[i].rgb, prepared[i].spec, { classIndex: 0 });
      deletionInsertion(scorer, m, 'deletion', { steps: 16 });
      deletionInsertion(scorer, m, 'insertion', { steps: 16 });
      confidenceChange(scorer, m);
    },
    n,
    passes,
    warm,
  );
  rows.push(`| ${name} | ${maps.toFixed(2)} | ${scored.toFixed(2)} |`);
  console.log(rows.at(-1));
}
for (const p of prepared) p.tensor.dispose();
model.dispose();
await shutdownBackend();
const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, Node ${process.version}, wasm 2 threads; Tiny Darknet (224×224), the 5 bundled photos, 2 timed passes after a warm-up (Score-CAM: 2 photos, 1 pass).`,
  '',
  '| method | images/s, maps at every layer | images/s, last-layer map + deletion, insertion (16 steps), average drop |',
  '|---|---|---|',
  ...rows,
].join('\n');
fs.writeFileSync(path.join(root, 'bench/methods.md'), `# Methods: images per second\n\n${table}\n`);
// the tables live in docs/benchmarks.md; a missing marker is an error, not a silent skip
const readme = path.join(root, 'docs/benchmarks.md');
const text = fs.readFileSync(readme, 'utf8');
const start = '<!-- bench-methods:start -->',
  end = '<!-- bench-methods:end -->';
if (!text.includes(start) || !text.includes(end)) throw new Error(`${readme}: no ${start} … ${end} markers for the table`);
fs.writeFileSync(readme, text.replace(new RegExp(`${start}[\\s\\S]*${end}`), `${start}\n${table}\n${end}`));
console.log(table);
