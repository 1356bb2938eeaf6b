/** ONNX dense layers → naflow Gemm / MatMul (rank-4 MatMul operands are read in NCHW order). */
import { attrFloat, attrInt } from './attributes.js';
import { broadcastDims } from './host/dims.js';
import { reshapeHost, transposeHost } from './host/kernels.js';
import { makeTensor, type HostTensor } from './host/tensor.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { TO_NHWC, fmtDims, type OnnxNode, type Val } from './layout.js';

function gemm(im: OnnxImporter, n: OnnxNode): void {
  if (attrInt(n, 'transA', 0)) im.fail(`transA=1 is not supported`);
  const a = im.act(n.inputs[0]);
  const da = im.dimsOf(a);
  if (da.length !== 2) im.fail(`input A has rank ${da.length}; Gemm needs a rank-2 input`);
  const transB = attrInt(n, 'transB', 0) === 1;
  const alpha = attrFloat(n, 'alpha', 1);
  const beta = attrFloat(n, 'beta', 1);
  const bConst = im.constOf(n.inputs[1]);
  if (!bConst) {
    // activation B: MatMul (+ scale, + bias)
    const bAct = im.act(n.inputs[1]);
    const db = im.dimsOf(bAct);
    let bRef = bAct.ref;
    if (transB) {
      bRef = im.freshTensor(`${n.outputs[0]}::bT`);
      im.emit('Transpose', [bAct.ref], [bRef], { perm: [1, 0] }, 'bT');
    }
    const outCols = transB ? db[0] : db[1];
    const outDims = [da[0], outCols];
    let cur = im.freshTensor(`${n.outputs[0]}::mm`);
    im.emit('MatMul', [a.ref, bRef], [cur], {}, 'matmul');
    im.setAct(cur, outDims);
    if (alpha !== 1) {
      const c = im.constRef(`${n.name}::alpha`, 'raw', () => makeTensor('float32', [], [alpha]));
      const nx = im.freshTensor(`${n.outputs[0]}::alpha`);
      im.emit('Mul', [cur, c], [nx], {}, 'alpha');
      im.setAct(nx, outDims);
      cur = nx;
    }
    if (n.inputs[2]) {
      const ct = im.needConst(n.inputs[2], 'C');
      const ref = im.constRef(n.inputs[2], `beta${beta}`, () =>
        makeTensor(
          'float32',
          ct.dims,
          Array.from(ct.data, (v) => v * beta),
        ),
      );
      im.emit('Add', [cur, ref], [n.outputs[0]], {});
    } else im.emit('Identity', [cur], [n.outputs[0]], {});
    im.setAct(n.outputs[0], outDims);
    return;
  }
  if (bConst.dims.length !== 2) im.fail(`B has rank ${bConst.dims.length}`);
  const [k, m] = transB ? [bConst.dims[1], bConst.dims[0]] : bConst.dims;
  if (k !== da[1]) im.fail(`B [${bConst.dims}]${transB ? ' (transposed)' : ''} does not match input ${fmtDims(da)}`);
  const bRef = transB ? im.constRef(n.inputs[1], 'io', () => transposeHost(im.f32(bConst), [1, 0])) : im.constRef(n.inputs[1], 'raw', () => im.f32(bConst));
  const refs = [a.ref, bRef];
  if (n.inputs[2]) {
    const ct = im.needConst(n.inputs[2], 'C');
    let vec: HostTensor;
    if (ct.data.length === m && ct.dims[ct.dims.length - 1] === m) vec = reshapeHost(im.f32(ct), [m]);
    else if (ct.data.length === 1) vec = makeTensor('float32', [m], new Array(m).fill(ct.data[0]));
    else im.fail(`bias C of shape [${ct.dims}] is not a per-output vector (naflow's Gemm adds a [${m}] bias)`);
    refs.push(im.constRef(n.inputs[2], 'vec', () => vec));
  }
  im.emit('Gemm', refs, [n.outputs[0]], { alpha, beta });
  im.setAct(n.outputs[0], [da[0], m]);
}

/**
 * A channels-last view times a constant [C, D] (PyTorch's nn.Linear on `x.permute(0, 2, 3, 1)`, as in
 * ConvNeXt's pointwise layers) is a 1×1 convolution on naflow's NHWC tensor: a trunk weight layer with
 * the convolution's least-squares inverse. Returns false where it does not apply.
 */
function pointwiseLinear(im: OnnxImporter, n: OnnxNode): boolean {
  const x = im.valAnyLayout(n.inputs[0]);
  const w = im.constOf(n.inputs[1]);
  if (x.kind !== 'act' || !x.channelsLast || !w || w.dims.length !== 2) return false;
  const d = im.dimsOf(x);
  const [c, out] = w.dims;
  if (c !== d[3]) im.fail(`weight [${w.dims}] does not match the ${d[3]} channels of ${fmtDims(d)}`);
  const wRef = im.constRef(n.inputs[1], 'hwio1x1', () => reshapeHost(im.f32(w), [1, 1, c, out]));
  im.emit('Conv', [x.ref, wRef], [n.outputs[0]], { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 });
  im.setAct(n.outputs[0], [d[0], d[1], d[2], out], 'float32', false, 4, true);
  return true;
}

function matmul(im: OnnxImporter, n: OnnxNode): void {
  if (pointwiseLinear(im, n)) return;
  const va = im.val(n.inputs[0]);
  const vb = im.val(n.inputs[1]);
  const side = (v: Val, name: string): { ref: string; dims: number[] } => {
    if (v.kind === 'const') return { ref: im.constRef(name, 'raw', () => im.f32(v.t)), dims: v.t.dims };
    const d = im.dimsOf(v);
    return { ref: d.length === 4 ? im.nchw(v) : v.ref, dims: d };
  };
  const A = side(va, n.inputs[0]);
  const B = side(vb, n.inputs[1]);
  const a = A.dims.length === 1 ? [1, A.dims[0]] : A.dims;
  const b = B.dims.length === 1 ? [B.dims[0], 1] : B.dims;
  if (a[a.length - 1] !== b[b.length - 2]) im.fail(`shapes ${fmtDims(A.dims)} and ${fmtDims(B.dims)} do not multiply`);
  let batch: number[];
  try {
    batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
  } catch (e) {
    im.fail((e as Error).message);
  }
  let out = [...batch, a[a.length - 2], b[b.length - 1]];
  if (A.dims.length === 1) out = [...batch, b[b.length - 1]];
  if (B.dims.length === 1) out = out.slice(0, -1);
  if (A.dims.length === 1 || B.dims.length === 1) im.fail(`1-D MatMul operands are not supported`);
  const o = n.outputs[0];
  if (out.length === 4) {
    const tmp = im.freshTensor(`${o}::nchw`);
    im.emit('MatMul', [A.ref, B.ref], [tmp], {});
    im.tmpShapes.set(tmp, out.slice());
    im.emit('Transpose', [tmp], [o], { perm: TO_NHWC }, 'nhwc');
  } else im.emit('MatMul', [A.ref, B.ref], [o], {});
  im.setAct(o, out);
}

export const LINEAR_HANDLERS: OnnxHandlerTable = {
  Gemm: gemm,
  MatMul: matmul,
};
