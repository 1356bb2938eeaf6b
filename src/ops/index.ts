/** Registers every op rule (side-effect imports) and re-exports the registry lookups. */
import './conv.js';
import './normalization.js';
import './activations.js';
import './elementwise.js';
import './pooling.js';
import './linear.js';
import './shape.js';
import './slice-pad.js';
import './resize.js';
import './elu.js';
import './softplus.js';
import './selu.js';
import './gelu.js';
import './layer-norm.js';

export { getOpRule, supportedOps } from './registry.js';
