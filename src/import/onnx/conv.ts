/** ONNX convolutions → naflow Conv / ConvTranspose (weights OIHW → HWIO). */
import { attrInt, attrInts, attrStr } from './attributes.js';
import { reshapeHost, transposeHost } from './host/kernels.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { fmtDims, type OnnxNode } from './layout.js';
import { pair, spatialPads } from './window.js';

function conv(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.need4(x, 'the input');
  const w = im.needConst(n.inputs[1], 'the weight');
  if (w.dims.length !== 4) im.fail(`weight has rank ${w.dims.length}; naflow supports 2-D convolutions only`);
  const [cout, cinG, kh, kw] = w.dims;
  const group = attrInt(n, 'group', 1);
  if (cinG * group !== d[1]) im.fail(`weight [${w.dims}] with group ${group} does not match ${d[1]} input channels`);
  const ks = attrInts(n, 'kernel_shape');
  if (ks && (ks[0] !== kh || ks[1] !== kw)) im.fail(`kernel_shape [${ks}] differs from the weight's [${kh},${kw}]`);
  const strides = pair(im, n, 'strides', 1);
  const dil = pair(im, n, 'dilations', 1);
  const pads = spatialPads(im, n, [d[2], d[3]], [kh, kw], strides, dil);
  const oh = Math.floor((d[2] + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / strides[0]) + 1;
  const ow = Math.floor((d[3] + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / strides[1]) + 1;
  if (oh <= 0 || ow <= 0) im.fail(`output would be empty for input ${fmtDims(d)}`);
  const wRef = im.constRef(n.inputs[1], 'hwio', () => transposeHost(im.f32(w), [2, 3, 1, 0]));
  const inputs = [x.ref, wRef];
  if (n.inputs[2]) {
    const b = im.needConst(n.inputs[2], 'the bias');
    if (b.data.length !== cout) im.fail(`bias has ${b.data.length} values for ${cout} output channels`);
    inputs.push(im.constRef(n.inputs[2], 'vec', () => reshapeHost(im.f32(b), [cout])));
  }
  im.emit('Conv', inputs, [n.outputs[0]], { strides, pads, dilations: dil, group });
  im.setAct(n.outputs[0], [d[0], cout, oh, ow]);
}

function convTranspose(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.need4(x, 'the input');
  const w = im.needConst(n.inputs[1], 'the weight');
  if (w.dims.length !== 4) im.fail(`weight has rank ${w.dims.length}; naflow supports 2-D transposed convolutions only`);
  const [cin, coutG, kh, kw] = w.dims;
  const group = attrInt(n, 'group', 1);
  if (cin !== d[1]) im.fail(`weight [${w.dims}] does not match ${d[1]} input channels`);
  const cout = coutG * group;
  const strides = pair(im, n, 'strides', 1);
  const dil = pair(im, n, 'dilations', 1);
  const outPad = pair(im, n, 'output_padding', 0);
  const autoPad = attrStr(n, 'auto_pad', 'NOTSET');
  const outShape = attrInts(n, 'output_shape');
  const kEff = [(kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1];
  let pads: [number, number, number, number];
  const op: [number, number] = [outPad[0], outPad[1]];
  if (outShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const target = outShape ? outShape.slice(-2) : [d[2] * strides[0], d[3] * strides[1]];
    const p = [0, 0, 0, 0];
    for (let k = 0; k < 2; k++) {
      const total = strides[k] * (d[2 + k] - 1) + outPad[k] + kEff[k] - target[k];
      if (total < 0) {
        op[k] += -total;
        continue;
      }
      const half = Math.floor(total / 2);
      if (autoPad === 'SAME_UPPER') {
        p[k] = half;
        p[k + 2] = total - half;
      } else {
        p[k] = total - half;
        p[k + 2] = half;
      }
    }
    pads = p as [number, number, number, number];
  } else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else {
    const pp = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    pads = [pp[0], pp[1], pp[2], pp[3]];
  }
  const oh = strides[0] * (d[2] - 1) + op[0] + kEff[0] - pads[0] - pads[2];
  const ow = strides[1] * (d[3] - 1) + op[1] + kEff[1] - pads[1] - pads[3];
  const wRef = im.constRef(n.inputs[1], 'hwoi', () => transposeHost(im.f32(w), [2, 3, 1, 0]));
  const inputs = [x.ref, wRef];
  if (n.inputs[2]) {
    const b = im.needConst(n.inputs[2], 'the bias');
    inputs.push(im.constRef(n.inputs[2], 'vec', () => reshapeHost(im.f32(b), [cout])));
  }
  im.emit('ConvTranspose', inputs, [n.outputs[0]], { strides, pads, dilations: dil, group, outputPadding: op });
  im.setAct(n.outputs[0], [d[0], cout, oh, ow]);
}

export const CONV_HANDLERS: OnnxHandlerTable = {
  Conv: conv,
  ConvTranspose: convTranspose,
};
