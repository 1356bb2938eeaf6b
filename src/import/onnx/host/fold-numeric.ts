/** Constant folds of reductions, MatMul, Softmax and (de)quantisation. */
import { normAxis, toInts } from './dims.js';
import { elementwise, matmulHost, reduceHost, reshapeHost } from './kernels.js';
import { UNARY } from './fold-elementwise.js';
import { attrInt, attrInts, makeTensor, scalar, sizeOf, type HDType, type HostTensor } from './tensor.js';
import type { Folder, FoldArgs } from './fold-types.js';

/** A per-axis (or scalar) quantisation parameter shaped to broadcast against `ref` along `axis`. */
function alongAxis(t: HostTensor, ref: HostTensor, axis: number): HostTensor {
  if (t.dims.length === 0 || t.data.length === 1) return reshapeHost(t, []);
  const ax = normAxis(axis, ref.dims.length);
  return reshapeHost(
    t,
    ref.dims.map((_d, k) => (k === ax ? t.data.length : 1)),
  );
}

function reduce(x: FoldArgs): HostTensor[] {
  // ReduceSum reads its axes from an input from opset 13, the other reductions from opset 18
  const fromInput = x.op === 'ReduceSum' ? x.opset >= 13 : x.opset >= 18;
  const axes = fromInput ? toInts(x.inputs[1]) : (attrInts(x.attrs, 'axes') ?? []);
  if (!axes.length && attrInt(x.attrs, 'noop_with_empty_axes', 0)) return [x.need(0)];
  return [reduceHost(x.need(0), axes, attrInt(x.attrs, 'keepdims', 1) === 1, x.op)];
}

function softmax(x: FoldArgs): HostTensor[] {
  const t = x.need(0);
  const r = t.dims.length;
  const modern = x.opset >= 13;
  const axis = normAxis(attrInt(x.attrs, 'axis', modern ? -1 : 1), r);
  // opset < 13 normalises over the flattened dims [axis, rank)
  const inner = modern ? sizeOf(t.dims.slice(axis + 1)) : 1;
  const len = modern ? t.dims[axis] : sizeOf(t.dims.slice(axis));
  const outer = t.data.length / (inner * len);
  const out = new Float64Array(t.data.length);
  const at = (o: number, k: number, i: number) => (o * len + k) * inner + i;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let m = -Infinity;
      for (let k = 0; k < len; k++) m = Math.max(m, t.data[at(o, k, i)]);
      let s = 0;
      for (let k = 0; k < len; k++) s += Math.exp(t.data[at(o, k, i)] - m);
      for (let k = 0; k < len; k++) out[at(o, k, i)] = Math.exp(t.data[at(o, k, i)] - m) / s;
    }
  return [makeTensor(t.dtype, t.dims, out)];
}

export const NUMERIC_FOLDS: Record<string, Folder> = {
  ReduceProd: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceMean: reduce,
  ReduceSumSquare: reduce,
  MatMul: (x) => [matmulHost(x.need(0), x.need(1))],
  Softmax: softmax,
  DequantizeLinear: (x) => {
    const q = x.need(0);
    const axis = attrInt(x.attrs, 'axis', 1);
    const zp = x.inputs[2];
    const zb = zp ? alongAxis(zp, q, axis) : scalar('int32', 0);
    return [elementwise([q, alongAxis(x.need(1), q, axis), zb], 'float32', (v, sc, z) => (v - z) * sc)];
  },
  QuantizeLinear: (x) => {
    const xx = x.need(0);
    const axis = attrInt(x.attrs, 'axis', 1);
    const zp = x.inputs[2];
    const outType: HDType = zp ? zp.dtype : 'uint8';
    const [lo, hi] = outType === 'int8' ? [-128, 127] : outType === 'uint8' ? [0, 255] : [-32768, 65535];
    const zb = zp ? alongAxis(zp, xx, axis) : scalar('int32', 0);
    const s = alongAxis(x.need(1), xx, axis);
    return [elementwise([xx, s, zb], outType, (v, sc, z) => Math.min(hi, Math.max(lo, UNARY.Round(v / sc) + z)))];
  },
};
