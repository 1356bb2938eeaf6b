/**
 * naflow's core: the engine, the op rules, importing models from bytes, the NAFlow cascade, the CAM
 * baselines and the metrics, with no Node built-ins and no Node-only packages, so that it bundles for
 * a browser (test/browser-bundle.test.ts checks it). A host plugs in what the core cannot do itself:
 * native kernels (`registerNativeProvider`), 2+ wasm threads (`registerWasmThreads`) and image decoding
 * (`setImageDecoder`). The Node entry (src/index.ts) re-exports all of this and registers Node's.
 */
export * from './ir/graph.js';
export { InputError, UsageError, isInputError } from './util/errors.js';
export { registerOp, getOpRule, supportedOps, type OpRule, type OpContext, type VjpArgs } from './ops/registry.js';
export { Model } from './engine/model.js';
export { initBackend, currentBackend, registerWasmThreads, type BackendName, type BackendOptions, type WasmThreadStarter } from './engine/backend.js';
export {
  nativeStatus,
  setNativeThreads,
  withoutNative,
  registerNativeProvider,
  type NativeProvider,
  type NativeProviderRegistration,
} from './runtime/native.js';
export { forward, backward, nodesBetween, ForwardRecord, type Feeds, type ForwardOptions, type BackwardOptions } from './engine/execute.js';
export { inferShapes } from './engine/shapes.js';
export { importModel, importGraphFrom, formatOf, modelOf, ModelLoadError, type ModelFormat } from './import/model.js';
export { modelFilesFromBytes, type ModelFiles } from './import/files.js';
export { validateCard, CardError, type ModelCard, type LoadedCard, type PreprocessPreset } from './model/card.js';
export { lsmr, sigmaMax, type LinearOperator, type LsmrOptions, type LsmrResult } from './solve/lsmr.js';
export { findScoreTensor, findTrunkEnd, trunkTensorOrder, seedFor, checkClassIndex, type Target } from './structure/index.js';
export type { AttributionMethod, AttributionMaps, LayerMap, MethodRunOptions, MethodSpace } from './structure/method.js';
export { runCascade, DEFAULT_SETTINGS, type AttentionFlow, type LayerFlow, type CascadeOptions, type NaflowMode } from './naflow/cascade.js';
export { naflowPaper, naflowReference } from './naflow/method.js';
export { SPEC_VARIANT, DEFAULT_VARIANT, PRESETS, parseVariant, resolveVariant, variantText, type CascadeVariant } from './naflow/variant.js';
export { explain, type ExplainResult, type ExplainOptions, type Decision } from './naflow/explain.js';
export { ImageError, setImageDecoder, luminance, type RgbImage, type DecodedImage, type ImageDecoder } from './image/rgb.js';
export { prepareImage, imageSpecFor, type ImageSpec, type PreparedImage, type ImageInput } from './image/preprocess.js';
export { predict, softmax, topK, type Prediction, type PredictResult, type PredictOptions } from './predict.js';
export { inspectGraph, formatInspect, type InspectReport, type InspectRow } from './inspect.js';
export { parseNpy, encodeNpy, npyToFloat32 } from './util/npy.js';
export * from './baselines/index.js';
export * from './metrics/index.js';
export * from './methods/index.js';
