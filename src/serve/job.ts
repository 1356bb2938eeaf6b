/**
 * One `naflow serve` explanation, in process: NAFlow (and the chosen CAM baselines) on an uploaded image,
 * returned as the viewer's data and a zip of the raw maps (flow.json, maps/*.npy, compare/<method>/*.npy).
 * The server runs it in a worker thread (./worker.ts) so that the HTTP server stays responsive; it frees
 * every tensor it creates (tested).
 */
import * as tf from '@tensorflow/tfjs-core';
import { zipSync, strToU8 } from 'fflate';
import type { Model } from '../engine/model.js';
import { explain } from '../naflow/explain.js';
import type { NaflowMode } from '../naflow/cascade.js';
import { flowJson } from '../node/write-flow.js';
import { prepareImage } from '../image/preprocess.js';
import { compareAtLayers, resolveMethod, type Comparison } from '../methods/index.js';
import { encodeNpy } from '../util/npy.js';
import { viewerData, type ViewerData } from '../viewer/data.js';

export interface JobRequest {
  /** the uploaded image (PNG, JPEG or WebP bytes) */
  image: Uint8Array;
  /** shown in the viewer and the zip's flow.json */
  imageName: string;
  mode: NaflowMode;
  /** baselines beside NAFlow: registry ids of comparable methods (validated by the server) */
  compare: string[];
  classIndex?: number;
}

export interface JobOutput {
  data: ViewerData;
  /** flow.json, maps/*.npy and compare/<method>/*.npy */
  zip: Uint8Array;
}

export type Progress = (p: { stage: 'naflow' | 'compare' | 'report'; done: number; total: number; layer?: string }) => void;

/** Explain one uploaded image with a loaded model. */
export async function runExplainJob(model: Model, modelName: string, req: JobRequest, onProgress: Progress = () => {}): Promise<JobOutput> {
  const result = await explain(model, req.image, {
    mode: req.mode,
    classIndex: req.classIndex,
    onLayer: (done, total, layer) => onProgress({ stage: 'naflow', done, total, layer }),
  });
  let compared: Comparison[] = [];
  if (req.compare.length) {
    const x = (await prepareImage(model, req.image)).tensor;
    try {
      const methods = req.compare.map((id) => resolveMethod(id, 'compare'));
      const at = { classIndex: result.decision.classIndex, trunkEnd: result.trunkEnd, scoreTensor: result.scoreTensor };
      compared = compareAtLayers(model, x, methods, at, (done, total, id) => onProgress({ stage: 'compare', done, total, layer: id }));
    } finally {
      x.dispose();
    }
  }
  onProgress({ stage: 'report', done: 0, total: 1 });
  const data = await viewerData(result, {
    modelName,
    imageFile: req.imageName,
    compare: compared,
  });
  const json = flowJson(result, { imageFile: req.imageName, noImages: true, extra: { model: { file: modelName, sha256: null } } });
  const stems = new Map(json.layers.map((l) => [l.name, l.npy.slice('maps/'.length)]));
  const files: Record<string, Uint8Array> = {};
  result.layers.forEach((l, i) => (files[json.layers[i].npy] = encodeNpy(l.map, [l.shape[0], l.shape[1]])));
  for (const c of compared)
    for (const l of c.layers) files[`compare/${c.method}/${stems.get(l.name) ?? `${l.name}.npy`}`] = encodeNpy(l.map, [l.shape[0], l.shape[1]]);
  files['flow.json'] = strToU8(`${JSON.stringify({ ...json, compare: compared.map((c) => c.method) }, null, 2)}\n`);
  // float maps hardly compress: level 1 keeps the zip fast
  const zip = zipSync(files, { level: 1 });
  onProgress({ stage: 'report', done: 1, total: 1 });
  return { data, zip };
}

/** Live tensors now (for the leak checks). */
export const liveTensors = (): number => tf.memory().numTensors;
