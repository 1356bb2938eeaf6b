/** TF MatMul (optionally fused with BiasAdd and an activation) → naflow Gemm, or MatMul of two activations. */
import * as tf from '@tensorflow/tfjs-core';
import { FUSABLE_ACTIVATIONS, activation } from './activations.js';
import { attrBool, attrStrs } from './attrs.js';
import type { TfGraphHandler, TfGraphHandlerTable } from './handler.js';
import { ConvertFallback } from './values.js';

const matmul: TfGraphHandler = (g, n, ins) => {
  const [a, bv, ...args] = ins;
  if (a.kind !== 'act') return false;
  const ta = attrBool(n, 'transpose_a', false);
  const tb = attrBool(n, 'transpose_b', false);
  if (ta) throw new ConvertFallback('transpose_a');
  const as = g.shape(a);
  const fused = n.op === '_FusedMatMul' ? attrStrs(n, 'fused_ops') : [];
  const [first, act, ...more] = fused;
  if (more.length || (first !== undefined && first !== 'BiasAdd') || (act !== undefined && !FUSABLE_ACTIVATIONS.has(act)))
    throw new ConvertFallback(`fused_ops ${fused.join(',')}`);
  if (bv.kind !== 'const') {
    if (fused.length || tb) return false;
    const bs = g.shape(bv);
    g.final(n, 'MatMul', [a.name, bv.name], {}, as && bs ? [...as.slice(0, -1), bs[bs.length - 1]] : undefined);
    return true;
  }
  const wt = g.consts.get(bv.name)!;
  if (wt.rank !== 2 || (as && as.length !== 2)) throw new ConvertFallback('matmul of rank > 2');
  const w = tb ? g.derivedConst(`${bv.name}/in_out`, tf.transpose(wt)) : g.constRef(bv);
  const ws = wt.shape as number[];
  const units = tb ? ws[0] : ws[1];
  const bias = first === 'BiasAdd' ? g.constRef(args[0]) : g.derivedConst(`${n.name}/zero_bias`, tf.zeros([units]));
  const out = as ? [as[0], units] : undefined;
  const hasAct = act !== undefined;
  const y = hasAct
    ? g.step(n, 'dense', 'Gemm', [a.name, w, bias], { alpha: 1, beta: 1 }, out)
    : g.final(n, 'Gemm', [a.name, w, bias], { alpha: 1, beta: 1 }, out);
  if (hasAct) activation(g, n, act, y, args[1], true);
  return true;
};

export const LINEAR_HANDLERS: TfGraphHandlerTable = {
  MatMul: matmul,
  _FusedMatMul: matmul,
};
