/**
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean (NHWC).
 *
 * MaxPool's gradient goes to the FIRST maximum of each window in scan order (rows, then columns),
 * like PyTorch; overlapping windows accumulate, padded cells never win. tfjs' MaxPoolGrad kernel is
 * not used: on wasm it sends ties to the last maximum and is wrong with explicit padding (measured,
 * tfjs-backend-wasm 4.22). Instead the window taps are stacked, argMax (first occurrence) picks the
 * winner, and scatterND (which sums duplicates) routes dy back.
 *
 * AveragePool is a depthwise conv with a ones kernel divided by the per-window count, so its gradient
 * reuses the conv input-gradient path (tfjs' AvgPoolGrad divides by the full window even where the
 * forward excluded padding). With countIncludePad every cell of the window counts, including the
 * bottom/right cells the importer added for ceil_mode (PyTorch would not count those).
 *
 * NAFlow inverses (docs/spec.md §5):
 * * MaxPool / GlobalMaxPool: unpooling through the switches recomputed from the recorded forward input
 *   (the same first-maximum rule as the VJP): each value goes back to its window's arg-max, zeros
 *   elsewhere; a cell that is the arg-max of several overlapping windows gets the mean of their values.
 * * AveragePool: the damped least-squares correction (LSMR, `dampedCorrection`); windows that tile the
 *   input without overlap or padding (stride = kernel, no pads, no dilation) use the exact closed form:
 *   J = (1/k)·1ᵀ per window, σ_max = 1/√k, λ = ρ/√k, so every cell of a window moves by r/(1 + ρ²)
 *   (cells no window reads stay). GlobalAveragePool and ReduceMean are that case with one window per
 *   output element.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PoolAttrs, ReduceAttrs } from '../ir/graph.js';
import { registerOp, type InverseArgs, type InverseResult, type OpRule } from './registry.js';
import { dampedCorrection } from './least-squares.js';
import { convForward, convInputGrad, type ConvGeom } from './conv-core.js';
import { expandTo, l2, normAxis, padOrCrop2d, windowOut } from './util.js';
import { Unemittable, type OnnxEmitter, type OnnxRule } from './registry.js';
import { activation, needRank } from './onnx-emit.js';
import { convAdjoint, convOnnxAttrs } from './conv-native.js';
import type { Node } from '../ir/graph.js';

function poolOutShape(xShape: number[], a: PoolAttrs): [number, number] {
  const [pt, pl, pb, pr] = a.pads;
  return [windowOut(xShape[1], a.kernel[0], a.strides[0], a.dilations[0], pt, pb), windowOut(xShape[2], a.kernel[1], a.strides[1], a.dilations[1], pl, pr)];
}

const poolShape = (shapes: number[][], a: PoolAttrs) => {
  const [oh, ow] = poolOutShape(shapes[0], a);
  return [[shapes[0][0], oh, ow, shapes[0][3]]];
};

const iota = (n: number, step: number) => Array.from({ length: n }, (_, i) => i * step);

/**
 * The input padded with −∞ (or cropped) to the rows/columns the windows read, rounded up to a multiple
 * of the stride, and its kH·kW window taps [N, oH, oW, C] in scan order (rows, then columns). With a
 * space-to-depth view (one rank-4 transpose) every tap is a single contiguous slice; strided slices
 * are slow JS loops on wasm.
 */
function windowTaps(x: tf.Tensor4D, a: PoolAttrs) {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = poolOutShape(x.shape, a);
  const [sh, sw] = a.strides,
    [dh, dw] = a.dilations;
  const rowsA = Math.floor(((a.kernel[0] - 1) * dh) / sh) + oh,
    colsB = Math.floor(((a.kernel[1] - 1) * dw) / sw) + ow;
  const hp = rowsA * sh,
    wp = colsB * sw;
  const pads: [number, number, number, number] = [a.pads[0], hp - h - a.pads[0], a.pads[1], wp - w - a.pads[1]];
  const xp = padOrCrop2d(x, pads, -Infinity);
  // [N, A, B, (rh·sw + rw)·C + c]: element (A·sh + rh, B·sw + rw) of the padded input
  const s2d = sh * sw === 1 ? xp : tf.reshape(tf.transpose(tf.reshape(xp, [n * rowsA, sh, colsB, sw * c]), [0, 2, 1, 3]), [n, rowsA, colsB, sh * sw * c]);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < a.kernel[0]; i++)
    for (let j = 0; j < a.kernel[1]; j++) {
      const r = i * dh,
        q = j * dw;
      const phase = ((r % sh) * sw + (q % sw)) * c;
      taps.push(tf.slice(s2d, [0, Math.floor(r / sh), Math.floor(q / sw), phase], [n, oh, ow, c]));
    }
  return { taps, oh, ow };
}

/**
 * The switches of a max-pool: for every output element (flattened, NHWC order) the flat index into x of
 * its window's first maximum in scan order (rows, then columns; padded cells never win). A scan over
 * the input's values: the tensor form (window taps, stack, argMax) cost ~25 ms per VGG16 pool on wasm,
 * this ~5 ms. A window with no cell above −∞ (all −∞ or NaN) takes its first real cell. Dispose the result.
 */
function maxPoolSwitches(x: tf.Tensor4D, a: PoolAttrs): tf.Tensor1D {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = poolOutShape(x.shape, a);
  const [kh, kw] = a.kernel,
    [sh, sw] = a.strides,
    [dh, dw] = a.dilations;
  const v = x.dataSync() as Float32Array;
  const out = new Int32Array(n * oh * ow * c);
  const best = new Float32Array(c);
  for (let b = 0, q = 0; b < n; b++)
    for (let r = 0; r < oh; r++)
      for (let s = 0; s < ow; s++, q += c) {
        let first = true;
        for (let i = 0; i < kh; i++) {
          const y = r * sh - a.pads[0] + i * dh;
          if (y < 0 || y >= h) continue;
          for (let j = 0; j < kw; j++) {
            const xx = s * sw - a.pads[1] + j * dw;
            if (xx < 0 || xx >= w) continue;
            const base = ((b * h + y) * w + xx) * c;
            if (first) {
              // the window's first real cell wins until a larger value comes (NaN and −∞ never win)
              for (let ch = 0; ch < c; ch++) {
                out[q + ch] = base + ch;
                const val = v[base + ch];
                best[ch] = val > -Infinity ? val : -Infinity; // NaN → −∞, as the padding (Math.max would keep NaN)
              }
              first = false;
              continue;
            }
            for (let ch = 0; ch < c; ch++) {
              const val = v[base + ch];
              if (val > best[ch]) {
                best[ch] = val;
                out[q + ch] = base + ch;
              }
            }
          }
        }
        // a window of padding only (never for valid pads) points at cell 0 like the clamped tensor form
      }
  return tf.tensor1d(out, 'int32');
}

/** Σ of the values routed to each switch (scatterND sums duplicates), shaped like the input. */
function scatterTo(idx: tf.Tensor, values: tf.Tensor, shape: number[]): tf.Tensor {
  const size = shape.reduce((p, d) => p * d, 1);
  return tf.tidy(() => tf.reshape(tf.scatterND(tf.reshape(idx, [-1, 1]), tf.reshape(values, [-1]), [size]), shape));
}

/** The values of t at the switches, shaped like the output. */
function gatherAt(t: tf.Tensor, idx: tf.Tensor, outShape: number[]): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.gather(tf.reshape(t, [-1]), idx), outShape));
}

/** Unpooling: each value back to its switch, the mean where several land on one cell, zeros elsewhere. */
function unpool(idx: tf.Tensor, values: tf.Tensor, shape: number[]): tf.Tensor {
  return tf.tidy(() => {
    const sum = scatterTo(idx, values, shape);
    const count = scatterTo(idx, tf.onesLike(values), shape);
    return tf.div(sum, tf.maximum(count, 1));
  });
}

/**
 * Closed-form damped correction for a mean over non-overlapping windows of k cells each: every cell of
 * a window moves by r/(1 + ρ²) (derivation in the file comment). `spread` copies an output-shaped
 * tensor onto the cells of each window (zeros on cells that no window reads).
 */
function meanClosedForm(args: InverseArgs, k: number, spread: (r: tf.Tensor) => tf.Tensor): InverseResult {
  const { inputs, outputs, bOut, settings } = args;
  const bo = bOut[0];
  const b: Array<tf.Tensor | null> = inputs.map(() => null);
  if (!bo) return { b };
  const rho = settings.rho;
  const sigma = 1 / Math.sqrt(k);
  const r = tf.sub(bo, outputs[0]);
  const rNorm = l2(r);
  b[0] = rNorm === 0 ? inputs[0].clone() : tf.tidy(() => tf.add(inputs[0], tf.div(spread(r), 1 + rho * rho)));
  r.dispose();
  const relResidual = rNorm === 0 ? 0 : (rho * rho) / (1 + rho * rho);
  return { b, solver: { method: 'closed-form', iterations: 0, relResidual, damping: rho * sigma, sigmaMax: sigma, stop: 'closed form' } };
}

/** Windows that tile the input: stride = kernel, no padding, no dilation. */
const tiles = (a: PoolAttrs) =>
  a.strides[0] === a.kernel[0] && a.strides[1] === a.kernel[1] && a.dilations[0] === 1 && a.dilations[1] === 1 && a.pads.every((p) => p === 0);

registerOp({
  op: 'MaxPool',
  inverseRule: 'unpooling with the recorded switches (shared arg-max: mean)',
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    const x = inputs[0] as tf.Tensor4D;
    if (a.dilations[0] === 1 && a.dilations[1] === 1) {
      const p = a.pads;
      return [
        tf.maxPool(x, a.kernel, a.strides, [
          [0, 0],
          [p[0], p[2]],
          [p[1], p[3]],
          [0, 0],
        ]),
      ];
    }
    return [tf.tidy(() => windowTaps(x, a).taps.reduce((m, t) => tf.maximum(m, t)))];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null];
    const x = inputs[0];
    return [tf.tidy(() => scatterTo(maxPoolSwitches(x as tf.Tensor4D, ctx.node.attrs), dy, x.shape))];
  },
  // J t = t at the switches
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const t = tangents[0];
    if (!t) return [tf.zerosLike(outputs[0])];
    return [tf.tidy(() => gatherAt(t, maxPoolSwitches(inputs[0] as tf.Tensor4D, ctx.node.attrs), outputs[0].shape))];
  },
  inverse: ({ inputs, bOut }, ctx) => {
    const bo = bOut[0];
    if (!bo) return { b: [null] };
    return { b: [tf.tidy(() => unpool(maxPoolSwitches(inputs[0] as tf.Tensor4D, ctx.node.attrs), bo, inputs[0].shape))] };
  },
  onnx: {
    // onnxruntime's MaxPool picks the first maximum in scan order, like maxPoolSwitches; its indices
    // are offsets into the whole NCHW tensor, so the VJP is one scatter-add into a flat zero tensor.
    forward: (e, node, { ins, inShapes }) => {
      needRank(node, inShapes[0], 4);
      const a = node.attrs;
      if (a.dilations[0] !== 1 || a.dilations[1] !== 1) throw new Unemittable(`MaxPool '${node.name}': dilation`);
      const [y, idx] = e.node(
        'MaxPool',
        [activation(node, ins, 0)],
        { kernel_shape: { ints: a.kernel }, strides: { ints: a.strides }, pads: { ints: a.pads } },
        2,
      );
      e.shared(`${node.name}/switches`, () => idx);
      return [y];
    },
    vjp: (e, node, { dys, inShapes }) => {
      const dy = dys[0];
      if (!dy) return [];
      const idx = e.shared<string>(`${node.name}/switches`, () => {
        throw new Unemittable(`MaxPool '${node.name}': VJP before forward`);
      });
      const [n, h, w, c] = inShapes[0];
      const flat = e.int64([-1]);
      const zeros = e.op('ConstantOfShape', [e.int64([n * h * w * c])]);
      const dx = e.op('ScatterElements', [zeros, e.op('Reshape', [idx, flat]), e.op('Reshape', [dy, flat])], { axis: { i: 0 }, reduction: { s: 'add' } });
      return [e.op('Reshape', [dx, e.int64([n, c, h, w])])];
    },
  },
  inferShape: (shapes, ctx) => poolShape(shapes, ctx.node.attrs),
});

/** Per-window divisor: the whole window, or only the cells inside the input. */
function avgDivisor(xShape: number[], a: PoolAttrs): tf.Tensor | number {
  if (a.countIncludePad) return a.kernel[0] * a.kernel[1];
  const [oh, ow] = poolOutShape(xShape, a);
  const inside = (o: number, ax: 0 | 1, size: number, pad: number) => {
    let k = 0;
    for (let t = 0; t < a.kernel[ax]; t++) {
      const p = o * a.strides[ax] - pad + t * a.dilations[ax];
      if (p >= 0 && p < size) k++;
    }
    return k;
  };
  const rows = iota(oh, 1).map((o) => inside(o, 0, xShape[1], a.pads[0]));
  const cols = iota(ow, 1).map((o) => inside(o, 1, xShape[2], a.pads[1]));
  const vals = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) vals[i * ow + j] = rows[i] * cols[j];
  return tf.tensor4d(vals, [1, oh, ow, 1]);
}

const sumGeom = (a: PoolAttrs, c: number): ConvGeom => ({ strides: a.strides, pads: a.pads, dilations: a.dilations, group: c });

/** The divisor of an average pool as an ONNX value: a scalar, or per output cell [1, 1, oh, ow]. */
function onnxDivisor(e: OnnxEmitter, node: Node<'AveragePool'>, xShape: number[]): string {
  const d = avgDivisor(xShape, node.attrs);
  if (typeof d === 'number') return e.float([d], []);
  const vals = d.dataSync() as Float32Array;
  const [, oh, ow] = d.shape;
  d.dispose();
  return e.float(vals, [1, 1, oh, ow]);
}

/** The window sum of an average pool as a depthwise convolution with a ones kernel (as the tfjs path). */
const onesKernel = (a: PoolAttrs, c: number) => ({ hwio: new Float32Array(a.kernel[0] * a.kernel[1] * c).fill(1), shape: [a.kernel[0], a.kernel[1], 1, c] });

const onnxAveragePool: OnnxRule<'AveragePool'> = {
  forward: (e, node, { ins, inShapes }) => {
    needRank(node, inShapes[0], 4);
    const a = node.attrs;
    const c = inShapes[0][3];
    // a ones kernel reads the same in HWIO and OIHW
    const ones = e.float(onesKernel(a, c).hwio, [c, 1, a.kernel[0], a.kernel[1]]);
    const sum = e.op('Conv', [activation(node, ins, 0), ones], convOnnxAttrs(sumGeom(a, c)));
    return [e.op('Div', [sum, onnxDivisor(e, node, inShapes[0])])];
  },
  vjp: (e, node, { dys, inShapes }) => {
    const dy = dys[0];
    if (!dy) return [];
    const a = node.attrs;
    const [, h, w, c] = inShapes[0];
    const k = onesKernel(a, c);
    const adj = convAdjoint(k.hwio, k.shape, sumGeom(a, c), h, w);
    return [e.op(adj.op, [e.op('Div', [dy, onnxDivisor(e, node, inShapes[0])]), e.float(adj.weight, adj.wDims)], adj.attrs)];
  },
};

const averagePoolRule: OpRule<'AveragePool'> = {
  op: 'AveragePool',
  inverseRule: 'damped least squares (closed form when the windows tile)',
  onnx: onnxAveragePool,
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    const x = inputs[0] as tf.Tensor4D;
    return [
      tf.tidy(() => {
        const c = x.shape[3];
        const sum = convForward(x, tf.ones([a.kernel[0], a.kernel[1], 1, c]), sumGeom(a, c));
        return tf.div(sum, avgDivisor(x.shape, a));
      }),
    ];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null];
    const a = ctx.node.attrs;
    const x = inputs[0] as tf.Tensor4D;
    return [
      tf.tidy(() => {
        const c = x.shape[3];
        const ones = tf.ones([a.kernel[0], a.kernel[1], 1, c]) as tf.Tensor4D;
        const g = tf.div(dy, avgDivisor(x.shape, a)) as tf.Tensor4D;
        return convInputGrad(g, x.shape, ones.shape, sumGeom(a, c), undefined, 'b', ones);
      }),
    ];
  },
  // linear: J t = the pool of t
  jvp: ({ inputs, outputs, tangents }, ctx) => {
    const t = tangents[0];
    if (!t) return [tf.zerosLike(outputs[0])];
    return averagePoolRule.forward([t, ...inputs.slice(1)], ctx);
  },
  inverse: (args, ctx) => {
    const a = ctx.node.attrs;
    if (!tiles(a)) return dampedCorrection(averagePoolRule, ctx, args, 0);
    const k = a.kernel[0] * a.kernel[1];
    // the VJP spreads dy/k over each window (zeros on the uncovered bottom/right cells)
    return meanClosedForm(args, k, (r) => tf.mul(averagePoolRule.vjp!({ inputs: args.inputs, outputs: args.outputs, dys: [r] }, ctx)[0]!, k));
  },
  inferShape: (shapes, ctx) => poolShape(shapes, ctx.node.attrs),
};
registerOp(averagePoolRule);

const globalShape = (shapes: number[][]) => [[shapes[0][0], 1, 1, shapes[0][3]]];

registerOp({
  op: 'GlobalAveragePool',
  inverseRule: 'damped least squares (closed form)',
  roles: { place: 'head' },
  // stored NCHW, onnxruntime's [N, C, 1, 1] is the IR's [N, 1, 1, C]
  onnx: {
    forward: (e, node, { ins, inShapes }) => {
      needRank(node, inShapes[0], 4);
      return [e.op('GlobalAveragePool', [activation(node, ins, 0)])];
    },
    vjp: (e, _node, { dys, inShapes }) => {
      const [n, h, w, c] = inShapes[0];
      return dys[0] ? [e.op('Expand', [e.op('Div', [dys[0], e.float([h * w], [])]), e.int64([n, c, h, w])])] : [];
    },
  },
  forward: (inputs) => [tf.mean(inputs[0], [1, 2], true)],
  vjp: ({ inputs, dys }) => {
    const dy = dys[0];
    const x = inputs[0] as tf.Tensor4D;
    return [dy ? tf.tidy(() => expandTo(tf.div(dy, x.shape[1] * x.shape[2]), x.shape)) : null];
  },
  jvp: ({ outputs, tangents }) => [tangents[0] ? tf.mean(tangents[0], [1, 2], true) : tf.zerosLike(outputs[0])],
  inverse: (args) => {
    const x = args.inputs[0] as tf.Tensor4D;
    return meanClosedForm(args, x.shape[1] * x.shape[2], (r) => expandTo(r, x.shape));
  },
  inferShape: globalShape,
});

registerOp({
  op: 'GlobalMaxPool',
  inverseRule: 'unpooling with the recorded switches (shared arg-max: mean)',
  roles: { place: 'head' },
  forward: (inputs) => [tf.max(inputs[0], [1, 2], true)],
  // first maximum in scan order, as MaxPool
  vjp: ({ inputs, dys }) => {
    const dy = dys[0];
    if (!dy) return [null];
    const x = inputs[0];
    return [
      tf.tidy(() => {
        const [n, h, w, c] = x.shape;
        const k = tf.argMax(tf.reshape(x, [n, h * w, c]), 1); // [n, c]
        const base = Int32Array.from({ length: n * c }, (_, q) => Math.floor(q / c) * h * w * c + (q % c));
        const idx = tf.add(tf.tensor2d(base, [n, c], 'int32'), tf.mul(k, tf.scalar(c, 'int32')));
        return tf.reshape(tf.scatterND(tf.reshape(idx, [-1, 1]), tf.reshape(dy, [-1]), [x.size]), x.shape);
      }),
    ];
  },
  jvp: ({ inputs, outputs, tangents }) => {
    const t = tangents[0];
    if (!t) return [tf.zerosLike(outputs[0])];
    return [tf.tidy(() => gatherAt(t, globalMaxSwitches(inputs[0]), outputs[0].shape))];
  },
  // one window per channel: the value goes to the arg-max, zeros elsewhere
  inverse: ({ inputs, bOut }) => {
    const bo = bOut[0];
    if (!bo) return { b: [null] };
    return { b: [tf.tidy(() => scatterTo(globalMaxSwitches(inputs[0]), bo, inputs[0].shape))] };
  },
  inferShape: globalShape,
});

/** Flat index into x of each channel's first maximum, [N·C] in output order. */
function globalMaxSwitches(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const k = tf.argMax(tf.reshape(x, [n, h * w, c]), 1);
    const base = Int32Array.from({ length: n * c }, (_, q) => Math.floor(q / c) * h * w * c + (q % c));
    return tf.reshape(tf.add(tf.tensor2d(base, [n, c], 'int32'), tf.mul(k, tf.scalar(c, 'int32'))), [-1]);
  });
}

function reduceAxes(a: ReduceAttrs, rank: number): number[] {
  const axes = a.axes.length ? a.axes.map((x) => normAxis(x, rank)) : iota(rank, 1);
  return [...new Set(axes)].sort((p, q) => p - q);
}

registerOp({
  op: 'ReduceMean',
  inverseRule: 'damped least squares (closed form)',
  roles: { place: 'head' },
  forward: (inputs, ctx) => {
    const a = ctx.node.attrs;
    return [tf.mean(inputs[0], reduceAxes(a, inputs[0].rank), a.keepDims)];
  },
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    if (!dy) return [null];
    const x = inputs[0];
    const axes = reduceAxes(ctx.node.attrs, x.rank);
    const count = axes.reduce((p, ax) => p * x.shape[ax], 1);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return [tf.tidy(() => expandTo(tf.div(tf.reshape(dy, kept), count), x.shape))];
  },
  jvp: ({ outputs, tangents }, ctx) => {
    const t = tangents[0];
    if (!t) return [tf.zerosLike(outputs[0])];
    const a = ctx.node.attrs;
    return [tf.mean(t, reduceAxes(a, t.rank), a.keepDims)];
  },
  inverse: (args, ctx) => {
    const x = args.inputs[0];
    const axes = reduceAxes(ctx.node.attrs, x.rank);
    const count = axes.reduce((p, ax) => p * x.shape[ax], 1);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return meanClosedForm(args, count, (r) => expandTo(tf.reshape(r, kept), x.shape));
  },
  inferShape: (shapes, ctx) => {
    const a = ctx.node.attrs;
    const s = shapes[0];
    const axes = reduceAxes(a, s.length);
    return [a.keepDims ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i))];
  },
});
