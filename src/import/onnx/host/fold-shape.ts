/** Constant folds of ONNX ops that move or assemble values: shape queries, reshapes, slicing, concatenation. */
import {
  broadcastDims,
  checkHostSize,
  flattenDims,
  normAxis,
  reshapeDims,
  shapeTensor,
  sliceRanges,
  splitSizes,
  squeezeDims,
  toInts,
  unsqueezeDims,
} from './dims.js';
import { concatHost, elementwise, gatherHost, reshapeHost, sliceHost, transposeHost } from './kernels.js';
import { attrInt, attrInts, makeTensor, scalar, sizeOf, type HostTensor } from './tensor.js';
import type { Folder, FoldArgs } from './fold-types.js';

/** Axes of (Un)Squeeze: an input from opset 13, an attribute before. */
const squeezeAxes = (x: FoldArgs): number[] => (x.opset >= 13 ? toInts(x.inputs[1]) : (attrInts(x.attrs, 'axes') ?? []));

export const SHAPE_FOLDS: Record<string, Folder> = {
  Identity: (x) => [x.need(0)],
  Dropout: (x) => {
    const t = x.need(0);
    return x.nOutputs > 1 ? [t, elementwise([t], 'bool', () => 1)] : [t];
  },
  Size: (x) => [scalar('int64', x.need(0).data.length)],
  Shape: (x) => [shapeTensor(x.need(0).dims, x.attrs)],
  Unsqueeze: (x) => [reshapeHost(x.need(0), unsqueezeDims(x.need(0).dims, squeezeAxes(x)))],
  Squeeze: (x) => [reshapeHost(x.need(0), squeezeDims(x.need(0).dims, squeezeAxes(x)))],
  Reshape: (x) => [reshapeHost(x.need(0), reshapeDims(x.need(0).dims, toInts(x.need(1)), attrInt(x.attrs, 'allowzero', 0) === 1))],
  Flatten: (x) => [reshapeHost(x.need(0), flattenDims(x.need(0).dims, attrInt(x.attrs, 'axis', 1)))],
  Transpose: (x) => {
    const t = x.need(0);
    const perm = attrInts(x.attrs, 'perm') ?? t.dims.map((_, k) => t.dims.length - 1 - k);
    return [transposeHost(t, perm)];
  },
  Concat: (x) => {
    const { inputs } = x;
    const ts = inputs.filter((t): t is HostTensor => !!t && !(t.dims.length === 1 && t.dims[0] === 0 && inputs.length > 1));
    return [concatHost(ts.length ? ts : [x.need(0)], attrInt(x.attrs, 'axis', 0))];
  },
  Gather: (x) => [gatherHost(x.need(0), x.need(1), attrInt(x.attrs, 'axis', 0))],
  Slice: (x) => {
    const t = x.need(0);
    const opt = (k: number) => (x.inputs[k] ? toInts(x.inputs[k]) : undefined);
    return [sliceHost(t, sliceRanges(t.dims, toInts(x.need(1)), toInts(x.need(2)), opt(3), opt(4)))];
  },
  ConstantOfShape: (x) => {
    const dims = toInts(x.need(0));
    checkHostSize(dims);
    const v = x.attrs.value as HostTensor | undefined;
    const dtype = v ? v.dtype : 'float32';
    const n = sizeOf(dims);
    const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
    data.fill(v ? v.data[0] : 0);
    return [{ dtype, dims, data }];
  },
  Range: (x) => {
    const s = x.need(0).data[0];
    const l = x.need(1).data[0];
    const d = x.need(2).data[0];
    const n = Math.max(Math.ceil((l - s) / d), 0);
    checkHostSize([n]);
    return [
      makeTensor(
        x.need(0).dtype,
        [n],
        Array.from({ length: n }, (_, i) => s + i * d),
      ),
    ];
  },
  Expand: (x) => {
    const t = x.need(0);
    const shape = toInts(x.need(1));
    checkHostSize(shape);
    const dims = broadcastDims(t.dims, shape);
    const zeros = makeTensor(t.dtype, dims, new Array(sizeOf(dims)).fill(0));
    return [elementwise([t, zeros], t.dtype, (a) => a)];
  },
  Tile: (x) => {
    const reps = toInts(x.need(1));
    let cur = x.need(0);
    for (let k = 0; k < reps.length; k++) if (reps[k] !== 1) cur = concatHost(new Array(reps[k]).fill(cur), k);
    return [cur];
  },
  Split: (x) => {
    const t = x.need(0);
    const axis = normAxis(attrInt(x.attrs, 'axis', 0), t.dims.length);
    const given = x.opset >= 13 ? toInts(x.inputs[1]) : (attrInts(x.attrs, 'split') ?? []);
    const sizes = splitSizes(t.dims[axis], given, x.nOutputs, x.attrs);
    let off = 0;
    return sizes.map((len) => {
      const ranges = t.dims.map((d, k): [number, number, number] => (k === axis ? [off, off + len, 1] : [0, d, 1]));
      off += len;
      return sliceHost(t, ranges);
    });
  },
};
