/**
 * TF op type → handler for graph models, assembled from the op-family tables. Adding a source op is
 * one entry in its family's table (and its test); a new family is one file plus one line here.
 */
import { mergeHandlerTables } from '../handler-table.js';
import { ACTIVATION_HANDLERS } from './activations.js';
import { CONV_HANDLERS } from './conv.js';
import { ELEMENTWISE_HANDLERS } from './elementwise.js';
import type { TfGraphHandler } from './handler.js';
import { LINEAR_HANDLERS } from './linear.js';
import { NORMALIZATION_HANDLERS } from './normalization.js';
import { POOLING_HANDLERS } from './pooling.js';
import { RESIZE_HANDLERS } from './resize.js';
import { SHAPE_HANDLERS } from './shape.js';

const HANDLERS = mergeHandlerTables('tfjs graph', {
  activations: ACTIVATION_HANDLERS,
  conv: CONV_HANDLERS,
  elementwise: ELEMENTWISE_HANDLERS,
  linear: LINEAR_HANDLERS,
  normalization: NORMALIZATION_HANDLERS,
  pooling: POOLING_HANDLERS,
  resize: RESIZE_HANDLERS,
  shape: SHAPE_HANDLERS,
});

/** The handler for a TF op type, or undefined when naflow has none. */
export function tfGraphHandler(op: string): TfGraphHandler | undefined {
  return HANDLERS.get(op);
}

/** Every TF op type with a handler. */
export function tfGraphMappedOps(): string[] {
  return [...HANDLERS.keys()];
}
