/**
 * Load a model file into a `Model`: the Node adapter over import/model.ts, which does the work from
 * the files' bytes. Reads local files only.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../engine/model.js';
import type { ModelFiles } from '../import/files.js';
import type { ModelCard } from '../model/card.js';
import { ModelLoadError, formatOf, importGraphFrom, modelOf, type ModelFormat } from '../import/model.js';
import { readTfjsArtifacts as tfjsArtifactsOf, type TfjsArtifacts } from '../import/tfjs-weights.js';
import { loadCard } from './card-file.js';
import { persistSigma } from './sigma-cache.js';
import './register.js';

export { ModelLoadError, type ModelFormat } from '../import/model.js';

export interface LoadOptions {
  /** explicit model card path (default: `<model>.naflow.json` beside the model) */
  card?: string;
  /** card fields given on the command line (--preprocess, --input-size, --layout), over the card's */
  cardFields?: Partial<ModelCard>;
  /** skip shape inference (only for inspecting graphs with unsupported ops) */
  skipShapes?: boolean;
  /** keep σ_max of the model's operators in the cache file (src/node/sigma-cache.ts; default true) */
  sigmaCache?: boolean;
}

/** A model's files on disk: the main file and the files beside it (resolved relative to it). */
export function modelFilesAt(file: string): ModelFiles {
  return {
    name: file,
    bytes: () => new Uint8Array(fs.readFileSync(file)),
    sibling: (p) => {
      const location = path.resolve(path.dirname(file), p);
      return { location, bytes: fs.existsSync(location) ? new Uint8Array(fs.readFileSync(location)) : undefined };
    },
  };
}

/** Read `model.json` and every weight its manifest lists (shards relative to the JSON file). */
export function readTfjsArtifacts(modelJsonPath: string): TfjsArtifacts {
  return tfjsArtifactsOf(modelFilesAt(modelJsonPath));
}

/** Guess the format from the file, without importing it. */
export function detectFormat(file: string): ModelFormat {
  if (!fs.existsSync(file)) throw new ModelLoadError(`${file}: no such file`);
  let target = file;
  if (fs.statSync(file).isDirectory()) {
    target = path.join(file, 'model.json');
    if (!fs.existsSync(target)) throw new ModelLoadError(`${file}: a directory without model.json`);
  }
  return formatOf(modelFilesAt(target));
}

export function modelFileOf(file: string): string {
  return fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, 'model.json') : file;
}

/** Import a model file into a graph (no card, no shapes). Tensors are created on the current backend. */
export function importGraph(file: string): Graph {
  const format = detectFormat(file);
  return importGraphFrom(modelFilesAt(modelFileOf(file)), format);
}

export async function loadModel(file: string, options: LoadOptions = {}): Promise<Model> {
  const format = detectFormat(file);
  // the card first: its inputSize fixes an ONNX input's symbolic height and width
  const card = loadCard(modelFileOf(file), options.card, options.cardFields);
  const graph = importGraphFrom(modelFilesAt(modelFileOf(file)), format, { inputSize: card.inputSize });
  const model = modelOf(graph, card, options);
  if (options.sigmaCache !== false) persistSigma(model, file);
  return model;
}
