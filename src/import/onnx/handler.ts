/**
 * The shape of an ONNX op handler: it converts one node (inputs read and outputs recorded through the
 * importer) and returns false when it declines the node (kept as an unmapped node, or an error for
 * integer ops on activations). Handlers live in one file per op family and are collected in handlers.ts.
 */
import type { OnnxImporter } from './importer.js';
import type { OnnxNode } from './layout.js';

export type OnnxHandler = (im: OnnxImporter, n: OnnxNode) => boolean | void;
export type OnnxHandlerTable = Readonly<Record<string, OnnxHandler>>;
