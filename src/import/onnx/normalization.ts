/**
 * ONNX normalisation → naflow BatchNormalization (inference form: scale, bias, mean, var) and
 * LayerNormalization (opset 17, or fused from PyTorch's decomposed LayerNorm by patterns.ts).
 */
import { attrFloat, attrInt } from './attributes.js';
import { reshapeHost, transposeHost } from './host/kernels.js';
import { makeTensor, type HostTensor } from './host/tensor.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { fmtDims, type Act, type OnnxNode } from './layout.js';

function batchNorm(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  if (d.length !== 4 && d.length !== 2) im.fail(`input has rank ${d.length}; naflow supports BatchNormalization on rank-4 (NCHW) or rank-2 inputs`);
  im.onlyFirstOutput(n, 'training-statistics');
  const c = d[1];
  const refs = [x.ref];
  ['scale', 'bias', 'mean', 'var'].forEach((what, k) => {
    const t = im.needConst(n.inputs[k + 1], what);
    if (t.data.length !== c) im.fail(`${what} has ${t.data.length} values for ${c} channels`);
    refs.push(im.constRef(n.inputs[k + 1], 'vec', () => reshapeHost(im.f32(t), [c])));
  });
  im.emit('BatchNormalization', refs, [n.outputs[0]], { epsilon: attrFloat(n, 'epsilon', 1e-5) });
  im.setAct(n.outputs[0], d);
}

/**
 * LayerNormalization over logical axes [axis, rank). naflow normalises over trailing storage axes, which
 * these are for a channels-last view (ConvNeXt: axis −1, the channels), for a rank-4 NCHW tensor from
 * axis 1 (C, H and W: storage H, W, C) and for any other rank.
 */
function layerNorm(im: OnnxImporter, n: OnnxNode): void {
  const v = im.valAnyLayout(n.inputs[0]);
  const x: Act = v.kind === 'act' ? v : im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  const norm = (a: number) => (a < 0 ? a + r : a);
  const axis = norm(attrInt(n, 'axis', -1));
  // the fused pattern's ReduceMean axes end here; ONNX LayerNormalization always runs to the last axis
  const last = norm(attrInt(n, 'lastAxis', r - 1));
  if (axis < 0 || axis >= r || last !== r - 1)
    im.fail(`normalises over axes ${axis}..${last} of a rank-${r} input ${fmtDims(d)}; naflow supports a LayerNorm over trailing axes only`);
  im.onlyFirstOutput(n, 'mean / inverse-deviation');
  const standard4 = r === 4 && !x.channelsLast;
  if (standard4 && axis !== 1) im.fail(`normalises NCHW axes ${axis}..3 (not channels); naflow supports axis 1 or a channels-last input`);
  const normalised = d.slice(axis);
  const size = normalised.reduce((p, k) => p * k, 1);
  const param = (k: number, what: string): string => {
    const t = im.f32(im.needConst(n.inputs[k], what));
    let full: HostTensor;
    if (t.data.length === size) full = reshapeHost(t, normalised);
    else if (t.data.length === 1) full = makeTensor('float32', normalised, new Array(size).fill(t.data[0]));
    else im.fail(`${what} has shape [${t.dims}], not the normalised shape ${fmtDims(normalised)}`);
    // NCHW from axis 1: stored H, W, C
    return im.constRef(n.inputs[k], standard4 ? 'ln-hwc' : 'ln', () => (standard4 ? transposeHost(full, [1, 2, 0]) : full));
  };
  const refs = [x.ref];
  if (n.inputs[1]) refs.push(param(1, 'scale'));
  if (n.inputs[2]) {
    if (!n.inputs[1]) im.fail(`a bias without a scale is not supported`);
    refs.push(param(2, 'bias'));
  }
  im.emit('LayerNormalization', refs, [n.outputs[0]], { axis: standard4 ? 1 : axis, epsilon: attrFloat(n, 'epsilon', 1e-5) });
  im.setAct(n.outputs[0], d, x.dtype, false, r, x.channelsLast);
}

export const NORMALIZATION_HANDLERS: OnnxHandlerTable = {
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
};
