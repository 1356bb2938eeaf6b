/**
 * TensorFlow.js layers (Keras) models → naflow graph. The importer lives in `tfjs-layers/`: model.json
 * validation (model-json.ts), the model structure and weights (importer.ts), and the handler table
 * (handlers.ts) over one file per layer family.
 */
export { importTfjsLayers } from './tfjs-layers/importer.js';
export { layersTopology } from './tfjs-layers/model-json.js';
export { kerasMappedLayers } from './tfjs-layers/handlers.js';
