/** Constant folds of element-wise ONNX ops: math, comparisons, logic, casts, clipping. */
import { elementwise } from './kernels.js';
import { attrInt, dtypeFromOnnx, isFloat, type HostTensor } from './tensor.js';
import type { Folder, FoldArgs } from './fold-types.js';

export const UNARY: Record<string, (x: number) => number> = {
  Neg: (x) => -x,
  Abs: Math.abs,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Exp: Math.exp,
  Log: Math.log,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Round: (x) => {
    const f = Math.floor(x);
    const d = x - f;
    return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  },
  Sign: Math.sign,
  Relu: (x) => Math.max(0, x),
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  Tanh: Math.tanh,
  Erf: (x) => {
    // Numerical Recipes erfc approximation (relative error < 1.2e-7)
    const t = 1 / (1 + 0.5 * Math.abs(x));
    const y =
      1 -
      t *
        Math.exp(
          -x * x -
            1.26551223 +
            t *
              (1.00002368 +
                t *
                  (0.37409196 +
                    t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
        );
    return x >= 0 ? y : -y;
  },
};

const BINARY: Record<string, (a: number, b: number, int: boolean) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b, int) => (int ? Math.trunc(a / b) : a / b),
  Pow: (a, b) => a ** b,
  Max: (a, b) => Math.max(a, b),
  Min: (a, b) => Math.min(a, b),
  Sum: (a, b) => a + b,
};

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  Equal: (a, b) => a === b,
  Less: (a, b) => a < b,
  Greater: (a, b) => a > b,
  LessOrEqual: (a, b) => a <= b,
  GreaterOrEqual: (a, b) => a >= b,
  And: (a, b) => a !== 0 && b !== 0,
  Or: (a, b) => a !== 0 || b !== 0,
  Xor: (a, b) => (a !== 0) !== (b !== 0),
};

/** A variadic binary op (Add … Sum), folded left to right in the first input's type. */
function foldBinary(x: FoldArgs): HostTensor[] {
  const ts = x.present();
  const dtype = ts[0].dtype;
  const int = !isFloat(dtype);
  const f = BINARY[x.op];
  let acc = ts[0];
  for (let k = 1; k < ts.length; k++) acc = elementwise([acc, ts[k]], dtype, (a, b) => f(a, b, int));
  if (ts.length === 1) acc = elementwise([acc], dtype, (a) => a);
  return [acc];
}

const unaryFolds = Object.fromEntries(Object.entries(UNARY).map(([op, f]): [string, Folder] => [op, (x) => [elementwise([x.need(0)], x.need(0).dtype, f)]]));
const binaryFolds = Object.fromEntries(Object.keys(BINARY).map((op): [string, Folder] => [op, foldBinary]));
const compareFolds = Object.fromEntries(
  Object.entries(COMPARE).map(([op, f]): [string, Folder] => [op, (x) => [elementwise([x.need(0), x.need(1)], 'bool', (a, b) => (f(a, b) ? 1 : 0))]]),
);

export const ELEMENTWISE_FOLDS: Record<string, Folder> = {
  ...unaryFolds,
  ...binaryFolds,
  ...compareFolds,
  Not: (x) => [elementwise([x.need(0)], 'bool', (a) => (a ? 0 : 1))],
  Mean: (x) => {
    const ts = x.present();
    const s = foldBinary({ ...x, op: 'Sum' })[0];
    return [elementwise([s], s.dtype, (a) => a / ts.length)];
  },
  Mod: (x) => {
    const fmod = attrInt(x.attrs, 'fmod', 0);
    return [
      elementwise([x.need(0), x.need(1)], x.need(0).dtype, (a, b) => {
        if (fmod) return a % b;
        const r = a % b;
        return r !== 0 && r < 0 !== b < 0 ? r + b : r;
      }),
    ];
  },
  Cast: (x) => [elementwise([x.need(0)], dtypeFromOnnx(attrInt(x.attrs, 'to', 1), 'Cast'), (a) => a)],
  CastLike: (x) => [elementwise([x.need(0)], x.need(1).dtype, (a) => a)],
  Where: (x) => [elementwise([x.need(0), x.need(1), x.need(2)], x.need(1).dtype, (c, a, b) => (c ? a : b))],
  Clip: (x) => {
    const t = x.need(0);
    const { inputs, attrs } = x;
    const lo = x.opset >= 11 ? (inputs[1] ? inputs[1].data[0] : -Infinity) : ((attrs.min as number | undefined) ?? -Infinity);
    const hi = x.opset >= 11 ? (inputs[2] ? inputs[2].data[0] : Infinity) : ((attrs.max as number | undefined) ?? Infinity);
    return [elementwise([t], t.dtype, (a) => Math.min(hi, Math.max(lo, a)))];
  },
};
