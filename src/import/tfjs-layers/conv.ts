/** Keras convolutions (Conv2D, DepthwiseConv2D, SeparableConv2D) → naflow Conv node(s) + activation. */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Shape } from '../../ir/graph.js';
import { samePads, windowShape } from '../tfjs-common.js';
import { activation } from './activations.js';
import { NeedsShape, pair } from './chain.js';
import type { LayerCallContext, LayerHandler, LayerHandlerTable } from './handler.js';

type Pads = [number, number, number, number];

/** Strides, dilations and the pads / output shape for a kernel size, from the layer config. */
function windowOf({ im, cfg, xs }: LayerCallContext) {
  const strides = pair(cfg.get('strides'), [1, 1]);
  const dilations = pair(cfg.get('dilation_rate'), [1, 1]);
  const padsFor = (kernel: [number, number]): Pads => {
    if (cfg.str('padding', 'valid').toLowerCase() === 'valid') return [0, 0, 0, 0];
    if (!xs) {
      const p = samePads(undefined, undefined, kernel, strides, dilations);
      if (!p) throw new NeedsShape();
      return p;
    }
    return im.pads(cfg.get('padding'), xs, kernel, strides, dilations);
  };
  const outShape = (kernel: [number, number], pads: Pads, C: number): Shape | undefined =>
    xs ? windowShape(xs, kernel, strides, dilations, pads, C) : undefined;
  return { strides, dilations, padsFor, outShape };
}

const conv2d: LayerHandler = (L) => {
  const { im, c, layer, cfg, prefix, x, xs } = L;
  const { strides, dilations, padsFor, outShape } = windowOf(L);
  const kernelName = im.weight(layer, prefix, 'kernel', true);
  const [kh, kw, cinG, cout] = im.b.shapeOf(kernelName)!;
  const kernel: [number, number] = [kh, kw];
  const cin = xs ? xs[3] : undefined;
  const group = cfg.optNum('groups') ?? (cin !== undefined && cin > 0 ? cin / cinG : 1);
  if (!Number.isInteger(group) || group < 1)
    throw new GraphError(`${im.source}: layer '${c.base}' (Conv2D): input has ${cin} channels but the kernel expects ${cinG} per group`);
  const pads = padsFor(kernel);
  const ins = [x, kernelName];
  if (cfg.get('use_bias') !== false) ins.push(im.weight(layer, prefix, 'bias', true));
  const y = c.emit('conv', 'Conv', ins, { strides, pads, dilations, group }, outShape(kernel, pads, cout));
  return activation(im, c, y, cfg.get('activation'), false);
};

/** DepthwiseConv2D, and SeparableConv2D as a depthwise then a pointwise (1×1) Conv. */
const depthwise: LayerHandler = (L) => {
  const { im, c, layer, cls, cfg, prefix, x } = L;
  const { strides, dilations, padsFor, outShape } = windowOf(L);
  const useBias = cfg.get('use_bias') !== false;
  const dwName = im.weight(layer, prefix, 'depthwise_kernel', true, (t) => {
    const [kh, kw, ci, m] = t.shape as number[];
    return tf.reshape(t, [kh, kw, 1, ci * m]);
  });
  const [kh, kw, , cm] = im.b.shapeOf(dwName)!;
  const kernel: [number, number] = [kh, kw];
  const cin = Number(cm) / cfg.num('depth_multiplier', 1);
  const pads = padsFor(kernel);
  if (cls === 'DepthwiseConv2D') {
    const ins = [x, dwName];
    if (useBias) ins.push(im.weight(layer, prefix, 'bias', true));
    const y = c.emit('depthwise', 'Conv', ins, { strides, pads, dilations, group: cin }, outShape(kernel, pads, cm));
    return activation(im, c, y, cfg.get('activation'), false);
  }
  const pw = im.weight(layer, prefix, 'pointwise_kernel', true);
  const cout = im.b.shapeOf(pw)![3];
  const d = c.emit('depthwise', 'Conv', [x, dwName], { strides, pads, dilations, group: cin }, outShape(kernel, pads, cm));
  const ds = im.shape(d);
  const ins = [d, pw];
  if (useBias) ins.push(im.weight(layer, prefix, 'bias', true));
  const pointwise = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 };
  const y = c.emit('pointwise', 'Conv', ins, pointwise, ds ? [ds[0], ds[1], ds[2], cout] : undefined);
  return activation(im, c, y, cfg.get('activation'), false);
};

export const CONV_HANDLERS: LayerHandlerTable = {
  Conv2D: conv2d,
  Convolution2D: conv2d,
  DepthwiseConv2D: depthwise,
  SeparableConv2D: depthwise,
  SeparableConvolution2D: depthwise,
};
