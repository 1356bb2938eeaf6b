/**
 * What the Node entry plugs into the core when it is loaded: onnxruntime-node as the native kernels'
 * provider, the wasm-threads shim (used only when 2+ threads are asked for) and sharp as the image
 * decoder. Imported for its effect by src/index.ts, the CLI, the serve worker and node/load.ts.
 */
import { registerNativeProvider } from '../runtime/native.js';
import { registerWasmThreads } from '../engine/backend.js';
import { onnxruntimeNode } from './onnxruntime.js';
import { nodeWasmThreads } from './wasm-threads.js';
import './decode-image.js';

registerNativeProvider(onnxruntimeNode);
registerWasmThreads(nodeWasmThreads);
