/**
 * Grouped/depthwise/dilated 2-D convolution in NHWC with explicit pads, and its input gradient computed
 * as a *forward* convolution (docs/runtime.md, "Convolution gradients as forward convolutions"): wasm has no DepthwiseConv2dNativeBackpropInput and
 * its Conv2DBackpropInput is a slow scalar loop, so the backward never goes through those kernels.
 *
 * Weights are HWIO [kH, kW, Cin/group, Cout]. Kernels derived from them (per-group slices, the flipped
 * and in/out-swapped backward kernels) can be precomputed once with `fwdKernels` / `bwdKernels`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { padOrCrop2d, takeEvery, zeroInsert2d } from './util.js';

export interface ConvGeom {
  strides: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

export type Kernels = Record<string, tf.Tensor>;
type Kind = 'dense' | 'depthwise' | 'grouped';

function kindOf(wShape: number[], group: number): Kind {
  if (group === 1) return 'dense';
  if (wShape[2] === 1) return 'depthwise';
  return 'grouped';
}

function checkGroups(wShape: number[], group: number): void {
  if (!Number.isInteger(group) || group < 1 || wShape[3] % group !== 0)
    throw new Error(`conv: ${wShape[3]} output channels cannot be split into ${group} groups`);
}

/** [kH,kW,I,O] -> spatially flipped [kH,kW,O,I]: the kernel of the transposed convolution. */
export function flipSwap(w: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])) as tf.Tensor4D;
}

function groupSlices(w: tf.Tensor4D, group: number): tf.Tensor4D[] {
  const [kH, kW, ci, co] = w.shape;
  const cog = co / group;
  return Array.from({ length: group }, (_, j) => tf.slice(w, [0, 0, 0, j * cog], [kH, kW, ci, cog]));
}

/** Forward kernels: depthwise filter [kH,kW,C,mult] or per-group weight slices (none for a dense conv). */
export function fwdKernels(w: tf.Tensor4D, group: number, p = 'f'): Kernels {
  checkGroups(w.shape, group);
  const [kH, kW, , co] = w.shape;
  const out: Kernels = {};
  const kind = kindOf(w.shape, group);
  if (kind === 'depthwise') out[`${p}0`] = tf.reshape(w, [kH, kW, group, co / group]);
  else if (kind === 'grouped') groupSlices(w, group).forEach((s, j) => (out[p + j] = s));
  return out;
}

/** Backward kernels (flipped, in/out swapped) for the input gradient. */
export function bwdKernels(w: tf.Tensor4D, group: number, p = 'b'): Kernels {
  checkGroups(w.shape, group);
  const [kH, kW, , co] = w.shape;
  const out: Kernels = {};
  const kind = kindOf(w.shape, group);
  if (kind === 'dense') out[`${p}0`] = flipSwap(w);
  // Depthwise: output channel c*mult+m reads input channel c, so flipping alone and summing the
  // multiplier afterwards gives the adjoint.
  else if (kind === 'depthwise') out[`${p}0`] = tf.tidy(() => tf.reshape(tf.reverse(w, [0, 1]), [kH, kW, co, 1]));
  else
    tf.tidy(() => groupSlices(w, group)).forEach((s, j) => {
      out[p + j] = flipSwap(s);
      s.dispose();
    });
  return out;
}

type Explicit = [[number, number], [number, number], [number, number], [number, number]];

function explicit(p: [number, number, number, number]): Explicit {
  return [
    [0, 0],
    [p[0], p[2]],
    [p[1], p[3]],
    [0, 0],
  ];
}

function subsample(y: tf.Tensor4D, s: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = y.shape;
    const rows = takeEvery(y, 1, 0, Math.floor((h - 1) / s[0]) + 1, s[0]);
    return takeEvery(rows, 2, 0, Math.floor((w - 1) / s[1]) + 1, s[1]) as tf.Tensor4D;
  });
}

const isOne = (v: [number, number]) => v[0] === 1 && v[1] === 1;

/** One dense or depthwise conv; tfjs refuses stride>1 together with dilation>1, so subsample then. */
function conv1(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  depthwise: boolean,
  s: [number, number],
  pads: [number, number, number, number],
  d: [number, number],
): tf.Tensor4D {
  const both = !isOne(s) && !isOne(d);
  const st: [number, number] = both ? [1, 1] : s;
  const y = depthwise ? tf.depthwiseConv2d(x, w, st, explicit(pads), 'NHWC', d) : tf.conv2d(x, w, st, explicit(pads), 'NHWC', d);
  if (!both) return y;
  const r = subsample(y, s);
  y.dispose();
  return r;
}

/** y = conv(x, w) with the geometry's strides, pads, dilations and groups. */
export function convForward(x: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeom, k?: Kernels, p = 'f'): tf.Tensor4D {
  return tf.tidy(() => {
    const kind = kindOf(w.shape, g.group);
    if (kind === 'dense') return conv1(x, w, false, g.strides, g.pads, g.dilations);
    const kk = k?.[`${p}0`] ? k : fwdKernels(w, g.group, p);
    if (kind === 'depthwise') return conv1(x, kk[`${p}0`] as tf.Tensor4D, true, g.strides, g.pads, g.dilations);
    const xs = tf.split(x, g.group, 3);
    return tf.concat(
      xs.map((xj, j) => conv1(xj as tf.Tensor4D, kk[p + j] as tf.Tensor4D, false, g.strides, g.pads, g.dilations)),
      3,
    );
  });
}

/**
 * Sub-pixel form of a stride-s transposed convolution, out = conv(pad(zeroInsert(src, s)), F): output
 * pixel i = s·q + r only meets the taps k ≡ P − r (mod s), so all s² phases are one stride-1 conv of
 * src with a small combined kernel (phases stacked on the output channels) followed by depthToSpace.
 * It skips the (s²−1)/s² zeros the plain zero-insertion convolves (4x fewer MACs at s = 2; ResNet's
 * 7x7/2 stem backward went from 92 to about 20 ms on wasm). Dense convs, dilation 1, equal strides,
 * kernels larger than 1x1 (those are handled by mixing channels before the zero insertion).
 */
interface PhaseGeom {
  k0: number[];
  e0: number[];
  taps: number[];
  eMin: number;
  size: number;
}

function phases(k: number, s: number, before: number): PhaseGeom {
  const k0: number[] = [],
    e0: number[] = [],
    taps: number[] = [];
  for (let r = 0; r < s; r++) {
    const first = (((before - r) % s) + s) % s;
    k0.push(first);
    taps.push(first < k ? Math.ceil((k - first) / s) : 0);
    e0.push((r + first - before) / s);
  }
  const used = taps.map((_t, r) => r).filter((r) => taps[r] > 0);
  const eMin = Math.min(...used.map((r) => e0[r]));
  const eMax = Math.max(...used.map((r) => e0[r] + taps[r] - 1));
  return { k0, e0, taps, eMin, size: eMax - eMin + 1 };
}

export const canSubPixel = (s: [number, number], d: [number, number], group: number, k: number[]) =>
  group === 1 && d[0] === 1 && d[1] === 1 && s[0] === s[1] && s[0] > 1 && k[0] * k[1] > 1;

/** The combined kernel [KcH, KcW, I, s²·O] for the flipped kernel f [kH, kW, I, O] and leading pads. */
export function subPixelKernel(f: tf.Tensor4D, s: number, before: [number, number]): tf.Tensor4D {
  const [kH, kW, I, O] = f.shape;
  const gh = phases(kH, s, before[0]),
    gw = phases(kW, s, before[1]);
  const fv = f.dataSync();
  const out = new Float32Array(gh.size * gw.size * I * s * s * O);
  const C = s * s * O;
  for (let rh = 0; rh < s; rh++)
    for (let rw = 0; rw < s; rw++)
      for (let jh = 0; jh < gh.taps[rh]; jh++)
        for (let jw = 0; jw < gw.taps[rw]; jw++) {
          const kh = gh.k0[rh] + s * jh,
            kw = gw.k0[rw] + s * jw;
          const th = gh.e0[rh] - gh.eMin + jh,
            tw = gw.e0[rw] - gw.eMin + jw;
          for (let i = 0; i < I; i++)
            for (let o = 0; o < O; o++) out[((th * gw.size + tw) * I + i) * C + (rh * s + rw) * O + o] = fv[((kh * kW + kw) * I + i) * O + o];
        }
  return tf.tensor4d(out, [gh.size, gw.size, I, C]);
}

/** out [N, outH, outW, O] of the transposed conv above, from src and the combined kernel. */
export function subPixelConv(src: tf.Tensor4D, kc: tf.Tensor4D, kShape: number[], s: number, before: [number, number], outHW: [number, number]): tf.Tensor4D {
  return tf.tidy((): tf.Tensor4D => {
    const [n, m, mw] = src.shape;
    const gh = phases(kShape[0], s, before[0]),
      gw = phases(kShape[1], s, before[1]);
    const q = Math.ceil(outHW[0] / s),
      qw = Math.ceil(outHW[1] / s);
    const srcP = padOrCrop2d(src, [-gh.eMin, q + gh.size - 1 - m + gh.eMin, -gw.eMin, qw + gw.size - 1 - mw + gw.eMin]);
    const r = tf.conv2d(srcP, kc, 1, 'valid');
    const o = r.shape[3] / (s * s);
    // depthToSpace as one rank-4 transpose (tfjs-wasm's DepthToSpace is a JS loop, ~3x slower)
    const full = tf.reshape(tf.transpose(tf.reshape(r, [n * q, qw, s, s * o]), [0, 2, 1, 3]), [n, q * s, qw * s, o]) as tf.Tensor4D;
    if (q * s === outHW[0] && qw * s === outHW[1]) return full;
    return tf.slice(full, [0, 0, 0, 0], [n, outHW[0], outHW[1], o]);
  });
}

/**
 * dx for y = conv(x, w): dy is zero-inserted (stride), padded by kEff-1-pad (plus the rows the forward
 * never reached at the bottom/right), then convolved at stride 1 with the flipped, swapped kernel.
 */
export function convInputGrad(dy: tf.Tensor4D, xShape: number[], wShape: number[], g: ConvGeom, k?: Kernels, p = 'b', w?: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, H, W] = xShape;
    const [kH, kW, , co] = wShape;
    const [sH, sW] = g.strides;
    const [dH, dW] = g.dilations;
    const [pt, pl, pb, pr] = g.pads;
    const eH = (kH - 1) * dH + 1,
      eW = (kW - 1) * dW + 1;
    const rh = (H + pt + pb - eH) % sH,
      rw = (W + pl + pr - eW) % sW;
    const pads: [number, number, number, number] = [eH - 1 - pt, eW - 1 - pl, eH - 1 - pb + rh, eW - 1 - pr + rw];
    let kk = k?.[`${p}0`] ? k : undefined;
    if (!kk) {
      if (!w) throw new Error('convInputGrad: no prepared kernels and no weight');
      kk = bwdKernels(w, g.group, p);
    }
    const kind = kindOf(wShape, g.group);
    const sp = kk[`${p}sp`] as tf.Tensor4D | undefined;
    if (sp && canSubPixel(g.strides, g.dilations, g.group, wShape)) return subPixelConv(dy, sp, wShape, sH, [pads[0], pads[1]], [H, W]);
    // 1x1: the channel mix commutes with zero insertion, so mix at the low resolution first
    if (kind === 'dense' && kH === 1 && kW === 1 && (sH > 1 || sW > 1)) {
      const mixed = tf.conv2d(dy, kk[`${p}0`] as tf.Tensor4D, 1, 'valid');
      return padOrCrop2d(zeroInsert2d(mixed, g.strides), [pads[0], pads[2], pads[1], pads[3]]);
    }
    let src: tf.Tensor4D = zeroInsert2d(dy, g.strides);
    let cp = pads;
    if (pads.some((v) => v < 0)) {
      src = padOrCrop2d(src, [pads[0], pads[2], pads[1], pads[3]]);
      cp = [0, 0, 0, 0];
    }
    if (kind === 'dense') return conv1(src, kk[`${p}0`] as tf.Tensor4D, false, [1, 1], cp, g.dilations);
    if (kind === 'depthwise') {
      const full = conv1(src, kk[`${p}0`] as tf.Tensor4D, true, [1, 1], cp, g.dilations);
      const mult = co / g.group;
      if (mult === 1) return full;
      const [n, h, wd] = full.shape;
      return tf.sum(tf.reshape(full, [n, h, wd, g.group, mult]), 4) as tf.Tensor4D;
    }
    const parts = tf.split(src, g.group, 3);
    return tf.concat(
      parts.map((dj, j) => conv1(dj as tf.Tensor4D, kk![p + j] as tf.Tensor4D, false, [1, 1], cp, g.dilations)),
      3,
    );
  });
}
