/** Keras merge and scaling layers → naflow Add / Sub / Mul chains, Concat; Rescaling → Mul (+ Add). */
import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from '../../ir/graph.js';
import { normAxis } from '../tfjs-common.js';
import { broadcastShapes } from './chain.js';
import type { LayerHandler, LayerHandlerTable } from './handler.js';

const arithmetic: LayerHandler = ({ im, c, cls, inputs, x, xs }) => {
  if (inputs.length < 2 && cls !== 'Add' && cls !== 'Multiply' && cls !== 'Average') throw im.unsupported(c, cls, `${inputs.length} inputs`);
  const op = cls === 'Subtract' ? 'Sub' : cls === 'Multiply' ? 'Mul' : 'Add';
  const shapeOut = broadcastShapes(inputs.map((i) => im.shape(i)));
  let y = inputs[0];
  for (let k = 1; k < inputs.length; k++) y = c.emit(`${op.toLowerCase()}${k}`, op, [y, inputs[k]], {}, shapeOut);
  if (cls === 'Average') {
    const inv = im.constant(`${c.base}/scale`, tf.scalar(1 / inputs.length));
    y = c.emit('mean', 'Mul', [y, inv], {}, shapeOut);
  }
  if (y === x) y = c.emit('identity', 'Identity', [x], {}, xs);
  return y;
};

export const MERGE_HANDLERS: LayerHandlerTable = {
  Add: arithmetic,
  Subtract: arithmetic,
  Multiply: arithmetic,
  Average: arithmetic,
  Concatenate: ({ im, c, cfg, inputs }) => {
    const shapes = inputs.map((i) => im.shape(i));
    const r = shapes[0]?.length;
    const axis = normAxis(cfg.num('axis', -1), r);
    let out: Shape | undefined;
    if (shapes.every((s) => s !== undefined) && axis >= 0) {
      out = shapes[0]!.slice();
      out[axis] = shapes.some((s) => s![axis] < 0) ? -1 : shapes.reduce((a, s) => a + s![axis], 0);
    }
    return c.emit('concat', 'Concat', inputs, { axis }, out);
  },
  Rescaling: ({ im, c, cfg, x, xs }) => {
    const scaleValue = Array.isArray(cfg.get('scale')) ? cfg.numList('scale') : cfg.num('scale', 1);
    const scale = im.constant(`${c.base}/scale`, tf.tensor(scaleValue, undefined, 'float32'));
    const y = c.emit('scale', 'Mul', [x, scale], {}, xs);
    const offset = Array.isArray(cfg.get('offset')) ? cfg.numList('offset') : cfg.num('offset', 0);
    if (Array.isArray(offset) || offset !== 0)
      return c.emit('offset', 'Add', [y, im.constant(`${c.base}/offset`, tf.tensor(offset, undefined, 'float32'))], {}, xs);
    return y;
  },
};
