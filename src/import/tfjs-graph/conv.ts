/**
 * TF convolutions (plain, depthwise, and fused with BiasAdd or FusedBatchNorm plus an activation) →
 * naflow Conv (+ BatchNormalization, + activation); the last node carries the TF node's name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '../../ir/graph.js';
import { windowShape } from '../tfjs-common.js';
import { FUSABLE_ACTIVATIONS, activation } from './activations.js';
import { attrFloat, attrInts, attrStrs } from './attrs.js';
import type { TfGraphHandler, TfGraphHandlerTable } from './handler.js';
import { ConvertFallback, type Val } from './values.js';

const conv: TfGraphHandler = (g, n, ins) => {
  g.requireNHWC(n);
  const [x, f, ...args] = ins;
  if (x.kind !== 'act' || f.kind !== 'const') return false;
  const xs = g.shape(x);
  const filter = g.consts.get(f.name)!;
  const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
  const d = attrInts(n, 'dilations') ?? [1, 1, 1, 1];
  const strides: [number, number] = [s[1], s[2]];
  const dilations: [number, number] = [d[1] ?? 1, d[2] ?? 1];
  const [kh, kw, fin, fout] = filter.shape;
  const kernel: [number, number] = [kh, kw];
  const pads = g.pads(n, xs, kernel, strides, dilations);
  const depthwise = n.op.includes('Depthwise');
  let w: string;
  let group: number;
  let cout: number;
  if (depthwise) {
    cout = fin * fout;
    group = fin;
    w = g.derivedConst(`${f.name}/hwio`, tf.reshape(filter, [kh, kw, 1, cout]));
  } else {
    cout = fout;
    const cin = xs ? xs[3] : fin;
    group = cin > 0 ? cin / fin : 1;
    if (!Number.isInteger(group)) throw new GraphError(`${g.source}: node '${n.name}': input has ${cin} channels, filter expects ${fin}`);
    w = g.constRef(f);
  }
  const outShape = xs ? windowShape(xs, kernel, strides, dilations, pads, cout) : undefined;
  const attrs = { strides, pads, dilations, group };

  const fused = n.op.startsWith('_Fused') || n.op.startsWith('Fused') ? attrStrs(n, 'fused_ops') : [];
  if (fused.length === 0) {
    g.final(n, 'Conv', [x.name, w], attrs, outShape);
    return true;
  }
  const [first, act, ...more] = fused;
  if (more.length) throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
  if (act !== undefined && !FUSABLE_ACTIVATIONS.has(act)) throw new ConvertFallback(`fused activation ${act}`);
  const hasAct = act !== undefined;
  let y: string;
  let extra: Val | undefined;
  if (first === 'BiasAdd') {
    const convIns = [x.name, w, g.constRef(args[0])];
    y = hasAct ? g.step(n, 'conv', 'Conv', convIns, attrs, outShape) : g.final(n, 'Conv', convIns, attrs, outShape);
    extra = args[1];
  } else if (first === 'FusedBatchNorm') {
    const c = g.step(n, 'conv', 'Conv', [x.name, w], attrs, outShape);
    const bnIns = [c, ...args.slice(0, 4).map((v) => g.constRef(v))];
    const eps = attrFloat(n, 'epsilon', 1e-3);
    y = hasAct ? g.step(n, 'bn', 'BatchNormalization', bnIns, { epsilon: eps }, outShape) : g.final(n, 'BatchNormalization', bnIns, { epsilon: eps }, outShape);
    extra = args[4];
  } else throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
  if (hasAct) activation(g, n, act, y, extra, true);
  return true;
};

export const CONV_HANDLERS: TfGraphHandlerTable = {
  Conv2D: conv,
  DepthwiseConv2dNative: conv,
  _FusedConv2D: conv,
  FusedConv2D: conv,
  FusedDepthwiseConv2dNative: conv,
};
