/** Keras Dense → naflow Gemm (rank-2 input) or MatMul + Add (higher rank), then its activation. */
import * as tf from '@tensorflow/tfjs-core';
import { activation } from './activations.js';
import type { LayerHandlerTable } from './handler.js';

export const LINEAR_HANDLERS: LayerHandlerTable = {
  Dense: ({ im, c, layer, cfg, prefix, x, xs }) => {
    const kernel = im.weight(layer, prefix, 'kernel', true);
    const [, units] = im.b.shapeOf(kernel)!;
    const bias = cfg.get('use_bias') !== false ? im.weight(layer, prefix, 'bias', true) : undefined;
    let y: string;
    if (!xs || xs.length === 2) {
      const b = bias ?? im.constant(`${c.base}/bias`, tf.zeros([units]));
      y = c.emit('dense', 'Gemm', [x, kernel, b], { alpha: 1, beta: 1 }, xs ? [xs[0], units] : undefined);
    } else {
      const out = [...xs.slice(0, -1), units];
      y = c.emit('matmul', 'MatMul', [x, kernel], {}, out);
      if (bias) y = c.emit('bias', 'Add', [y, bias], {}, out);
    }
    return activation(im, c, y, cfg.get('activation'), false);
  },
};
