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

/** Read a model's file: a regular file only (a device such as /dev/zero would be read without end). */
function readModelFile(location: string, what: string): Uint8Array {
  const st = fs.statSync(location);
  if (!st.isFile()) throw new ModelLoadError(`${what}: not a regular file (a directory, device or pipe)`);
  return new Uint8Array(fs.readFileSync(location));
}

/**
 * A model's files on disk: the main file and the files beside it (resolved relative to it). A manifest
 * is untrusted: the files it names must lie inside the model's folder.
 */
export function modelFilesAt(file: string): ModelFiles {
  const dir = path.resolve(path.dirname(file));
  return {
    name: file,
    bytes: () => readModelFile(file, file),
    sibling: (p) => {
      const location = path.resolve(dir, p);
      const rel = path.relative(dir, location);
      if (path.isAbsolute(p) || rel.startsWith('..') || path.isAbsolute(rel))
        throw new ModelLoadError(`${file}: the weight file '${p}' is outside the model's folder (${dir}); a manifest may name only files beside it`);
      return { location, bytes: fs.existsSync(location) ? readModelFile(location, `${file}: weight file '${p}'`) : undefined };
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
export function importGraph(file: string, options: { inputSize?: [number, number] } = {}): Graph {
  const format = detectFormat(file);
  return importGraphFrom(modelFilesAt(modelFileOf(file)), format, options);
}

export async function loadModel(file: string, options: LoadOptions = {}): Promise<Model> {
  // the card first: its inputSize fixes an ONNX input's symbolic height and width
  const card = loadCard(modelFileOf(file), options.card, options.cardFields);
  const graph = importGraph(file, { inputSize: card.inputSize });
  const model = modelOf(graph, card, options);
  if (options.sigmaCache !== false) persistSigma(model, file);
  return model;
}
