/**
 * naflow — the library entry point.
 *
 * Data flows one way: import → graph → forward record → (cascade) → maps → render/metrics.
 */
export * from './ir/graph.js';
export { InputError, UsageError, isInputError } from './util/errors.js';
export { registerOp, getOpRule, supportedOps, type OpRule, type OpContext, type VjpArgs } from './ops/registry.js';
export { Model } from './engine/model.js';
export { initBackend, currentBackend, type BackendName, type BackendOptions } from './engine/backend.js';
export { nativeStatus, setNativeThreads, withoutNative } from './engine/native.js';
export { forward, backward, nodesBetween, ForwardRecord, type Feeds, type ForwardOptions, type BackwardOptions } from './engine/execute.js';
export { inferShapes } from './engine/shapes.js';
export { loadModel, importGraph, detectFormat, ModelLoadError, type LoadOptions, type ModelFormat } from './import/load.js';
export { loadCard, validateCard, cardPathFor, CardError, type ModelCard, type LoadedCard, type PreprocessPreset } from './model/card.js';
export { lsmr, sigmaMax, type LinearOperator, type LsmrOptions, type LsmrResult } from './solve/lsmr.js';
export { findScoreTensor, findTrunkEnd, trunkTensorOrder, seedFor, checkClassIndex, type Target } from './structure/index.js';
export { runCascade, DEFAULT_SETTINGS, type AttentionFlow, type LayerFlow, type CascadeOptions, type NaflowMode } from './naflow/cascade.js';
export { SPEC_VARIANT, DEFAULT_VARIANT, PRESETS, parseVariant, resolveVariant, variantText, type CascadeVariant } from './naflow/variant.js';
export { explain, type ExplainResult, type ExplainOptions, type Decision } from './naflow/explain.js';
export * from './render/index.js';
export { decodeImage, ImageError, type RgbImage, type DecodedImage } from './image/decode.js';
export { prepareImage, imageSpecFor, type ImageSpec, type PreparedImage } from './image/preprocess.js';
export { predict, softmax, topK, type Prediction, type PredictResult, type PredictOptions } from './predict.js';
export { inspectGraph, formatInspect, type InspectReport, type InspectRow } from './inspect.js';
export { DEFAULT_MODEL, DEFAULT_IMAGE } from './defaults.js';
export { readNpy, writeNpy } from './util/npy.js';
export { writeFlow, flowJson, type FlowJson, type FlowJsonLayer, type WriteFlowOptions } from './naflow/write-flow.js';
export * from './baselines/index.js';
export { naflowPaper, naflowReference } from './naflow/method.js';
export * from './methods/index.js';
export type { AttributionMethod, AttributionMaps, LayerMap, MethodRunOptions, MethodSpace } from './structure/method.js';
export * from './similarity/index.js';
export { modelSha256 } from './util/hash.js';
export * from './metrics/index.js';
export { runEval, valueKeys, type EvalOptions, type EvalResults, type EvalRow, type EvalLayer } from './eval/run.js';
export { writeReport, toCsv, toMarkdown, metricKeys, metricLabel } from './eval/report.js';
export { readDataset, EvalDataError, type EvalItem } from './eval/dataset.js';
export { viewerData, encodeMap, decodeMap, evalSection, modelDisplayName, type ViewerData, type ViewerDataOptions, type ViewerLayer, type ViewerMap, type ViewerFlow, type CompareFlow } from './viewer/data.js';
export { renderReport, REPORT_CSP, type ReportOptions } from './viewer/report.js';
export { startServer, type ServeOptions, type ServeModel, type RunningServer } from './serve/server.js';
export { runExplainJob, type JobRequest, type JobOutput } from './serve/job.js';
