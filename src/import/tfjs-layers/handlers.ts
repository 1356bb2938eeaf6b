/**
 * Keras layer class → handler for layers models, assembled from the layer-family tables. Adding a
 * layer class is one entry in its family's table (and its test); a new family is one file plus one line here.
 */
import { mergeHandlerTables } from '../handler-table.js';
import { ACTIVATION_HANDLERS } from './activations.js';
import { CONV_HANDLERS } from './conv.js';
import type { LayerHandler } from './handler.js';
import { LINEAR_HANDLERS } from './linear.js';
import { MERGE_HANDLERS } from './merge.js';
import { NORMALIZATION_HANDLERS } from './normalization.js';
import { POOLING_HANDLERS } from './pooling.js';
import { SHAPE_HANDLERS } from './shape.js';

const HANDLERS = mergeHandlerTables('tfjs layers', {
  activations: ACTIVATION_HANDLERS,
  conv: CONV_HANDLERS,
  linear: LINEAR_HANDLERS,
  merge: MERGE_HANDLERS,
  normalization: NORMALIZATION_HANDLERS,
  pooling: POOLING_HANDLERS,
  shape: SHAPE_HANDLERS,
});

/** The handler for a Keras layer class, or undefined when naflow has none. */
export function layerHandler(cls: string): LayerHandler | undefined {
  return HANDLERS.get(cls);
}

/** Every Keras layer class with a handler. */
export function kerasMappedLayers(): string[] {
  return [...HANDLERS.keys()];
}
