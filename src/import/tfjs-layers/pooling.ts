/** Keras pooling layers → naflow MaxPool / AveragePool / Global*Pool (+ Reshape unless keepdims). */
import { windowShape } from '../tfjs-common.js';
import { pair } from './chain.js';
import type { LayerHandler, LayerHandlerTable } from './handler.js';

const pool: LayerHandler = ({ im, c, cls, cfg, x }) => {
  const s = im.needShape(x);
  const kernel = pair(cfg.get('pool_size'), [2, 2]);
  const strides = pair(cfg.get('strides') ?? cfg.get('pool_size'), kernel);
  const pads = im.pads(cfg.get('padding'), s, kernel, strides, [1, 1]);
  const out = windowShape(s, kernel, strides, [1, 1], pads, s[3]);
  const op = cls.startsWith('Max') ? 'MaxPool' : 'AveragePool';
  return c.emit('pool', op, [x], { kernel, strides, pads, dilations: [1, 1], countIncludePad: false }, out);
};

const globalPool: LayerHandler = ({ c, cls, cfg, x, xs }) => {
  const op = cls.includes('Max') ? 'GlobalMaxPool' : 'GlobalAveragePool';
  const C = xs ? xs[3] : -1;
  const N = xs ? xs[0] : -1;
  const pooled = c.emit('pool', op, [x], {}, [N, 1, 1, C]);
  if (cfg.get('keepdims') === true) return pooled;
  if (C > 0) return c.emit('reshape', 'Reshape', [pooled], { shape: [-1, C] }, [N, C]);
  return c.emit('flatten', 'Flatten', [pooled], { axis: 1 }, undefined);
};

export const POOLING_HANDLERS: LayerHandlerTable = {
  MaxPooling2D: pool,
  MaxPool2D: pool,
  AveragePooling2D: pool,
  AvgPool2D: pool,
  GlobalAveragePooling2D: globalPool,
  GlobalAvgPool2D: globalPool,
  GlobalMaxPooling2D: globalPool,
  GlobalMaxPool2D: globalPool,
};
