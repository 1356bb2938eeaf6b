/**
 * ONNX (opsets 11–18) → naflow graph. The importer lives in `onnx/`: the driver (driver.ts), the
 * per-node dispatch (convert.ts), the handler table (handlers.ts) over one file per op family, and
 * the host-side constant folder (host/).
 */
export { importOnnx } from './onnx/driver.js';
export { BATCH, MAX_OPSET, MIN_OPSET } from './onnx/layout.js';
export { onnxMappedOps } from './onnx/handlers.js';
