/** TF pools and spatial reductions → naflow MaxPool / AveragePool / Global*Pool / ReduceMean. */
import type { Shape } from '../../ir/graph.js';
import { normAxis, windowShape } from '../tfjs-common.js';
import { attrBool, attrInts } from './attrs.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';

const pool: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  g.requireNHWC(n);
  const k = attrInts(n, 'ksize') ?? [1, 1, 1, 1];
  const s = attrInts(n, 'strides') ?? [1, 1, 1, 1];
  if (k[0] !== 1 || k[3] !== 1 || s[0] !== 1 || s[3] !== 1) return false;
  const kernel: [number, number] = [k[1], k[2]];
  const strides: [number, number] = [s[1], s[2]];
  const pads = g.pads(n, xs, kernel, strides, [1, 1]);
  g.final(
    n,
    n.op === 'MaxPool' ? 'MaxPool' : 'AveragePool',
    [x.name],
    { kernel, strides, pads, dilations: [1, 1], countIncludePad: false },
    xs ? windowShape(xs, kernel, strides, [1, 1], pads, xs[3]) : undefined,
  );
  return true;
};

/** Mean/Max over H and W is a global pool; Mean over other axes a ReduceMean. */
const reduce: TfGraphHandler = (g, n, ins) => {
  const { x, xs, rank } = firstInput(g, ins);
  const axes = g.constInts(ins[1], n, 'reduction axes').map((a) => normAxis(a, rank));
  const keep = attrBool(n, 'keep_dims', false);
  const isSpatial = rank === 4 && axes.length === 2 && axes.includes(1) && axes.includes(2);
  if (isSpatial) {
    const gop = n.op === 'Mean' ? 'GlobalAveragePool' : 'GlobalMaxPool';
    const pooled: Shape = [xs![0], 1, 1, xs![3]];
    if (keep) {
      g.final(n, gop, [x.name], {}, pooled);
    } else {
      const p = g.step(n, n.op === 'Mean' ? 'gap' : 'gmp', gop, [x.name], {}, pooled);
      const C = xs![3];
      if (C > 0) g.final(n, 'Reshape', [p], { shape: [-1, C] }, [xs![0], C]);
      else g.final(n, 'Flatten', [p], { axis: 1 }, undefined);
    }
    return true;
  }
  if (n.op !== 'Mean') return false;
  const out = xs ? xs.map((d, i) => (axes.includes(i) ? 1 : d)).filter((_, i) => keep || !axes.includes(i)) : undefined;
  g.final(n, 'ReduceMean', [x.name], { axes, keepDims: keep }, out);
  return true;
};

export const POOLING_HANDLERS: TfGraphHandlerTable = {
  MaxPool: pool,
  AvgPool: pool,
  Mean: reduce,
  Max: reduce,
};
