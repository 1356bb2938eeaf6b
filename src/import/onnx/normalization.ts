/** ONNX normalisation → naflow BatchNormalization (inference form: scale, bias, mean, var). */
import { attrFloat } from './attributes.js';
import { reshapeHost } from './host/kernels.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import type { OnnxNode } from './layout.js';

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

export const NORMALIZATION_HANDLERS: OnnxHandlerTable = {
  BatchNormalization: batchNorm,
};
