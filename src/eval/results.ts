/**
 * An evaluation's per-image records (the lines of `<out>/progress.jsonl`) and their aggregation into
 * `EvalResults`. A local run, a resumed run and `naflow eval merge` (the records of several shards) all
 * aggregate through `aggregateRecords`, in the image order of the data listing, so each gives the same
 * results.json for the same records.
 */
import fs from 'node:fs';
import { resolveMethod } from '../methods/index.js';
import { metricValues } from '../metrics/index.js';
import type { SanityStage } from '../metrics/sanity.js';

/** A value key of the results: a metric, 'increase' (with 'drop') or a sanity stage ('sanity-50'). */
export type ValueKey = string;

/** Per image: method → layer name → value key → value (null where it does not apply). */
export type ImageResult = Record<string, Record<string, Partial<Record<ValueKey, number | null>>>>;

/** One image's scores: one line of progress.jsonl. */
export interface EvalRecord {
  /** the image's position in the (sampled) data listing */
  i: number;
  file: string;
  /** the ground-truth class explained (written by sharded runs: `eval merge --html` explains the first image) */
  classIndex?: number;
  results: ImageResult;
  centre: boolean | null;
  area: number | null;
}

export interface EvalLayer {
  index: number;
  name: string;
  /** index / (layers − 1): 0 shallowest, 1 deepest */
  depth: number;
}

export interface EvalRow {
  method: string;
  layer: string;
  layerIndex: number;
  depth: number;
  n: number;
  /** value key → mean (%, for drop/increase/pointing/energy; AUC for deletion/insertion; Spearman ρ for sanity stages) */
  values: Partial<Record<ValueKey, number | null>>;
}

export interface EvalResults {
  naflow: string;
  model: { file: string; sha256: string };
  data: string;
  images: number;
  methods: string[];
  metrics: string[];
  settings: {
    steps: number;
    substrate: 'blur' | 'zero';
    score: 'probability of the ground-truth class';
    explained: 'ground-truth class';
    sanity?: SanityStage[];
  };
  layers: EvalLayer[];
  rows: EvalRow[];
  baselines: { centrePointing: number | null; uniformEnergy: number | null };
}

/** What of a run's identity (eval-config.json) the results report. */
export interface EvalIdentity {
  model: { file: string; sha256: string };
  data: string;
  methods: string[];
  metrics: string[];
  steps: number;
  substrate: 'blur' | 'zero';
  sanity?: SanityStage[];
}

/** The value keys of the metrics, in order: 'drop' gives drop and increase, 'sanity' one key per stage. */
export function valueKeys(metrics: readonly string[], sanity: readonly SanityStage[] | undefined): ValueKey[] {
  return metricValues(metrics, sanity).map((v) => v.key);
}

/** The chosen layers with their place in the trunk (`all`: every trunk layer, shallow → deep). */
export function evalLayers(all: readonly string[], chosen: readonly string[]): EvalLayer[] {
  return chosen.map((name) => ({ index: all.indexOf(name), name, depth: all.length > 1 ? all.indexOf(name) / (all.length - 1) : 1 }));
}

/** progress.jsonl's records by image position (a line cut short by a crash is skipped: that image is done again). */
export function readRecords(file: string): Map<number, EvalRecord> {
  const done = new Map<number, EvalRecord>();
  if (!fs.existsSync(file)) return done;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const p = JSON.parse(line) as EvalRecord;
      done.set(p.i, p);
    } catch {
      // a line cut short by a crash: that image is simply done again
    }
  }
  return done;
}

const mean = (vs: Array<number | boolean | null>) => {
  const xs = vs.filter((v) => v !== null).map(Number);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
};

/**
 * The means over `records` (summed in image order, so the same records give the same floating-point
 * results however they were produced), one row per method × layer (a pixel-space method: one row, 'input').
 */
export function aggregateRecords(identity: EvalIdentity, layers: EvalLayer[], records: Iterable<EvalRecord>, images: number): EvalResults {
  const lines = [...records].sort((a, b) => a.i - b.i);
  const rows: EvalRow[] = [];
  const keys = valueKeys(identity.metrics, identity.sanity);
  for (const method of identity.methods) {
    const pixel = resolveMethod(method).method.space === 'pixel';
    for (const layer of pixel ? [{ name: 'input', index: -1, depth: 0 }] : layers) {
      const values: EvalRow['values'] = {};
      let count = 0;
      for (const k of keys) {
        const vs = lines.map((l) => l.results[method]?.[layer.name]?.[k]).filter((v): v is number => typeof v === 'number');
        values[k] = vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
        count = Math.max(count, vs.length);
      }
      rows.push({ method, layer: layer.name, layerIndex: layer.index, depth: layer.depth, n: count, values });
    }
  }
  return {
    naflow: '0.1.0',
    model: identity.model,
    data: identity.data,
    images,
    methods: identity.methods,
    metrics: identity.metrics,
    settings: {
      steps: identity.steps,
      substrate: identity.substrate,
      score: 'probability of the ground-truth class',
      explained: 'ground-truth class',
      ...(identity.sanity ? { sanity: identity.sanity } : {}),
    },
    layers,
    rows,
    baselines: {
      centrePointing: mean(lines.map((l) => (l.centre === null ? null : l.centre ? 100 : 0))),
      uniformEnergy: mean(lines.map((l) => l.area)),
    },
  };
}
