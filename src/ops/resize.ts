/**
 * Resize (NHWC spatial axes), nearest or bilinear, with tfjs' alignCorners / halfPixelCenters
 * coordinate rules. Both are separable, so the VJP applies the 1-D adjoint per axis: folding the
 * repeats of an integer nearest upsampling, otherwise a matmul with the dense interpolation matrix
 * (scatterND over all taps was 100x slower on wasm). tfjs' own ResizeBilinearGrad /
 * ResizeNearestNeighborGrad kernels (both registered for wasm) are not used: they ignore
 * halfPixelCenters, the cpu bilinear one labels its result [N, W, H, C], the cpu nearest one reads dy
 * at the wrong batch stride.
 *
 * Nearest is computed from the same source indices as its VJP (in float64): tfjs-wasm's native nearest
 * kernel rounds in float32 and picks a different source pixel for some sizes (e.g. 2→82).
 * Bilinear uses the native kernel, which is continuous in the coordinates.
 *
 * Both modes are linear in the input: the JVP is the resize of the tangent, and the NAFlow inverse
 * (docs/spec.md §5) is the damped least-squares correction with the resize's adjoint (`dampedCorrection`, LSMR).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResizeAttrs } from '../ir/graph.js';
import { registerOp, type OpRule } from './registry.js';
import { dampedCorrection } from './least-squares.js';

interface AxisTaps {
  lo: number[];
  hi: number[];
  frac: number[];
}

/** Source taps along one axis, mirroring tfjs' resize kernels. */
export function axisTaps(inSize: number, outSize: number, a: ResizeAttrs): AxisTaps {
  const ac = a.alignCorners && outSize > 1;
  const ratio = (ac ? inSize - 1 : inSize) / (ac ? outSize - 1 : outSize);
  const lo: number[] = [],
    hi: number[] = [],
    frac: number[] = [];
  for (let r = 0; r < outSize; r++) {
    if (a.mode === 'nearest') {
      const src = a.halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
      let i = Math.min(inSize - 1, a.alignCorners ? Math.round(src) : Math.floor(src));
      if (a.halfPixelCenters) i = Math.max(0, i);
      lo.push(i), hi.push(i), frac.push(0);
    } else {
      const src = a.halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
      const l = Math.max(0, Math.floor(src));
      lo.push(l), hi.push(Math.min(inSize - 1, Math.ceil(src))), frac.push(src - l);
    }
  }
  return { lo, hi, frac };
}

/** k when the nearest map along an axis is the integer upsampling i ↦ ⌊i/k⌋, else 0. */
function repeatFactor(t: AxisTaps, inSize: number, a: ResizeAttrs): number {
  const out = t.lo.length;
  if (a.mode !== 'nearest' || out % inSize !== 0) return 0;
  const k = out / inSize;
  return t.lo.every((v, i) => v === Math.floor(i / k)) ? k : 0;
}

/** Nearest resize along axis 1 or 2: a broadcast repeat for integer factors, else a gather. */
function nearestAxis(x: tf.Tensor4D, axis: 1 | 2, t: AxisTaps, inSize: number, a: ResizeAttrs): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const k = repeatFactor(t, inSize, a);
  if (k === 1) return x.clone();
  if (k > 1) {
    const flat = axis === 1 ? tf.reshape(x, [n * h, 1, w * c]) : tf.reshape(x, [n * h * w, 1, c]);
    const rep = tf.add(flat, tf.zeros([1, k, 1]));
    return tf.reshape(rep, axis === 1 ? [n, h * k, w, c] : [n, h, w * k, c]);
  }
  return tf.gather(x, tf.tensor1d(t.lo, 'int32'), axis) as tf.Tensor4D;
}

/** Adjoint of the resize along axis 1 or 2: fold the repeats, or multiply by the dense Rᵀ [in, out]. */
function adjointAxis(g: tf.Tensor4D, axis: 1 | 2, t: AxisTaps, inSize: number, a: ResizeAttrs): tf.Tensor4D {
  const [n, h, w, c] = g.shape;
  const out = t.lo.length;
  const k = repeatFactor(t, inSize, a);
  if (k === 1) return g.clone();
  if (k > 1) {
    const folded = axis === 1 ? tf.reshape(g, [n * inSize, k, w * c]) : tf.reshape(g, [n * h * inSize, k, c]);
    return tf.reshape(tf.sum(folded, 1), axis === 1 ? [n, inSize, w, c] : [n, h, inSize, c]);
  }
  const rt = new Float32Array(inSize * out);
  for (let o = 0; o < out; o++) {
    rt[t.lo[o] * out + o] += 1 - t.frac[o];
    rt[t.hi[o] * out + o] += t.frac[o];
  }
  const RT = tf.tensor2d(rt, [inSize, out]);
  if (axis === 1 && n === 1) return tf.reshape(tf.matMul(RT, tf.reshape(g, [out, w * c])), [1, inSize, w, c]);
  // bring the resized axis to the front so one 2-D matmul does the whole batch
  const perm = axis === 1 ? [1, 0, 2, 3] : [2, 0, 1, 3];
  const front = tf.transpose(g, perm);
  const rest = front.shape.slice(1);
  const r = tf.reshape(tf.matMul(RT, tf.reshape(front, [out, -1])), [inSize, ...rest]);
  return tf.transpose(r, axis === 1 ? [1, 0, 2, 3] : [1, 2, 0, 3]) as tf.Tensor4D;
}

const resizeRule: OpRule<'Resize'> = {
  op: 'Resize',
  inverseRule: "damped least squares with the resize's adjoint",
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    const x = inputs[0] as tf.Tensor4D;
    if (a.mode === 'bilinear') return [tf.image.resizeBilinear(x, a.size, a.alignCorners, a.halfPixelCenters)];
    return [
      tf.tidy(() => {
        const [, h, w] = x.shape;
        const rows = nearestAxis(x, 1, axisTaps(h, a.size[0], a), h, a);
        return nearestAxis(rows, 2, axisTaps(w, a.size[1], a), w, a);
      }),
    ];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null];
    const a = ctx.node.attrs;
    const [, h, w] = inputs[0].shape as [number, number, number, number];
    return [
      tf.tidy(() => {
        const rows = adjointAxis(dy as tf.Tensor4D, 1, axisTaps(h, a.size[0], a), h, a);
        return adjointAxis(rows, 2, axisTaps(w, a.size[1], a), w, a);
      }),
    ];
  },
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const t = tangents[0];
    return t ? resizeRule.forward([t, ...inputs.slice(1)], ctx) : [tf.zerosLike(outputs[0])];
  },
  inverse: (args, ctx) => dampedCorrection(resizeRule, ctx, args, 0),
  inferShape: (shapes, ctx) => {
    const [n, , , c] = shapes[0];
    const [h, w] = ctx.node.attrs.size;
    return [[n, h, w, c]];
  },
};
registerOp(resizeRule);
