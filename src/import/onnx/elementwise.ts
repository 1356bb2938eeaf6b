/** ONNX element-wise arithmetic → naflow Add / Sub / Mul / Div (broadcast operands laid out for NHWC). */
import { broadcastDims } from './host/dims.js';
import { reshapeHost, transposeHost } from './host/kernels.js';
import { isFloat } from './host/tensor.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { TO_NHWC, type Act, type OnnxNode } from './layout.js';

/** Reference to operand `name` broadcast-compatible with a result of logical rank `outRank`. */
function operand(im: OnnxImporter, name: string, outDims: number[], outName: string, idx: number): string {
  const v = im.val(name);
  const outRank = outDims.length;
  if (v.kind === 'const') {
    const t = im.f32(v.t);
    if (outRank !== 4) return im.constRef(name, 'raw', () => t);
    const padded = [...new Array(4 - t.dims.length).fill(1), ...t.dims];
    // scalars and per-element constants that are all-ones in C or HW keep a simple layout
    return im.constRef(name, 'bcast4', () => transposeHost(reshapeHost(t, padded), TO_NHWC));
  }
  const dims = im.dimsOf(v);
  if (outRank === 4 && dims.length < 4) {
    const padded = [...new Array(4 - dims.length).fill(1), ...dims];
    const tmp = im.freshTensor(`${outName}::in${idx}_4d`);
    im.reshapeTo(v, padded, tmp, `in${idx}_4d`);
    return tmp;
  }
  return v.ref;
}

/**
 * Whether the operands are channels-last views (Act.channelsLast) and constants only, with a rank-4
 * result: the arithmetic then runs on the views as stored, constants broadcast in logical order.
 */
function onChannelsLast(im: OnnxImporter, names: string[]): boolean {
  const vs = names.map((x) => im.valAnyLayout(x));
  const acts = vs.filter((v): v is Act => v.kind === 'act');
  return acts.some((v) => v.channelsLast) && acts.every((v) => v.channelsLast) && vs.every((v) => (v.kind === 'const' ? v.t.dims.length : 4) <= 4);
}

function binaryChannelsLast(im: OnnxImporter, op: 'Add' | 'Sub' | 'Mul' | 'Div', a: string, b: string, out: string, suffix?: string): void {
  const operands = [a, b].map((x) => {
    const v = im.valAnyLayout(x);
    if (v.kind === 'act') return { ref: v.ref, dims: im.dimsOf(v) };
    const t = im.f32(v.t);
    return { ref: im.constRef(x, 'bcast4cl', () => reshapeHost(t, [...new Array(4 - t.dims.length).fill(1), ...t.dims])), dims: t.dims };
  });
  let dims: number[];
  try {
    dims = broadcastDims(operands[0].dims, operands[1].dims);
  } catch (e) {
    im.fail((e as Error).message);
  }
  im.emit(op, [operands[0].ref, operands[1].ref], [out], {}, suffix);
  im.setAct(out, dims, 'float32', false, 4, true);
}

function binary(im: OnnxImporter, _n: OnnxNode, op: 'Add' | 'Sub' | 'Mul' | 'Div', a: string, b: string, out: string, suffix?: string): void {
  if (onChannelsLast(im, [a, b])) return binaryChannelsLast(im, op, a, b, out, suffix);
  const va = im.val(a);
  const vb = im.val(b);
  const da = va.kind === 'const' ? va.t.dims : im.dimsOf(va);
  const db = vb.kind === 'const' ? vb.t.dims : im.dimsOf(vb);
  let dims: number[];
  try {
    dims = broadcastDims(da, db);
  } catch (e) {
    im.fail((e as Error).message);
  }
  const dtype = va.kind === 'act' ? va.dtype : (vb as Act).dtype;
  if (!isFloat(dtype)) im.fail(`integer arithmetic on activations is not supported`);
  im.emit(op, [operand(im, a, dims, out, 0), operand(im, b, dims, out, 1)], [out], {}, suffix);
  im.setAct(out, dims, 'float32');
}

function sum(im: OnnxImporter, n: OnnxNode): boolean {
  const ins = n.inputs.filter((i) => i);
  if (ins.length === 1) {
    im.unary(n, 'Identity', {});
    return true;
  }
  let acc = ins[0];
  for (let k = 1; k < ins.length; k++) {
    const last = k === ins.length - 1;
    const out = last ? n.outputs[0] : im.freshTensor(`${n.outputs[0]}::sum${k}`);
    binary(im, n, 'Add', acc, ins[k], out, last ? undefined : `sum${k}`);
    acc = out;
  }
  return true;
}

const arithmetic = (n: OnnxNode) => n.opType as 'Add' | 'Sub' | 'Mul' | 'Div';

export const ELEMENTWISE_HANDLERS: OnnxHandlerTable = {
  Add: (im, n) => binary(im, n, arithmetic(n), n.inputs[0], n.inputs[1], n.outputs[0]),
  Sub: (im, n) => binary(im, n, arithmetic(n), n.inputs[0], n.inputs[1], n.outputs[0]),
  Mul: (im, n) => binary(im, n, arithmetic(n), n.inputs[0], n.inputs[1], n.outputs[0]),
  Div: (im, n) => binary(im, n, arithmetic(n), n.inputs[0], n.inputs[1], n.outputs[0]),
  Sum: sum,
  Identity: (im, n) => im.unary(n, 'Identity', {}),
  Dropout: (im, n) => {
    im.onlyFirstOutput(n, 'mask');
    im.unary(n, 'Dropout', {});
  },
};
