/**
 * naflow — the library entry point.
 *
 * Data flows one way: import → graph → forward record → (cascade) → maps → render/metrics.
 */
export * from './ir/graph.js';
export { registerOp, getOpRule, supportedOps, type OpRule, type OpContext, type VjpArgs } from './ops/registry.js';
export { Model } from './engine/model.js';
export { initBackend, currentBackend, type BackendName, type BackendOptions } from './engine/backend.js';
export { forward, backward, nodesBetween, ForwardRecord, type Feeds, type ForwardOptions, type BackwardOptions } from './engine/execute.js';
export { inferShapes } from './engine/shapes.js';
export { loadModel, importGraph, detectFormat, ModelLoadError, type LoadOptions, type ModelFormat } from './import/load.js';
export { loadCard, validateCard, cardPathFor, CardError, type ModelCard, type LoadedCard, type PreprocessPreset } from './model/card.js';
