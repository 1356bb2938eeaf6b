/**
 * ONNX op type → handler, assembled from the op-family tables. Adding a source op is one entry in
 * its family's table (and its test); a new family is one file plus one line here.
 */
import { ACTIVATION_HANDLERS } from './activations.js';
import { CONV_HANDLERS } from './conv.js';
import { ELEMENTWISE_HANDLERS } from './elementwise.js';
import { LINEAR_HANDLERS } from './linear.js';
import { NORMALIZATION_HANDLERS } from './normalization.js';
import { POOLING_HANDLERS } from './pooling.js';
import { RESIZE_HANDLERS } from './resize.js';
import { SHAPE_HANDLERS } from './shape.js';
import type { OnnxHandler, OnnxHandlerTable } from './handler.js';
import { mergeHandlerTables } from '../handler-table.js';

const FAMILIES: Record<string, OnnxHandlerTable> = {
  activations: ACTIVATION_HANDLERS,
  conv: CONV_HANDLERS,
  elementwise: ELEMENTWISE_HANDLERS,
  linear: LINEAR_HANDLERS,
  normalization: NORMALIZATION_HANDLERS,
  pooling: POOLING_HANDLERS,
  resize: RESIZE_HANDLERS,
  shape: SHAPE_HANDLERS,
};

const HANDLERS = mergeHandlerTables('ONNX', FAMILIES);

/** The handler for an ONNX op type (default domain), or undefined when naflow has none. */
export function onnxHandler(opType: string): OnnxHandler | undefined {
  return HANDLERS.get(opType);
}

/** Every ONNX op type with a handler. */
export function onnxMappedOps(): string[] {
  return [...HANDLERS.keys()];
}
