/**
 * naflow — the library entry point.
 *
 * Data flows one way: import → graph → forward record → (cascade) → maps → render/metrics.
 * This is the Node entry: the core (./core.ts, also `naflow/core`) with Node's native kernels, wasm
 * threads and image decoder registered, plus what reads and writes files, the renderer, the viewer and
 * the server.
 */
import './node/register.js';
export * from './core.js';
export type { RgbImage } from './core.js'; // render/ has a structurally equal one: this one wins, as before
export { loadModel, importGraph, detectFormat, type LoadOptions } from './node/load.js';
export { loadCard, cardPathFor } from './node/card-file.js';
export * from './render/index.js';
export {
  encodePng,
  writePng,
  flowStrip,
  flowGif,
  colorbarPng,
  captionSupport,
  layerCaption,
  DEFAULT_FONT_FAMILY,
  type Tile,
  type StripOptions,
  type GifOptions,
  type CaptionOptions,
} from './node/compose.js';
export { decodeImage } from './node/decode-image.js';
export { DEFAULT_MODEL, DEFAULT_IMAGE } from './defaults.js';
export { readNpy, writeNpy } from './node/npy-file.js';
export { writeFlow, flowJson, type FlowJson, type FlowJsonLayer, type WriteFlowOptions } from './node/write-flow.js';
export * from './similarity/index.js';
export { modelSha256 } from './node/hash.js';
export { runEval, valueKeys, type EvalOptions, type EvalResults, type EvalRow, type EvalLayer } from './eval/run.js';
export { writeReport, toCsv, toMarkdown, metricKeys, metricLabel } from './eval/report.js';
export { aggregateRecords, readRecords, type EvalRecord, type EvalIdentity } from './eval/results.js';
export { parseShard, inShard, type Shard, type ShardIdentity } from './eval/shard.js';
export { mergeShards, MergeError } from './eval/merge.js';
export { readDataset, EvalDataError, type EvalItem } from './eval/dataset.js';
export {
  viewerData,
  encodeMap,
  decodeMap,
  evalSection,
  modelDisplayName,
  type ViewerData,
  type ViewerDataOptions,
  type ViewerLayer,
  type ViewerMap,
  type ViewerFlow,
  type CompareFlow,
} from './viewer/data.js';
export { renderReport, REPORT_CSP, type ReportOptions } from './viewer/report.js';
export { startServer, type ServeOptions, type ServeModel, type RunningServer } from './serve/server.js';
export { runExplainJob, type JobRequest, type JobOutput } from './serve/job.js';
