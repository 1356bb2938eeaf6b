/** ONNX pools and spatial means → naflow MaxPool / AveragePool / Global*Pool / ReduceMean. */
import { attrInt, attrInts } from './attributes.js';
import { toInts } from './host/dims.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { AX, LOGICAL, fmtDims, type OnnxNode } from './layout.js';
import { pair, spatialPads } from './window.js';

function pool(im: OnnxImporter, n: OnnxNode): void {
  const isMax = n.opType === 'MaxPool';
  const x = im.act(n.inputs[0]);
  const d = im.need4(x, 'the input');
  if (isMax) im.onlyFirstOutput(n, 'Indices');
  if (attrInt(n, 'storage_order', 0) === 1) im.fail(`storage_order=1 (column-major indices) is not supported`);
  const ks = attrInts(n, 'kernel_shape');
  if (ks?.length !== 2) im.fail(`kernel_shape ${ks ? `[${ks}]` : 'missing'}: naflow supports 2-D pools only`);
  const kernel: [number, number] = [ks[0], ks[1]];
  const strides = pair(im, n, 'strides', 1);
  const dil = pair(im, n, 'dilations', 1);
  const pads = spatialPads(im, n, [d[2], d[3]], kernel, strides, dil);
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const countIncludePad = !isMax && attrInt(n, 'count_include_pad', 0) === 1;
  const out: number[] = [];
  for (let k = 0; k < 2; k++) {
    const span = d[2 + k] + pads[k] + pads[k + 2] - ((kernel[k] - 1) * dil[k] + 1);
    let o = (ceil ? Math.ceil(span / strides[k]) : Math.floor(span / strides[k])) + 1;
    // PyTorch/ONNX: the last window must start inside the input or the left padding
    if (ceil && (o - 1) * strides[k] >= d[2 + k] + pads[k]) o--;
    if (o <= 0) im.fail(`output would be empty for input ${fmtDims(d)}`);
    const needed = (o - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - (d[2 + k] + pads[k] + pads[k + 2]);
    if (needed > 0) {
      if (countIncludePad) im.fail(`ceil_mode with count_include_pad=1 needs a divisor naflow's AveragePool cannot express (partial last window)`);
      pads[k + 2] += needed;
    }
    out.push(o);
  }
  im.emit(n.opType as 'MaxPool', [x.ref], [n.outputs[0]], {
    kernel,
    strides,
    pads,
    dilations: dil,
    countIncludePad,
  });
  im.setAct(n.outputs[0], [d[0], d[1], out[0], out[1]]);
}

function globalPool(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.need4(x, 'the input');
  im.emit(n.opType as 'GlobalAveragePool', [x.ref], [n.outputs[0]], {});
  im.setAct(n.outputs[0], [d[0], d[1], 1, 1]);
}

function reduceMean(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  let axes: number[];
  if (im.opset >= 18) axes = n.inputs[1] ? toInts(im.needConst(n.inputs[1], 'axes')) : [];
  else axes = attrInts(n, 'axes') ?? [];
  if (!axes.length) {
    if (attrInt(n, 'noop_with_empty_axes', 0)) {
      im.unary(n, 'Identity', {});
      return;
    }
    axes = d.map((_, k) => k);
  }
  axes = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((a, b) => a - b);
  if (axes.some((a) => a < 0 || a >= r)) im.fail(`axes out of range for rank ${r}`);
  const keep = attrInt(n, 'keepdims', 1) === 1;
  const outDims = keep ? d.map((v, k) => (axes.includes(k) ? 1 : v)) : d.filter((_, k) => !axes.includes(k));
  if (r !== 4) {
    im.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes, keepDims: keep });
  } else {
    const storageAxes = axes.map((a) => AX[a]).sort((a, b) => a - b);
    if (keep) im.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes: storageAxes, keepDims: true });
    else {
      // remaining logical axes in storage order vs. in ONNX order
      const rem = LOGICAL.filter((a) => !axes.includes(a));
      const sorted = rem.slice().sort((a, b) => a - b);
      if (rem.every((a, k) => a === sorted[k])) im.emit('ReduceMean', [x.ref], [n.outputs[0]], { axes: storageAxes, keepDims: false });
      else {
        const tmp = im.freshTensor(`${n.outputs[0]}::nhwc_order`);
        im.emit('ReduceMean', [x.ref], [tmp], { axes: storageAxes, keepDims: false });
        im.tmpShapes.set(
          tmp,
          rem.map((a) => d[a]),
        );
        im.emit('Transpose', [tmp], [n.outputs[0]], { perm: sorted.map((a) => rem.indexOf(a)) }, 'order');
      }
    }
  }
  im.setAct(n.outputs[0], outDims);
}

export const POOLING_HANDLERS: OnnxHandlerTable = {
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  ReduceMean: reduceMean,
};
