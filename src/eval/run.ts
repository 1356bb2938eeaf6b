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
import { prepareImage, resizeOptionsOf, type ImageSpec } from '../image/preprocess.js';
import { framingOf, type DecodedImage } from '../image/rgb.js';
import { findScoreTensor, findTrunkEnd, trunkTensorOrder } from '../structure/index.js';
import { resolveMethod, type ResolvedMethod } from '../methods/index.js';
import type { LayerMap } from '../structure/method.js';
import { makeScorer } from '../metrics/faithfulness.js';
import { boxAreaShare, centreHit, type Box } from '../metrics/pointing.js';
import { randomizedModel, sanityStages, type SanityStage } from '../metrics/sanity.js';
import { getMetric } from '../metrics/index.js';
import { modelSha256 } from '../node/hash.js';
import type { EvalItem } from './dataset.js';
import { InputError } from '../util/errors.js';
import { evalOutProblem, writingTo } from './out-folder.js';
import { aggregateRecords, evalLayers, readRecords, type EvalLayer, type EvalRecord, type EvalResults, type ImageResult } from './results.js';
import { inShard, listingSha256, shardName, type Shard, type ShardIdentity } from './shard.js';

export interface EvalOptions {
  /**
   * Method ids of the registry (src/methods): `naflow` is paper mode with the default configuration,
   * `naflow:key=value,…` paper mode with the spec's configuration changed by those keys, `naflow:spec`
   * the spec's configuration itself.
   */
  methods: string[];
  /** metric keys of the registry (src/metrics): deletion, insertion, drop, pointing, energy, sanity */
  metrics: string[];
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
  /** only this shard's images (image k of `items` is shard k mod count's); recorded in eval-config.json */
  shard?: Shard;
}

export type { SanityStage } from '../metrics/sanity.js';
export { valueKeys, type ValueKey, type EvalLayer, type EvalRow, type EvalResults, type EvalRecord } from './results.js';

function chooseLayers(model: Model, spec: EvalOptions['layers']): { all: string[]; chosen: string[] } {
  const graph = model.graph;
  const all = trunkTensorOrder(graph, findTrunkEnd(graph, findScoreTensor(graph)));
  if (spec === 'all') return { all, chosen: all };
  if (spec === 'last') return { all, chosen: [all[all.length - 1]] };
  const chosen = spec.map((s) => {
    const name = typeof s === 'number' || /^\d+$/.test(s) ? all[Number(s)] : s;
    if (!name || !all.includes(name))
      throw new InputError(`--layers: '${s}' is not a trunk layer (there are ${all.length}: 0–${all.length - 1} or their tensor names)`);
    return name;
  });
  return { all, chosen: all.filter((n) => chosen.includes(n)) };
}

/** Memory the deletion/insertion curves may hold: they keep one perturbed float image per step. */
const CURVE_BYTES = 2 ** 30;

/**
 * --steps within what the curves can hold (one float copy of the input per step) and no more than the
 * input's pixels (a step removes at least one): an unbounded value grew to tens of GB.
 */
function checkSteps(model: Model, steps: number): void {
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  if (!(h > 0 && w > 0)) return;
  const max = Math.max(1, Math.min(h * w, Math.floor(CURVE_BYTES / (h * w * (c > 0 ? c : 3) * 4))));
  if (steps > max)
    throw new InputError(
      `--steps ${steps} is more than this model's ${h}×${w} input allows: at most ${max} (each step keeps one copy of the image; a step removes at least one pixel)`,
    );
}

/** What the methods' maps depend on besides their ids (NAFlow's solver defaults), once per method kind. */
function methodSettings(methods: readonly ResolvedMethod[]): Record<string, unknown> {
  const kinds = [...new Set(methods.map((m) => m.method))];
  return Object.assign({}, ...kinds.map((m) => m.settings?.() ?? {})) as Record<string, unknown>;
}

/**
 * The run's identity: a checkpoint is only resumed by a run with the same settings. A sharded run adds
 * `shard` (which slice, and what `eval merge` needs to check and aggregate the slices without the model).
 */
function configOf(model: Model, options: EvalOptions, items: readonly EvalItem[], layers: EvalLayer[], methods: readonly ResolvedMethod[]) {
  const shard: ShardIdentity | undefined = options.shard && {
    ...options.shard,
    images: items.length,
    listing: listingSha256(items, options.data),
    layers,
  };
  return {
    model: { file: path.resolve(options.modelFile), sha256: modelSha256(options.modelFile) },
    data: path.resolve(options.data),
    methods: options.methods,
    metrics: options.metrics,
    layers: layers.map((l) => l.name),
    steps: options.steps ?? 32,
    substrate: options.substrate ?? 'blur',
    ...(options.metrics.some((k) => getMetric(k).needs.randomisedModels) ? { sanity: sanityStages(model, options.sanityStages ?? 4) } : {}),
    // what else the methods' maps depend on (NAFlow's solver defaults), once per method kind
    ...methodSettings(methods),
    ...(shard ? { shard } : {}),
  };
}

/** An existing checkpoint is resumed only by the same run (and the same shard of it). */
function checkCheckpoint(out: string, old: string, config: ReturnType<typeof configOf>): void {
  if (old.trim() === JSON.stringify(config, null, 2).trim()) return;
  let oldShard: ShardIdentity | undefined;
  try {
    oldShard = (JSON.parse(old) as { shard?: ShardIdentity }).shard;
  } catch {
    // unreadable: the general message below
  }
  const mine = config.shard;
  if (oldShard && (!mine || oldShard.index !== mine.index || oldShard.count !== mine.count))
    throw new InputError(
      `${out} holds shard ${shardName(oldShard)} of an evaluation, and this run is ${mine ? `shard ${shardName(mine)}` : 'not sharded'}: resume it with --shard ${shardName(oldShard)}, or give each shard its own --out`,
    );
  if (!oldShard && mine)
    throw new InputError(`${out} holds an evaluation that is not sharded, and this run is shard ${shardName(mine)}: give each shard its own --out`);
  throw new InputError(
    `${out} holds an evaluation with other settings (model, data, methods, metrics, layers, steps or NAFlow's solver settings); choose another --out or delete it`,
  );
}

export { sanityStages } from '../metrics/sanity.js';

/** A method's maps at the chosen layers (a pixel-space method's one map at the input). */
function mapsOf(model: Model, x: tf.Tensor, method: ResolvedMethod, classIndex: number, layers: string[]): LayerMap[] {
  if (method.method.space === 'pixel') return method.run(model, x, { classIndex }).layers;
  return method.run(model, x, { classIndex, layers }).layers;
}

export async function runEval(model: Model, items: EvalItem[], options: EvalOptions): Promise<EvalResults> {
  // unknown methods or metrics are refused before any work
  const methods = options.methods.map((id) => resolveMethod(id, 'methods'));
  for (const key of options.metrics) getMetric(key, 'metrics');
  checkSteps(model, options.steps ?? 32);
  const { all, chosen } = chooseLayers(model, options.layers);
  const layers = evalLayers(all, chosen);
  const outProblem = evalOutProblem(options.out);
  if (outProblem) throw new InputError(outProblem);
  writingTo(options.out, () => fs.mkdirSync(options.out, { recursive: true }));
  const config = configOf(model, options, items, layers, methods);
  const configFile = path.join(options.out, 'eval-config.json');
  const progressFile = path.join(options.out, 'progress.jsonl');
  if (fs.existsSync(configFile)) checkCheckpoint(options.out, fs.readFileSync(configFile, 'utf8'), config);
  else writingTo(options.out, () => fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`));
  const done = readRecords(progressFile);
  const steps = options.steps ?? 32;
  const substrate = options.substrate ?? 'blur';
  // the randomised models are made once per run (fixed seed) and explained like the trained one
  const randomised = (config.sanity ?? []).map((stage) => ({ stage, model: randomizedModel(model, { layers: stage.layers, seed: stage.seed }) }));
  try {
    await evalImages(model, items, options, done, progressFile, { methods, steps, substrate, chosen, randomised });
  } finally {
    for (const r of randomised) r.model.dispose();
  }
  // only this run's items (a checkpoint may hold more, from a run with a larger --limit)
  const mine = [...done.values()].filter((l) => l.i < items.length && inShard(l.i, options.shard));
  return aggregateRecords(config, layers, mine, shardImages(items.length, options.shard));
}

/** How many of a listing's n images are the shard's (all n without one). */
function shardImages(n: number, shard: Shard | undefined): number {
  return shard ? Math.max(0, Math.ceil((n - shard.index) / shard.count)) : n;
}

async function evalImages(
  model: Model,
  items: EvalItem[],
  options: EvalOptions,
  done: Map<number, EvalRecord>,
  progressFile: string,
  run: { methods: ResolvedMethod[]; steps: number; substrate: 'blur' | 'zero'; chosen: string[]; randomised: Array<{ stage: SanityStage; model: Model }> },
): Promise<void> {
  const { methods, steps, substrate, chosen, randomised } = run;
  const metrics = options.metrics.map((k) => getMetric(k));
  const total = shardImages(items.length, options.shard);
  for (const [i, item] of items.entries()) {
    if (!inShard(i, options.shard)) continue;
    const saved = done.get(i);
    // the checkpoint is by position: a changed dataset (another --every, files added) must not mix in
    if (saved && path.resolve(saved.file) !== path.resolve(item.file))
      throw new InputError(
        `${options.out}: image ${i} of the checkpoint is ${saved.file}, but this run's image ${i} is ${item.file}: the dataset or its sampling changed; choose another --out or delete it`,
      );
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
      boxes = framedBoxes(item.boxes, [bw, bh], prepared.rgb, prepared.spec);
    }
    const results: ImageResult = {};
    try {
      const scorer = makeScorer(model, prepared.rgb, prepared.spec, { classIndex: item.classIndex });
      for (const method of methods) {
        const perLayer: ImageResult[string] = (results[method.id] = {});
        // sanity: the same method's maps on each randomised model, for the same class
        const randomMaps = randomised.map((r) => ({
          key: r.stage.key,
          maps: new Map(mapsOf(r.model, prepared.tensor, method, item.classIndex, chosen).map((l) => [l.name, l.map])),
        }));
        for (const layer of mapsOf(model, prepared.tensor, method, item.classIndex, chosen)) {
          const input = {
            map: layer.map,
            height: layer.shape[0],
            width: layer.shape[1],
            scorer,
            steps,
            substrate,
            boxes,
            imageWidth: W,
            imageHeight: H,
            randomised: new Map(randomMaps.map(({ key, maps }) => [key, maps.get(layer.name)!])),
          };
          perLayer[layer.name] = Object.assign({}, ...metrics.map((m) => m.compute(input)));
        }
      }
    } finally {
      prepared.tensor.dispose();
    }
    const line: EvalRecord = {
      i,
      file: item.file,
      ...(options.shard ? { classIndex: item.classIndex } : {}),
      results,
      centre: boxes ? centreHit(boxes, W, H) : null,
      area: boxes ? 100 * boxAreaShare(boxes, W, H) : null,
    };
    writingTo(options.out, () => fs.appendFileSync(progressFile, `${JSON.stringify(line)}\n`));
    done.set(i, line);
    options.onImage?.(done.size, total, item.file);
  }
}

/**
 * Boxes given in a bw×bh frame of the image, in the model input's pixels: scaled as the image was, shifted
 * by a centre crop's offset and clipped to the input (a box the crop cuts away entirely is dropped).
 */
export function framedBoxes(boxes: Box[], [bw, bh]: [number, number], image: DecodedImage, spec: ImageSpec): Box[] {
  const [H, W] = spec.size;
  const { resized, left, top } = framingOf(image.originalWidth, image.originalHeight, resizeOptionsOf(spec));
  const [rw, rh] = resized;
  const scaled = boxes.map(([x0, y0, x1, y1]) => [(x0 * rw) / bw - left, (y0 * rh) / bh - top, (x1 * rw) / bw - left, (y1 * rh) / bh - top] as Box);
  if (spec.resize === 'squash') return scaled;
  const clip = (v: number, max: number) => Math.min(max, Math.max(0, v));
  return scaled.map(([x0, y0, x1, y1]) => [clip(x0, W), clip(y0, H), clip(x1, W), clip(y1, H)] as Box).filter(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
}
