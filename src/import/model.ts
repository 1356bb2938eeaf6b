/**
 * A model from its files' bytes: detect the format, run its importer, attach the model card, infer
 * shapes. No file system: the Node adapter (src/node/load.ts) reads the files and calls this.
 */
import { GraphError, type Graph } from '../ir/graph.js';
import { Model } from '../engine/model.js';
import { inferShapes } from '../engine/shapes.js';
import type { LoadedCard } from '../model/card.js';
import { importOnnx } from './onnx.js';
import { importTfjsLayers } from './tfjs-layers.js';
import { importTfjsGraph } from './tfjs-graph.js';
import { readTfjsArtifacts } from './tfjs-weights.js';
import { utf8, type ModelFiles } from './files.js';
import { FACE_RECOGNITION_CARD, importFaceRecognitionNet, importTinyFaceDetector, isFaceRecognitionManifest, isTinyFaceDetectorManifest } from './face-api.js';
import '../ops/index.js';
import { InputError } from '../util/errors.js';
import { describeUnsupported, unsupportedOps } from '../engine/support.js';

export class ModelLoadError extends InputError {}

export type ModelFormat = 'onnx' | 'tfjs-layers' | 'tfjs-graph' | 'face-api';

/** The format of a model whose main file is `target`: a .json file by its content, anything else ONNX. */
export function formatOf(files: ModelFiles): ModelFormat {
  const target = files.name;
  if (!/\.json$/i.test(target)) return 'onnx';
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(utf8(files.bytes()));
  } catch (e) {
    throw new ModelLoadError(`${target}: not valid JSON (${(e as Error).message})`);
  }
  if (isFaceRecognitionManifest(j) || isTinyFaceDetectorManifest(j)) return 'face-api';
  const topo = j.modelTopology as Record<string, unknown> | undefined;
  if (j.format === 'graph-model' || (topo && Array.isArray(topo.node))) return 'tfjs-graph';
  if (j.format === 'layers-model' || (topo && (topo.model_config || topo.class_name || topo.config))) return 'tfjs-layers';
  throw new ModelLoadError(`${target}: JSON but not a TensorFlow.js model (no modelTopology with layers or nodes)`);
}

/** Import a model's files into a graph (no card, no shapes). Tensors are created on the current backend. */
export function importGraphFrom(files: ModelFiles, format: ModelFormat = formatOf(files), options: { inputSize?: [number, number] } = {}): Graph {
  const target = files.name;
  try {
    if (format === 'onnx') return importOnnx(files.bytes(), target, { inputSize: options.inputSize });
    if (format === 'face-api') {
      const json = JSON.parse(utf8(files.bytes()));
      return isTinyFaceDetectorManifest(json) ? importTinyFaceDetector(json, files) : importFaceRecognitionNet(json, files);
    }
    const art = readTfjsArtifacts(files);
    return format === 'tfjs-graph' ? importTfjsGraph(art.modelJson, art.weights, target) : importTfjsLayers(art.modelJson, art.weights, target);
  } catch (e) {
    if (e instanceof GraphError || e instanceof ModelLoadError) throw e;
    throw new ModelLoadError(`${target}: cannot load as ${format}: ${(e as Error).message}`);
  }
}

/** A Model of an imported graph with its card, shapes inferred (unless `skipShapes`). */
export function modelOf(graph: Graph, card: LoadedCard = {}, { skipShapes = false }: { skipShapes?: boolean } = {}): Model {
  // face-api ships weights only: without a card of the user's, use face-api's own preprocessing
  if (graph.format === 'face-api' && !card.cardPath && graph.outputs[0] === 'descriptor') card = { ...FACE_RECOGNITION_CARD };
  // every op type naflow cannot run, at once (not the first node shape inference stumbles on)
  const unsupported = skipShapes ? [] : unsupportedOps(graph);
  if (unsupported.length) {
    for (const t of graph.constants.values()) t.dispose();
    throw new GraphError(
      `${graph.source}: naflow does not support ${unsupported.length === 1 ? 'this op' : `these ${unsupported.length} op types`}: ${describeUnsupported(unsupported)}; naflow inspect ${graph.source} lists every node`,
    );
  }
  const model = new Model(graph, card);
  try {
    if (!skipShapes) inferShapes(model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Import a model from its files' bytes (the core's counterpart of the Node entry's `loadModel(path)`). */
export function importModel(files: ModelFiles, options: { card?: LoadedCard; skipShapes?: boolean } = {}): Model {
  return modelOf(importGraphFrom(files, formatOf(files), { inputSize: options.card?.inputSize }), options.card, options);
}
