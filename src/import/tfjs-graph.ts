/**
 * TensorFlow.js graph models → naflow graph. The importer lives in `tfjs-graph/`: model.json
 * validation (model-json.ts), the driver (driver.ts), the handler table (handlers.ts) over one file per
 * op family, constant folding (fold.ts) and graph passes (passes.ts).
 */
export { importTfjsGraph } from './tfjs-graph/driver.js';
export { tfGraphMappedOps } from './tfjs-graph/handlers.js';
