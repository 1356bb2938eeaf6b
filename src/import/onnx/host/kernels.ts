/** Plain-JS kernels the constant folder evaluates ONNX ops with (row-major, ONNX layout). */
import { broadcastDims, normAxis, sliceLength } from './dims.js';
import { FoldError, castValue, makeTensor, sizeOf, type HDType, type HostTensor } from './tensor.js';

/** Row-major strides. */
export function stridesOf(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

export function transposeHost(t: HostTensor, perm: number[]): HostTensor {
  const r = t.dims.length;
  if (perm.length !== r) throw new FoldError(`transpose perm [${perm}] does not match rank ${r}`);
  const outDims = perm.map((p) => t.dims[p]);
  const inStr = stridesOf(t.dims);
  const n = t.data.length;
  const out = t.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  const stepIn = perm.map((p) => inStr[p]);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = t.data[src];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      src += stepIn[k];
      if (idx[k] < outDims[k]) break;
      src -= stepIn[k] * outDims[k];
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, dims: outDims, data: out };
}

export function reshapeHost(t: HostTensor, dims: number[]): HostTensor {
  if (sizeOf(dims) !== t.data.length) throw new FoldError(`cannot reshape [${t.dims}] to [${dims}]`);
  return { dtype: t.dtype, dims: dims.slice(), data: t.data };
}

/** Index map from an output position to an input (broadcast) position. */
function broadcastIndexer(inDims: number[], outDims: number[]): (i: number) => number {
  const r = outDims.length;
  const padded = new Array(r - inDims.length).fill(1).concat(inDims);
  const inStr = stridesOf(padded);
  const outStr = stridesOf(outDims);
  if (padded.every((d, k) => d === outDims[k])) return (i) => i;
  return (i) => {
    let src = 0;
    for (let k = 0; k < r; k++) {
      const c = Math.floor(i / outStr[k]) % outDims[k];
      if (padded[k] !== 1) src += c * inStr[k];
    }
    return src;
  };
}

export function elementwise(inputs: HostTensor[], outType: HDType, f: (...v: number[]) => number): HostTensor {
  let dims: number[] = [];
  for (const t of inputs) dims = broadcastDims(dims, t.dims);
  const n = sizeOf(dims);
  const idx = inputs.map((t) => broadcastIndexer(t.dims, dims));
  const out = outType === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) args[k] = inputs[k].data[idx[k](i)];
    out[i] = castValue(f(...args), outType);
  }
  return { dtype: outType, dims, data: out };
}

export function sliceHost(t: HostTensor, ranges: Array<[number, number, number]>): HostTensor {
  const dims = t.dims.map((_d, k) => sliceLength(...ranges[k]));
  const n = sizeOf(dims);
  const out = t.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const inStr = stridesOf(t.dims);
  const outStr = stridesOf(dims);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let k = 0; k < dims.length; k++) {
      const c = Math.floor(i / outStr[k]) % dims[k];
      src += (ranges[k][0] + c * ranges[k][2]) * inStr[k];
    }
    out[i] = t.data[src];
  }
  return { dtype: t.dtype, dims, data: out };
}

export function concatHost(ts: HostTensor[], axis: number): HostTensor {
  const r = ts[0].dims.length;
  const ax = normAxis(axis, r);
  const dims = ts[0].dims.slice();
  dims[ax] = ts.reduce((a, t) => a + t.dims[ax], 0);
  for (const t of ts)
    if (t.dims.length !== r || t.dims.some((d, k) => k !== ax && d !== dims[k]))
      throw new FoldError(`concat of [${ts.map((x) => x.dims.join(',')).join('] and [')}] on axis ${axis}`);
  const outer = sizeOf(dims.slice(0, ax));
  const dtype = ts.some((t) => t.dtype === 'float32') ? 'float32' : ts[0].dtype;
  const out = dtype === 'float32' ? new Float32Array(sizeOf(dims)) : new Float64Array(sizeOf(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const t of ts) {
      const chunk = sizeOf(t.dims.slice(ax));
      for (let j = 0; j < chunk; j++) out[o++] = t.data[i * chunk + j];
    }
  return { dtype, dims, data: out };
}

export function gatherHost(t: HostTensor, indices: HostTensor, axis: number): HostTensor {
  const r = t.dims.length;
  const ax = normAxis(axis, r);
  const dims = [...t.dims.slice(0, ax), ...indices.dims, ...t.dims.slice(ax + 1)];
  const outer = sizeOf(t.dims.slice(0, ax));
  const inner = sizeOf(t.dims.slice(ax + 1));
  const out = t.dtype === 'float32' ? new Float32Array(sizeOf(dims)) : new Float64Array(sizeOf(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (let j = 0; j < indices.data.length; j++) {
      let k = indices.data[j];
      if (k < 0) k += t.dims[ax];
      if (k < 0 || k >= t.dims[ax]) throw new FoldError(`gather index ${indices.data[j]} out of range for size ${t.dims[ax]}`);
      for (let m = 0; m < inner; m++) out[o++] = t.data[(i * t.dims[ax] + k) * inner + m];
    }
  return { dtype: t.dtype, dims, data: out };
}

export function reduceHost(t: HostTensor, axes: number[], keep: boolean, kind: string): HostTensor {
  const r = t.dims.length;
  const ax = axes.length ? axes.map((a) => normAxis(a, r)) : t.dims.map((_, k) => k);
  const kdims = t.dims.map((d, k) => (ax.includes(k) ? 1 : d));
  const n = sizeOf(kdims);
  const acc = new Float64Array(n).fill(kind === 'ReduceProd' ? 1 : kind === 'ReduceMax' ? -Infinity : kind === 'ReduceMin' ? Infinity : 0);
  const idx = broadcastIndexer(kdims, t.dims);
  for (let i = 0; i < t.data.length; i++) {
    const o = idx(i);
    const v = t.data[i];
    switch (kind) {
      case 'ReduceProd':
        acc[o] *= v;
        break;
      case 'ReduceMax':
        acc[o] = Math.max(acc[o], v);
        break;
      case 'ReduceMin':
        acc[o] = Math.min(acc[o], v);
        break;
      case 'ReduceSumSquare':
        acc[o] += v * v;
        break;
      default:
        acc[o] += v;
    }
  }
  if (kind === 'ReduceMean') {
    const cnt = t.data.length / Math.max(1, n);
    for (let i = 0; i < n; i++) acc[i] /= cnt;
  }
  const dims = keep ? kdims : t.dims.filter((_, k) => !ax.includes(k));
  return makeTensor(t.dtype, dims, acc);
}

export function matmulHost(a: HostTensor, b: HostTensor): HostTensor {
  if (a.dims.length !== 2 || b.dims.length !== 2) throw new FoldError('constant MatMul folds only 2-D operands');
  const [m, k] = a.dims;
  const [k2, n] = b.dims;
  if (k !== k2) throw new FoldError(`MatMul of [${a.dims}] and [${b.dims}]`);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a.data[i * k + q] * b.data[q * n + j];
      out[i * n + j] = s;
    }
  return makeTensor(a.dtype, [m, n], out);
}
