/**
 * The similarity-weights study's runs (docs/similarity-weights-study.md): for every query of a model's
 * development or test half, the maps of each channel weighting in each mode at a fixed spread of trunk
 * layers, scored by retrieval specificity (src/metrics/retrieval-faithfulness.ts), plus the
 * reference-dependence diagnostic (Spearman ρ between the maps against the explained reference and
 * against the runner-up) and a random-order deletion as a control. One JSON line per query, appended,
 * so an interrupted run resumes where it stopped.
 *   SimCLR (cosine): gallery = the first image of each cifar10-test class folder; queries = images 2–50
 *     (dev) or 51–100 (test) of every class folder, every `every`-th; r* = the most similar gallery image.
 *   ProtoNet (squared Euclidean): the 20 one-shot runs of omniglot/all_runs.zip, runs 1–10 (dev) or
 *     11–20 (test), 20 queries each; r* = the nearest prototype (the decision).
 * Usage: node dist/bench/similarity-study.js simclr|protonet dev|test <out.jsonl> [every=1] [data dir]
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import type { Model } from '../src/engine/model.js';
import { imageSpecFor, prepareImage } from '../src/image/preprocess.js';
import { embed, embeddingTensorOf, imageFiles } from '../src/similarity/embed.js';
import { decompose, similarity, WEIGHTINGS, type Metric, type Weighting } from '../src/metrics/embedding-metric.js';
import { retrievalTarget } from '../src/similarity/targets.js';
import { explainSimilarity } from '../src/similarity/explain-similarity.js';
import { makeEmbedder, retrievalSpecificity, type Embedder } from '../src/metrics/retrieval-faithfulness.js';
import { spearman } from '../src/metrics/rank.js';
import type { NaflowMode } from '../src/naflow/cascade.js';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { mulberry32 } from './seeded-random.js';

export const MODES: NaflowMode[] = ['reference', 'paper'];
/** layers per model: trunk tensor indices round(k·(L−1)/(n−1)), k = 0 … n−1 (the trunk end included) */
export const LAYER_COUNT = 8;
const STEPS = 16;

export interface Query {
  id: string;
  file: string;
  /** the candidates the decision ranks: gallery images or class prototypes */
  candidates: { label: string; embedding: Float32Array }[];
}

export interface CellRecord {
  /** ok; degenerate: the weights are all zero (nothing to explain); same-as-signed: identical weights, signed's maps reused */
  status: 'ok' | 'degenerate' | 'same-as-signed';
  /** per chosen layer (null when degenerate) */
  specificity: number[] | null;
  relative: number[] | null;
  /** Spearman ρ between the maps against r* and against the runner-up, per chosen layer (NaN → null) */
  rho: (number | null)[] | null;
  /** per chosen layer: the map against r* is constant (e.g. all zero), so its deletion order is raster order */
  constant: boolean[] | null;
  seconds: number;
}

export interface QueryRecord {
  id: string;
  file: string;
  explained: string;
  runnerUp: string;
  explainedSimilarity: number;
  layers: string[];
  /** random-order deletion (seeded per query), the same for every weighting and mode */
  random: { specificity: number; relative: number };
  cells: Record<NaflowMode, Record<Weighting, CellRecord>>;
}

export const MODELS = {
  simclr: { file: 'models/simclr-cifar10/simclr-cifar10.onnx', metric: 'cosine' as Metric },
  protonet: { file: 'models/protonet-omniglot/protonet-omniglot.onnx', metric: 'euclidean' as Metric },
};

async function simclrQueries(model: Model, data: string, half: 'dev' | 'test', every: number): Promise<Query[]> {
  const root = path.join(data, 'cifar10-test');
  const classes = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const files = classes.map((c) => imageFiles(path.join(root, c)));
  const candidates: Query['candidates'] = [];
  for (const [i, c] of classes.entries()) candidates.push({ label: `${c}/${path.basename(files[i][0])}`, embedding: await embed(model, files[i][0]) });
  // images 2–50 or 51–100 of each class folder (1-based), every `every`-th from the first of the range
  const [from, to] = half === 'dev' ? [1, 50] : [50, 100];
  return classes.flatMap((c, i) =>
    files[i]
      .slice(from, to)
      .filter((_, k) => k % every === 0)
      .map((file) => ({ id: `${c}/${path.basename(file)}`, file, candidates })),
  );
}

async function protonetQueries(model: Model, data: string, half: 'dev' | 'test', every: number, tmp: string): Promise<Query[]> {
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(fs.readFileSync(path.join(data, 'omniglot/all_runs.zip')))))) {
    if (name.endsWith('/')) continue;
    fs.mkdirSync(path.join(tmp, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(tmp, name), bytes);
  }
  const queries: Query[] = [];
  const runs = half === 'dev' ? [1, 10] : [11, 20];
  for (let r = runs[0]; r <= runs[1]; r++) {
    const run = `run${String(r).padStart(2, '0')}`;
    const candidates: Query['candidates'] = [];
    // 1-shot: each class's prototype is its single support image's embedding
    for (const f of imageFiles(path.join(tmp, run, 'training'))) candidates.push({ label: `${run}/${path.basename(f)}`, embedding: await embed(model, f) });
    const words = fs
      .readFileSync(path.join(tmp, run, 'class_labels.txt'), 'utf8')
      .split(/\s+/)
      .filter(Boolean);
    for (let i = 0, k = 0; i < words.length; i += 2, k++) if (k % every === 0) queries.push({ id: words[i], file: path.join(tmp, words[i]), candidates });
  }
  return queries;
}

const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Trunk tensor indices round(k·(L−1)/(n−1)). */
export function layerSpread(L: number, n = LAYER_COUNT): number[] {
  return Array.from({ length: n }, (_, k) => Math.round((k * (L - 1)) / (n - 1)));
}

async function runQuery(model: Model, metric: Metric, q: Query): Promise<QueryRecord> {
  const prepared = await prepareImage(model, q.file);
  try {
    const embeddingNode = embeddingTensorOf(model);
    const qe = await embed(model, prepared.tensor, { embeddingNode });
    const ranked = q.candidates.map((c, i) => ({ c, i, s: similarity(qe, c.embedding, metric) })).sort((a, b) => b.s - a.s || a.i - b.i);
    const [best, second] = ranked;
    const others = ranked.slice(1).map((x) => x.c.embedding);
    const embedder: Embedder = makeEmbedder(model, prepared.rgb, imageSpecFor(model), { embeddingNode });
    const spec = (m: { map: Float32Array; height: number; width: number }) =>
      retrievalSpecificity(embedder, m, best.c.embedding, others, { metric, steps: STEPS });
    const next = mulberry32(hash(q.id));
    const random = spec({ map: Float32Array.from({ length: embedder.height * embedder.width }, next), height: embedder.height, width: embedder.width });
    let layerIdx: number[] = [];
    let layerNames: string[] = [];
    const cells = {} as QueryRecord['cells'];
    for (const mode of MODES) {
      cells[mode] = {} as Record<Weighting, CellRecord>;
      for (const weighting of WEIGHTINGS) {
        const t0 = performance.now();
        const w = decompose(qe, [best.c.embedding], metric, weighting).weights;
        if (w.every((v) => v === 0)) {
          cells[mode][weighting] = { status: 'degenerate', specificity: null, relative: null, rho: null, constant: null, seconds: 0 };
          continue;
        }
        if (
          weighting === 'rectified' &&
          cells[mode].signed?.status === 'ok' &&
          w.every((v, d) => v === decompose(qe, [best.c.embedding], metric, 'signed').weights[d])
        ) {
          cells[mode][weighting] = { ...cells[mode].signed, status: 'same-as-signed', seconds: 0 };
          continue;
        }
        const explain = (ref: Float32Array) =>
          explainSimilarity(model, prepared.tensor, retrievalTarget([{ embedding: ref }], metric), { mode, weighting, embeddingNode });
        const a = await explain(best.c.embedding);
        const b = await explain(second.c.embedding);
        if (!layerIdx.length) (layerIdx = layerSpread(a.layers.length)), (layerNames = layerIdx.map((i) => a.layers[i].name));
        const scores = layerIdx.map((i) => spec({ map: a.layers[i].map, height: a.layers[i].shape[0], width: a.layers[i].shape[1] }));
        cells[mode][weighting] = {
          status: 'ok',
          specificity: scores.map((s) => s.specificity),
          relative: scores.map((s) => s.relativeSpecificity),
          rho: layerIdx.map((i) => finiteOrNull(spearman(a.layers[i].map, b.layers[i].map))),
          constant: layerIdx.map((i) => a.layers[i].map.every((v) => v === a.layers[i].map[0])),
          seconds: (performance.now() - t0) / 1000,
        };
      }
    }
    return {
      id: q.id,
      file: q.file,
      explained: best.c.label,
      runnerUp: second.c.label,
      explainedSimilarity: best.s,
      layers: layerNames,
      random: { specificity: random.specificity, relative: random.relativeSpecificity },
      cells,
    };
  } finally {
    prepared.tensor.dispose();
  }
}

async function main(): Promise<void> {
  const [which, half, out, everyArg, dataArg] = process.argv.slice(2);
  if (!(which in MODELS) || (half !== 'dev' && half !== 'test') || !out)
    throw new Error('usage: similarity-study.js simclr|protonet dev|test <out.jsonl> [every=1] [data dir]');
  const every = Number(everyArg ?? 1);
  const data = path.resolve(dataArg ?? path.join(PACKAGE_ROOT, '../shared/data'));
  const { file, metric } = MODELS[which as keyof typeof MODELS];
  await initBackend({ backend: 'wasm', threads: 1 });
  const model = await loadModel(path.join(PACKAGE_ROOT, file));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-simstudy-'));
  try {
    const queries = which === 'simclr' ? await simclrQueries(model, data, half, every) : await protonetQueries(model, data, half, every, tmp);
    const done = new Set(
      fs.existsSync(out)
        ? fs
            .readFileSync(out, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as QueryRecord).id)
        : [],
    );
    const t0 = performance.now();
    let n = 0;
    for (const q of queries) {
      if (done.has(q.id)) continue;
      const rec = await runQuery(model, metric, q);
      // the file path of a ProtoNet query lies in a temporary folder: keep its id only
      fs.appendFileSync(out, `${JSON.stringify({ ...rec, file: which === 'simclr' ? path.relative(data, rec.file) : rec.id })}\n`);
      n++;
      if (n % 10 === 0) console.error(`${which} ${half}: ${done.size + n}/${queries.length} (${((performance.now() - t0) / 1000 / n).toFixed(2)} s per query)`);
    }
    console.error(`${which} ${half}: ${queries.length} queries in ${out} (${n} new, ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('similarity-study.js')) await main();
