/**
 * Converting one ONNX node: Constant nodes and all-constant inputs fold on the host; Shape/Size of a
 * static activation fold; everything else goes to its handler in the op table (handlers.ts). A node
 * without a handler, or whose handler declines it, is kept as a node of its ONNX op type.
 */
import { shapeTensor } from './host/dims.js';
import { canFold, foldOp } from './host/fold.js';
import { FoldError, makeTensor, sizeOf, type HostTensor } from './host/tensor.js';
import { plainAttrs } from './attributes.js';
import { onnxHandler } from './handlers.js';
import type { OnnxImporter } from './importer.js';
import { NeedShape, isBatchDim, type OnnxNode } from './layout.js';

/** Ops computing integers from activations: unmapped, they would be silently wrong, so they are errors. */
const INT_ONLY_OPS = new Set([
  'Shape',
  'Size',
  'ConstantOfShape',
  'Range',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'NonZero',
]);

export function convertNode(im: OnnxImporter, n: OnnxNode): void {
  const op = n.opType;
  const domainOk = !n.domain || n.domain === 'ai.onnx';
  if (domainOk && op === 'Constant') return foldConstant(im, n);
  const ins = n.inputs.map((i) => (i ? im.vals.get(i) : undefined));
  const allConst = n.inputs.some((i) => i) && ins.every((v, k) => !n.inputs[k] || v?.kind === 'const');
  if (domainOk && allConst && canFold(op)) return fold(im, n);
  if (domainOk && (op === 'Shape' || op === 'Size')) {
    const a = im.vals.get(n.inputs[0]);
    if (a?.kind === 'act' && a.dims) {
      const t = op === 'Shape' ? shapeTensor(a.dims, n.attrs) : makeTensor('int64', [], [sizeOf(a.dims)]);
      im.vals.set(n.outputs[0], { kind: 'const', t });
      return;
    }
  }
  const tainted = im.tainted(n);
  if (!domainOk) return unmapped(im, n);
  try {
    const handler = onnxHandler(op);
    const mapped = handler ? handler(im, n) !== false : false;
    if (!mapped) {
      if (INT_ONLY_OPS.has(op) && !tainted)
        im.fail(
          `computes integer/shape values from activations at run time (input ${n.inputs.map((i) => `'${i}'`).join(', ')}); naflow folds such ops at load time only, so their inputs must be constants or tensors of static shape`,
        );
      unmapped(im, n);
    } else if (tainted)
      for (const o of n.outputs) {
        const v = im.vals.get(o);
        if (v?.kind === 'act') v.tainted = true;
      }
  } catch (e) {
    if (e instanceof NeedShape) {
      unmapped(im, n);
      return;
    }
    if (e instanceof FoldError) im.fail(e.message);
    throw e;
  }
}

function foldConstant(im: OnnxImporter, n: OnnxNode): void {
  const a = n.attrs;
  let t: HostTensor;
  if (a.value !== undefined) t = a.value as HostTensor;
  else if (a.value_float !== undefined) t = makeTensor('float32', [], [a.value_float as number]);
  else if (a.value_floats !== undefined) t = makeTensor('float32', [(a.value_floats as number[]).length], a.value_floats as number[]);
  else if (a.value_int !== undefined) t = makeTensor('int64', [], [a.value_int as number]);
  else if (a.value_ints !== undefined) t = makeTensor('int64', [(a.value_ints as number[]).length], a.value_ints as number[]);
  else if ('sparse_value' in a) im.fail('sparse constants are not supported');
  else im.fail('Constant without a value');
  im.vals.set(n.outputs[0], { kind: 'const', t });
}

function fold(im: OnnxImporter, n: OnnxNode): void {
  const ins = n.inputs.map((i) => im.constOf(i));
  let outs: HostTensor[];
  try {
    outs = foldOp(n.opType, ins, n.attrs, im.opset, n.outputs.length);
  } catch (e) {
    if (!(e instanceof FoldError)) throw e;
    const batchDep = ins.some((t) => t && Array.from(t.data).some(isBatchDim));
    im.fail(
      batchDep
        ? `cannot fold at load time: the value depends on the symbolic batch size (re-export the model with a fixed batch): ${e.message}`
        : `cannot fold at load time: ${e.message}`,
    );
  }
  n.outputs.forEach((o, k) => {
    if (o && outs[k]) im.vals.set(o, { kind: 'const', t: outs[k] });
  });
}

/** Keep a node naflow cannot map, as a node of its ONNX op type (rejected when the model is loaded). */
function unmapped(im: OnnxImporter, n: OnnxNode): void {
  const inputs = n.inputs.map((i) => {
    if (!i) return '';
    if (!im.vals.has(i)) return i;
    const v = im.val(i);
    if (v.kind === 'act') return v.ref;
    return im.constRef(i, 'raw', () => v.t);
  });
  im.emit(n.opType, inputs, n.outputs.slice(), plainAttrs(n.attrs));
  for (const o of n.outputs) {
    if (!o) continue;
    const h = im.hints.get(o);
    im.setAct(o, h?.dims, h?.dtype ?? 'float32', true, h?.rank);
  }
}
