/** ONNX activations → naflow activation ops (attributes with ONNX's defaults), Clip, PRelu and Softmax. */
import { attrFloat, attrInt, attrStr } from './attributes.js';
import { flattenDims } from './host/dims.js';
import { reshapeHost, transposeHost } from './host/kernels.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { AX, TO_NHWC, type Act, type OnnxNode } from './layout.js';

function clip(im: OnnxImporter, n: OnnxNode): void {
  let min = -Infinity;
  let max = Infinity;
  if (n.inputs[1]) min = im.needConst(n.inputs[1], 'min').data[0];
  if (n.inputs[2]) max = im.needConst(n.inputs[2], 'max').data[0];
  if (typeof n.attrs.min === 'number') min = n.attrs.min;
  if (typeof n.attrs.max === 'number') max = n.attrs.max;
  im.unary(n, 'Clip', { min, max });
}

function prelu(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const dims = im.dimsOf(x);
  const slope = im.needConst(n.inputs[1], 'slope');
  const s = im.f32(slope);
  const padded = [...new Array(Math.max(0, dims.length - s.dims.length)).fill(1), ...s.dims];
  const ref =
    dims.length === 4 ? im.constRef(n.inputs[1], 'prelu4', () => transposeHost(reshapeHost(s, padded), TO_NHWC)) : im.constRef(n.inputs[1], 'raw', () => s);
  im.emit('PRelu', [x.ref, ref], [n.outputs[0]], {});
  im.setAct(n.outputs[0], dims, x.dtype);
}

function softmax(im: OnnxImporter, n: OnnxNode): void {
  const x = im.act(n.inputs[0]);
  const d = im.dimsOf(x);
  const r = d.length;
  let axis = attrInt(n, 'axis', im.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) im.fail(`axis out of range for rank ${r}`);
  const o = n.outputs[0];
  const legacyDiffers = im.opset < 13 && d.slice(axis + 1).some((v) => v !== 1);
  if (!legacyDiffers) {
    im.emit('Softmax', [x.ref], [o], { axis: r === 4 ? AX[axis] : axis });
    im.setAct(o, d);
    return;
  }
  // opset < 13: softmax over the flattened dims [axis, rank)
  const flat = flattenDims(d, axis);
  const t1 = im.freshTensor(`${o}::flat`);
  im.reshapeTo(x, flat, t1, 'flat');
  im.setAct(t1, flat);
  im.tmpShapes.set(t1, flat.slice());
  const t2 = im.freshTensor(`${o}::softmax`);
  im.emit('Softmax', [t1], [t2], { axis: 1 });
  im.setAct(t2, flat);
  im.tmpShapes.set(t2, flat.slice());
  im.reshapeTo(im.vals.get(t2) as Act, d, o, 'unflat');
  im.vals.delete(t1);
  im.vals.delete(t2);
  im.setAct(o, d);
}

/** ONNX Selu's defaults: the self-normalising constants of Klambauer et al., rounded to float32 as ONNX stores them. */
const SELU_ALPHA = Math.fround(1.6732632423543772);
const SELU_GAMMA = Math.fround(1.0507009873554805);

export const ACTIVATION_HANDLERS: OnnxHandlerTable = {
  Relu: (im, n) => im.unary(n, 'Relu', {}),
  Sigmoid: (im, n) => im.unary(n, 'Sigmoid', {}),
  Tanh: (im, n) => im.unary(n, 'Tanh', {}),
  HardSwish: (im, n) => im.unary(n, 'HardSwish', {}),
  LeakyRelu: (im, n) => im.unary(n, 'LeakyRelu', { alpha: attrFloat(n, 'alpha', 0.01) }),
  HardSigmoid: (im, n) => im.unary(n, 'HardSigmoid', { alpha: attrFloat(n, 'alpha', 0.2), beta: attrFloat(n, 'beta', 0.5) }),
  Elu: (im, n) => im.unary(n, 'Elu', { alpha: attrFloat(n, 'alpha', 1) }),
  Selu: (im, n) => im.unary(n, 'Selu', { alpha: attrFloat(n, 'alpha', SELU_ALPHA), gamma: attrFloat(n, 'gamma', SELU_GAMMA) }),
  Softplus: (im, n) => im.unary(n, 'Softplus', {}),
  Erf: (im, n) => im.unary(n, 'Erf', {}),
  // ONNX Gelu (opset 20), and the node the importer fuses from PyTorch's GELU pattern (patterns.ts)
  Gelu: (im, n) => {
    const approximate = attrStr(n, 'approximate', 'none');
    if (approximate !== 'none' && approximate !== 'tanh') im.fail(`approximate='${approximate}' is not a GELU form (none or tanh)`);
    im.unary(n, 'Gelu', { approximate });
  },
  Clip: clip,
  PRelu: prelu,
  Softmax: softmax,
};
