/**
 * Keras BatchNormalization (inference, channel axis) → naflow BatchNormalization; LayerNormalization
 * over the last (channel) axis → naflow LayerNormalization.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerHandlerTable } from './handler.js';

export const NORMALIZATION_HANDLERS: LayerHandlerTable = {
  BatchNormalization: ({ im, c, layer, cls, cfg, prefix, x, xs, rank }) => {
    const axes = Array.isArray(cfg.get('axis')) ? cfg.numList('axis') : [cfg.num('axis', -1)];
    if (axes.length !== 1) throw im.unsupported(c, cls, `axis ${JSON.stringify(cfg.get('axis'))}`);
    const axis = axes[0];
    if (!(axis === -1 || (rank !== undefined && axis === rank - 1) || (rank === undefined && axis === 3)))
      throw im.unsupported(c, cls, `axis ${axis} (only the last, channel axis is supported)`);
    const mean = im.weight(layer, prefix, 'moving_mean', true);
    const variance = im.weight(layer, prefix, 'moving_variance', true);
    const C = im.b.shapeOf(mean)![0];
    const gamma = cfg.get('scale') === false ? im.constant(`${c.base}/gamma`, tf.ones([C])) : im.weight(layer, prefix, 'gamma', true);
    const beta = cfg.get('center') === false ? im.constant(`${c.base}/beta`, tf.zeros([C])) : im.weight(layer, prefix, 'beta', true);
    return c.emit('bn', 'BatchNormalization', [x, gamma, beta, mean, variance], { epsilon: cfg.num('epsilon', 1e-3) }, xs);
  },
  LayerNormalization: ({ im, c, layer, cls, cfg, prefix, x, xs, rank }) => {
    const axes = Array.isArray(cfg.get('axis')) ? cfg.numList('axis') : [cfg.num('axis', -1)];
    const last = axes.length === 1 && (axes[0] === -1 || (rank !== undefined && axes[0] === rank - 1));
    if (!last || rank === undefined) throw im.unsupported(c, cls, `axis ${JSON.stringify(cfg.get('axis'))} (only the last axis is supported)`);
    const inputs = [x];
    const center = cfg.get('center') !== false;
    if (cfg.get('scale') !== false) inputs.push(im.weight(layer, prefix, 'gamma', true));
    else if (center) inputs.push(im.constant(`${c.base}/gamma`, tf.ones([xs![rank - 1]])));
    if (center) inputs.push(im.weight(layer, prefix, 'beta', true));
    return c.emit('ln', 'LayerNormalization', inputs, { axis: rank - 1, epsilon: cfg.num('epsilon', 1e-3) }, xs);
  },
};
