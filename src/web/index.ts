/**
 * naflow's browser entry (`naflow/web`, bundled by `npm run build:web` into dist/web/naflow.js): the
 * core (src/core.ts) plus what a page plugs in — models from File objects or bytes (`loadModel`), the
 * browser's image decoder, and the wasm backend's files fetched from beside the bundle. The same API
 * names as the Node entry (`loadModel`, `explain`, `predict`, …). Nothing in naflow imports this file.
 */
import * as tf from '@tensorflow/tfjs-core';
import './backend.js';
import './decode-image.js';

export * from '../core.js';
export { loadModel, type WebModelSource, type WebLoadOptions } from './load.js';
export { decodeImage, sniffFormat } from './decode-image.js';
export { setWasmFolder } from './backend.js';
export { backendInfo, type BackendInfo } from '../engine/backend.js';
export type { WebFile } from './dom.js';
/** The tfjs instance the engine runs on: make input tensors with it (`tf.tensor4d(data, [1, h, w, c])`). */
export { tf };
export {
  NaflowWorker,
  CancelledError,
  explainInWorker,
  type WorkerTask,
  type WorkerExplainOptions,
  type WorkerExplainResult,
  type WorkerLayer,
  type WorkerModelInfo,
} from './client.js';
export { viewerDataOf } from './viewer-data.js';
