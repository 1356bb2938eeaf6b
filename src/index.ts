/**
 * naflow — the library entry point.
 *
 * Data flows one way: import → graph → forward record → (cascade) → maps → render/metrics.
 */
export * from './ir/graph.js';
export { registerOp, getOpRule, supportedOps, type OpRule, type OpContext, type VjpArgs } from './ops/registry.js';
export { Model } from './engine/model.js';
export { initBackend, currentBackend, type BackendName, type BackendOptions } from './engine/backend.js';
export { nativeStatus, setNativeThreads, withoutNative } from './runtime/native.js';
export { forward, backward, nodesBetween, ForwardRecord, type Feeds, type ForwardOptions, type BackwardOptions } from './engine/execute.js';
export { inferShapes } from './engine/shapes.js';
export { loadModel, importGraph, detectFormat, ModelLoadError, type LoadOptions, type ModelFormat } from './node/load.js';
export { loadCard, validateCard, cardPathFor, CardError, type ModelCard, type LoadedCard, type PreprocessPreset } from './model/card.js';
export { lsmr, sigmaMax, type LinearOperator, type LsmrOptions, type LsmrResult } from './solve/lsmr.js';
export { runCascade, findScoreTensor, findTrunkEnd, trunkTensorOrder, seedFor, DEFAULT_SETTINGS, type Target, type AttentionFlow, type LayerFlow, type CascadeOptions, type NaflowMode } from './naflow/cascade.js';
export { SPEC_VARIANT, DEFAULT_VARIANT, PRESETS, parseVariant, resolveVariant, variantText, type CascadeVariant } from './naflow/variant.js';
export { explain, type ExplainResult, type ExplainOptions, type Decision } from './naflow/explain.js';
export * from './render/index.js';
export { decodeImage, ImageError, type RgbImage, type DecodedImage } from './node/decode-image.js';
export { prepareImage, imageSpecFor, type ImageSpec, type PreparedImage } from './image/preprocess.js';
export { predict, softmax, topK, type Prediction, type PredictResult, type PredictOptions } from './predict.js';
export { inspectGraph, formatInspect, type InspectReport, type InspectRow } from './inspect.js';
export { DEFAULT_MODEL, DEFAULT_IMAGE } from './defaults.js';
export { readNpy, writeNpy } from './util/npy.js';
export { writeFlow, flowJson, type FlowJson, type FlowJsonLayer, type WriteFlowOptions } from './node/write-flow.js';
export * from './baselines/index.js';
export * from './similarity/index.js';
export { modelSha256 } from './node/hash.js';
export * from './metrics/index.js';
export { viewerData, encodeMap, decodeMap, evalSection, modelDisplayName, type ViewerData, type ViewerDataOptions, type ViewerLayer, type ViewerMap, type ViewerFlow, type CompareFlow } from './viewer/data.js';
export { renderReport, REPORT_CSP, type ReportOptions } from './viewer/report.js';
export { startServer, type ServeOptions, type ServeModel, type RunningServer } from './serve/server.js';
export { runExplainJob, type JobRequest, type JobOutput } from './serve/job.js';
