/**
 * Dataset-scale evaluation: every method's maps at the chosen layers, scored with the chosen metrics,
 * one image at a time. Each finished image is appended to `<out>/progress.jsonl` (one JSON line), so a
 * run stopped by Ctrl-C or a crash resumes where it stopped; the results are aggregated from that file
 * alone, which makes an interrupted-and-resumed run give the same results.json as an uninterrupted one.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { prepareImage } from '../image/preprocess.js';
import { DEFAULT_SETTINGS, findScoreTensor, findTrunkEnd, runCascade, trunkTensorOrder } from '../naflow/cascade.js';
import { camFlow, type CamMethodName } from '../baselines/pipeline.js';
import { scoreCamFlow } from '../baselines/scorecam.js';
import { pixelAttribution, type PixelMethod } from '../baselines/guided.js';
import { confidenceChange, deletionInsertion, makeScorer } from '../metrics/faithfulness.js';
import { boxAreaShare, centreHit, energyInBoxes, pointingHit, type Box } from '../metrics/pointing.js';
import { randomizedModel, weightLayerCount } from '../metrics/sanity.js';
import { spearman } from '../metrics/rank.js';
import { modelSha256 } from '../node/hash.js';
import type { EvalItem } from './dataset.js';
import { DEFAULT_VARIANT, SPEC_VARIANT, parseVariant, resolveVariant } from '../naflow/variant.js';

export const EVAL_METHODS = ['naflow', 'naflow-ref', 'gradcam', 'gradcampp', 'layercam', 'hirescam', 'scorecam', 'gradient', 'guided-backprop', 'deconvnet'] as const;
/**
 * A method id; `naflow` is paper mode with the default configuration, `naflow:key=value,…` paper mode
 * with the spec's configuration changed by those keys (`naflow:rho=0.3,unit=block`), `naflow:spec` the
 * spec's configuration itself (./naflow/variant.ts).
 */
export type EvalMethod = (typeof EVAL_METHODS)[number] | `naflow:${string}`;

/** A known method id, or a `naflow:` variant whose options parse (else a UsageError naming them). */
export function isEvalMethod(id: string): id is EvalMethod {
  if (id.startsWith('naflow:')) return (parseVariant(id.slice(7), `method '${id}'`), true);
  return (EVAL_METHODS as readonly string[]).includes(id);
}
export const EVAL_METRICS = ['deletion', 'insertion', 'drop', 'pointing', 'energy', 'sanity'] as const;
export type EvalMetric = (typeof EVAL_METRICS)[number];
const PIXEL: readonly string[] = ['gradient', 'guided-backprop', 'deconvnet'];
const CAMS: readonly string[] = ['gradcam', 'gradcampp', 'layercam', 'hirescam'];

export interface EvalOptions {
  methods: EvalMethod[];
  metrics: EvalMetric[];
  /** 'all', 'last', or trunk tensor names / indices (shallow → deep order) */
  layers: 'all' | 'last' | Array<string | number>;
  /** deletion/insertion chunks */
  steps?: number;
  substrate?: 'blur' | 'zero';
  /** sanity check: how many progressively randomised models (default 4: the top ¼, ½, ¾ and all of the weight layers) */
  sanityStages?: number;
  out: string;
  modelFile: string;
  data: string;
  /** called after each image (done, total, seconds so far this run) */
  onImage?: (done: number, total: number, file: string) => void;
  /** test hook: called before an image; throwing simulates a crash */
  beforeImage?: (index: number) => void;
}

/** A value key of the results: a metric, 'increase' (with 'drop') or a sanity stage ('sanity-50'). */
export type ValueKey = Exclude<EvalMetric, 'sanity'> | 'increase' | `sanity-${number}`;

/** Per image: method → layer name → value key → value (null where it does not apply). */
type ImageResult = Record<string, Record<string, Partial<Record<ValueKey, number | null>>>>;

interface ProgressLine {
  i: number;
  file: string;
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

/** One model of the sanity check's cascade: the top `layers` of `of` weight layers randomised. */
export interface SanityStage {
  key: `sanity-${number}`;
  layers: number;
  of: number;
  seed: number;
}

export interface EvalResults {
  naflow: string;
  model: { file: string; sha256: string };
  data: string;
  images: number;
  methods: EvalMethod[];
  metrics: EvalMetric[];
  settings: { steps: number; substrate: 'blur' | 'zero'; score: 'probability of the ground-truth class'; explained: 'ground-truth class'; sanity?: SanityStage[] };
  layers: EvalLayer[];
  rows: EvalRow[];
  baselines: { centrePointing: number | null; uniformEnergy: number | null };
}

function chooseLayers(model: Model, spec: EvalOptions['layers']): { all: string[]; chosen: string[] } {
  const graph = model.graph;
  const all = trunkTensorOrder(graph, findTrunkEnd(graph, findScoreTensor(graph)));
  if (spec === 'all') return { all, chosen: all };
  if (spec === 'last') return { all, chosen: [all[all.length - 1]] };
  const chosen = spec.map((s) => {
    const name = typeof s === 'number' || /^\d+$/.test(s) ? all[Number(s)] : s;
    if (!name || !all.includes(name)) throw new Error(`--layers: '${s}' is not a trunk layer (there are ${all.length}: 0–${all.length - 1} or their tensor names)`);
    return name;
  });
  return { all, chosen: all.filter((n) => chosen.includes(n)) };
}

/** The run's identity: a checkpoint is only resumed by a run with the same settings. */
function configOf(model: Model, options: EvalOptions, layers: string[]) {
  return {
    model: { file: path.resolve(options.modelFile), sha256: modelSha256(options.modelFile) },
    data: path.resolve(options.data),
    methods: options.methods,
    metrics: options.metrics,
    layers,
    steps: options.steps ?? 32,
    substrate: options.substrate ?? 'blur',
    ...(options.metrics.includes('sanity') ? { sanity: sanityStages(model, options.sanityStages ?? 4) } : {}),
    // paper-mode maps depend on the solver: a run resumed after a change of defaults must not mix them
    ...(options.methods.some((m) => m === 'naflow' || m.startsWith('naflow:'))
      // (`naflow` is the default configuration, `naflow:…` ids are changes to the spec's)
      ? { solver: { atol: DEFAULT_SETTINGS.atol, btol: DEFAULT_SETTINGS.btol, spec: { ...SPEC_VARIANT }, default: { ...DEFAULT_VARIANT } } }
      : {}),
  };
}

/** The sanity check's cascade (Adebayo et al.): the top k/K of the weight layers randomised, k = 1…K, seed 1. */
export function sanityStages(model: Model, count: number): SanityStage[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`sanity stages must be a positive integer, got ${count}`);
  const of = weightLayerCount(model);
  if (!of) throw Object.assign(new Error(`the sanity check randomises weight layers (Conv, Gemm, MatMul with constant weights), and ${model.graph.source} has none`), { name: 'UsageError' });
  const stages = new Map<number, SanityStage>();
  for (let k = 1; k <= count; k++) {
    const layers = Math.max(1, Math.round((k / count) * of));
    stages.set(layers, { key: `sanity-${Math.round((100 * layers) / of)}`, layers, of, seed: 1 });
  }
  return [...stages.values()];
}

function readProgress(file: string): Map<number, ProgressLine> {
  const done = new Map<number, ProgressLine>();
  if (!fs.existsSync(file)) return done;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const p = JSON.parse(line) as ProgressLine;
      done.set(p.i, p);
    } catch {
      // a line cut short by a crash: that image is simply done again
    }
  }
  return done;
}

type MapLayer = { name: string; map: Float32Array; height: number; width: number };

function mapsOf(model: Model, x: tf.Tensor, method: EvalMethod, classIndex: number, layers: string[]): MapLayer[] {
  const keep = new Set(layers);
  const pick = (ls: { name: string; map: Float32Array; shape: [number, number, number] }[]) =>
    ls.filter((l) => keep.has(l.name)).map((l) => ({ name: l.name, map: l.map, height: l.shape[0], width: l.shape[1] }));
  if (method === 'naflow' || method === 'naflow-ref') return pick(runCascade(model, x, { mode: method === 'naflow' ? 'paper' : 'reference', classIndex }).layers);
  if (method.startsWith('naflow:')) return pick(runCascade(model, x, { mode: 'paper', classIndex, variant: resolveVariant(method.slice(7)) }).layers);
  if (CAMS.includes(method)) return pick(camFlow(model, x, method as CamMethodName, { classIndex, layers }).layers);
  if (method === 'scorecam') return pick(scoreCamFlow(model, x, { classIndex, layers }).layers);
  const p = pixelAttribution(model, x, method as PixelMethod, { classIndex });
  return [{ name: 'input', map: p.map, height: p.shape[0], width: p.shape[1] }];
}

export async function runEval(model: Model, items: EvalItem[], options: EvalOptions): Promise<EvalResults> {
  const { all, chosen } = chooseLayers(model, options.layers);
  fs.mkdirSync(options.out, { recursive: true });
  const config = configOf(model, options, chosen);
  const configFile = path.join(options.out, 'eval-config.json');
  const progressFile = path.join(options.out, 'progress.jsonl');
  if (fs.existsSync(configFile)) {
    const old = fs.readFileSync(configFile, 'utf8');
    if (old.trim() !== JSON.stringify(config, null, 2).trim())
      throw Object.assign(new Error(`${options.out} holds an evaluation with other settings (model, data, methods, metrics, layers, steps or NAFlow's solver settings); choose another --out or delete it`), { name: 'UsageError' });
  } else fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const done = readProgress(progressFile);
  const steps = options.steps ?? 32;
  const substrate = options.substrate ?? 'blur';
  // the randomised models are made once per run (fixed seed) and explained like the trained one
  const randomised = (config.sanity ?? []).map((stage) => ({ stage, model: randomizedModel(model, { layers: stage.layers, seed: stage.seed }) }));
  try {
    await evalImages(model, items, options, done, progressFile, { steps, substrate, chosen, randomised });
  } finally {
    for (const r of randomised) r.model.dispose();
  }
  return aggregate(config, options, items.length, all, chosen, done);
}

async function evalImages(
  model: Model,
  items: EvalItem[],
  options: EvalOptions,
  done: Map<number, ProgressLine>,
  progressFile: string,
  run: { steps: number; substrate: 'blur' | 'zero'; chosen: string[]; randomised: Array<{ stage: SanityStage; model: Model }> },
): Promise<void> {
  const { steps, substrate, chosen, randomised } = run;
  for (const [i, item] of items.entries()) {
    const saved = done.get(i);
    // the checkpoint is by position: a changed dataset (another --every, files added) must not mix in
    if (saved && path.resolve(saved.file) !== path.resolve(item.file))
      throw Object.assign(new Error(`${options.out}: image ${i} of the checkpoint is ${saved.file}, but this run's image ${i} is ${item.file}: the dataset or its sampling changed; choose another --out or delete it`), { name: 'UsageError' });
    if (saved) continue;
    options.beforeImage?.(i);
    const prepared = await prepareImage(model, item.file);
    const [, H, W] = prepared.tensor.shape;
    let boxes: Box[] | undefined;
    if (item.boxes) {
      let [bw, bh] = item.boxSize ?? [0, 0];
      if (!item.boxSize) {
        const meta = await sharp(item.file).metadata();
        [bw, bh] = [meta.width!, meta.height!];
      }
      boxes = item.boxes.map(([x0, y0, x1, y1]) => [(x0 * W) / bw, (y0 * H) / bh, (x1 * W) / bw, (y1 * H) / bh] as Box);
    }
    const results: ImageResult = {};
    try {
      const scorer = makeScorer(model, prepared.rgb, prepared.spec, { classIndex: item.classIndex });
      for (const method of options.methods) {
        results[method] = {};
        // sanity: the same method's maps on each randomised model, for the same class
        const randomMaps = randomised.map((r) => ({ key: r.stage.key, maps: new Map(mapsOf(r.model, prepared.tensor, method, item.classIndex, chosen).map((l) => [l.name, l.map])) }));
        for (const layer of mapsOf(model, prepared.tensor, method, item.classIndex, chosen)) {
          const r: ImageResult[string][string] = {};
          for (const { key, maps } of randomMaps) {
            const rho = spearman(layer.map, maps.get(layer.name)!);
            r[key] = Number.isFinite(rho) ? rho : null; // a constant map has no rank order
          }
          const m = { map: layer.map, height: layer.height, width: layer.width };
          for (const metric of options.metrics) {
            if (metric === 'deletion' || metric === 'insertion') r[metric] = deletionInsertion(scorer, m, metric, { steps, substrate }).auc;
            else if (metric === 'drop') {
              const c = confidenceChange(scorer, m);
              r.drop = 100 * c.drop;
              r.increase = c.increase ? 100 : 0;
            } else if (metric === 'pointing') r.pointing = boxes ? (pointingHit(layer.map, layer.height, layer.width, boxes, W, H) ? 100 : 0) : null;
            else if (metric === 'energy') r.energy = boxes ? 100 * energyInBoxes(layer.map, layer.height, layer.width, boxes, W, H) : null;
          }
          results[method][layer.name] = r;
        }
      }
    } finally {
      prepared.tensor.dispose();
    }
    const line: ProgressLine = {
      i,
      file: item.file,
      results,
      centre: boxes ? centreHit(boxes, W, H) : null,
      area: boxes ? 100 * boxAreaShare(boxes, W, H) : null,
    };
    fs.appendFileSync(progressFile, `${JSON.stringify(line)}\n`);
    done.set(i, line);
    options.onImage?.(done.size, items.length, item.file);
  }
}

/** The value keys of the metrics, in order: 'drop' gives drop and increase, 'sanity' one key per stage. */
export function valueKeys(metrics: readonly EvalMetric[], sanity: readonly SanityStage[] | undefined): ValueKey[] {
  return metrics.flatMap((m): ValueKey[] => (m === 'drop' ? ['drop', 'increase'] : m === 'sanity' ? (sanity ?? []).map((s) => s.key) : [m]));
}

function aggregate(
  config: ReturnType<typeof configOf>,
  options: EvalOptions,
  n: number,
  all: string[],
  chosen: string[],
  done: Map<number, ProgressLine>,
): EvalResults {
  // only this run's items (a checkpoint may hold more, from a run with a larger --limit)
  const lines = [...done.values()].filter((l) => l.i < n).sort((a, b) => a.i - b.i);
  const layers: EvalLayer[] = chosen.map((name) => ({ index: all.indexOf(name), name, depth: all.length > 1 ? all.indexOf(name) / (all.length - 1) : 1 }));
  const rows: EvalRow[] = [];
  const keys = valueKeys(options.metrics, config.sanity);
  for (const method of options.methods) {
    const names = PIXEL.includes(method) ? ['input'] : chosen;
    for (const name of names) {
      const values: EvalRow['values'] = {};
      let count = 0;
      for (const k of keys) {
        const vs = lines.map((l) => l.results[method]?.[name]?.[k]).filter((v): v is number => typeof v === 'number');
        values[k] = vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
        count = Math.max(count, vs.length);
      }
      const li = name === 'input' ? -1 : all.indexOf(name);
      rows.push({ method, layer: name, layerIndex: li, depth: name === 'input' ? 0 : all.length > 1 ? li / (all.length - 1) : 1, n: count, values });
    }
  }
  const mean = (vs: Array<number | boolean | null>) => {
    const xs = vs.filter((v) => v !== null).map(Number);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  };
  return {
    naflow: '0.1.0',
    model: config.model,
    data: config.data,
    images: n,
    methods: options.methods,
    metrics: options.metrics,
    settings: { steps: config.steps, substrate: config.substrate, score: 'probability of the ground-truth class', explained: 'ground-truth class', ...(config.sanity ? { sanity: config.sanity } : {}) },
    layers,
    rows,
    baselines: {
      centrePointing: mean(lines.map((l) => (l.centre === null ? null : l.centre ? 100 : 0))),
      uniformEnergy: mean(lines.map((l) => l.area)),
    },
  };
}
