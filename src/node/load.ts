/**
 * Load a model file into a `Model`: detect the format, run its importer, attach the model card,
 * infer shapes. Reads local files only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GraphError, type Graph } from '../ir/graph.js';
import { Model } from '../engine/model.js';
import { inferShapes } from '../engine/shapes.js';
import { loadCard } from '../model/card.js';
import { importOnnx } from '../import/onnx.js';
import { importTfjsLayers } from '../import/tfjs-layers.js';
import { importTfjsGraph } from '../import/tfjs-graph.js';
import { readTfjsArtifacts } from '../import/tfjs-weights.js';
import { FACE_RECOGNITION_CARD, importFaceRecognitionNet, importTinyFaceDetector, isFaceRecognitionManifest, isTinyFaceDetectorManifest } from '../import/face-api.js';
import { persistSigma } from './sigma-cache.js';
import '../ops/index.js';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface LoadOptions {
  /** explicit model card path (default: `<model>.naflow.json` beside the model) */
  card?: string;
  /** skip shape inference (only for inspecting graphs with unsupported ops) */
  skipShapes?: boolean;
  /** keep σ_max of the model's operators in the cache file (src/node/sigma-cache.ts; default true) */
  sigmaCache?: boolean;
}

export type ModelFormat = 'onnx' | 'tfjs-layers' | 'tfjs-graph' | 'face-api';

/** Guess the format from the file, without importing it. */
export function detectFormat(file: string): ModelFormat {
  if (!fs.existsSync(file)) throw new ModelLoadError(`${file}: no such file`);
  let target = file;
  if (fs.statSync(file).isDirectory()) {
    target = path.join(file, 'model.json');
    if (!fs.existsSync(target)) throw new ModelLoadError(`${file}: a directory without model.json`);
  }
  if (/\.json$/i.test(target)) {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(fs.readFileSync(target, 'utf8'));
    } catch (e) {
      throw new ModelLoadError(`${target}: not valid JSON (${(e as Error).message})`);
    }
    if (isFaceRecognitionManifest(j) || isTinyFaceDetectorManifest(j)) return 'face-api';
    const topo = j.modelTopology as Record<string, unknown> | undefined;
    if (j.format === 'graph-model' || (topo && Array.isArray(topo.node))) return 'tfjs-graph';
    if (j.format === 'layers-model' || (topo && (topo.model_config || topo.class_name || topo.config))) return 'tfjs-layers';
    throw new ModelLoadError(`${target}: JSON but not a TensorFlow.js model (no modelTopology with layers or nodes)`);
  }
  return 'onnx';
}

export function modelFileOf(file: string): string {
  return fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, 'model.json') : file;
}

/** Import a model file into a graph (no card, no shapes). Tensors are created on the current backend. */
export function importGraph(file: string): Graph {
  const format = detectFormat(file);
  const target = modelFileOf(file);
  try {
    if (format === 'onnx') return importOnnx(new Uint8Array(fs.readFileSync(target)), target);
    if (format === 'face-api') {
      const json = JSON.parse(fs.readFileSync(target, 'utf8'));
      return isTinyFaceDetectorManifest(json) ? importTinyFaceDetector(json, target) : importFaceRecognitionNet(json, target);
    }
    const art = readTfjsArtifacts(target);
    return format === 'tfjs-graph'
      ? importTfjsGraph(art.modelJson, art.weights, target)
      : importTfjsLayers(art.modelJson, art.weights, target);
  } catch (e) {
    if (e instanceof GraphError || e instanceof ModelLoadError) throw e;
    throw new ModelLoadError(`${target}: cannot load as ${format}: ${(e as Error).message}`);
  }
}

export async function loadModel(file: string, options: LoadOptions = {}): Promise<Model> {
  const graph = importGraph(file);
  let card = loadCard(modelFileOf(file), options.card);
  // face-api ships weights only: without a card of the user's, use face-api's own preprocessing
  if (graph.format === 'face-api' && !card.cardPath && graph.outputs[0] === 'descriptor') card = { ...FACE_RECOGNITION_CARD };
  const model = new Model(graph, card);
  try {
    if (!options.skipShapes) inferShapes(model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (options.sigmaCache !== false) persistSigma(model, file);
  return model;
}
