/**
 * face-api's FaceRecognitionNet (npm `@vladmandic/face-api`, MIT; a port of dlib's ResNet-34-style face
 * descriptor network) built in naflow's IR from its weight manifest
 * (`face_recognition_model-weights_manifest.json` + `.bin`): face-api ships weights only, the
 * architecture lives in its code, so it is written out here.
 *
 *   150×150×3 → conv 7×7/2 valid (+ scale) → ReLU → max-pool 3/2 → 3 × residual(32)
 *   → residual-down(64) + 3 × residual(64) → residual-down(128) + 2 × residual(128)
 *   → residual-down(256) + 2 × residual(256) → residual-down(256) → spatial mean → fc 256×128
 *
 * A "scale" layer (per-channel weights and biases after each conv) becomes a BatchNormalization with
 * mean 0, variance 1, ε 0, which is exactly y = x·w + b and gets the exact inverse. A residual-down
 * block adds a 2×2/2 average-pooled shortcut, zero-padded on the channels when they double, and pads
 * the conv branch with a zero row/column at the bottom/right when the pooled shortcut is larger.
 * The input normalisation ((v − mean RGB) / 255) is the model card's preprocessing, not a graph node.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Graph, type Shape } from '../ir/graph.js';
import { GraphBuilder } from './tfjs-common.js';
import { decodeWeightGroup, TfjsWeightsError, type TfjsWeightGroup } from './tfjs-weights.js';
import type { ModelCard } from '../model/card.js';
import type { ModelFiles } from './files.js';

const FIRST_WEIGHT = 'conv32_down/conv/filters';
const DETECTOR_WEIGHT = 'conv1/depthwise_filter';

function hasWeight(json: unknown, name: string): boolean {
  return Array.isArray(json) && json.some((g) => Array.isArray(g?.weights) && g.weights.some((w: { name?: string }) => w?.name === name));
}

/** Whether parsed JSON is a face-api FaceRecognitionNet weight manifest. */
export function isFaceRecognitionManifest(json: unknown): boolean {
  return hasWeight(json, FIRST_WEIGHT);
}

/** Whether parsed JSON is face-api's TinyFaceDetector weight manifest. */
export function isTinyFaceDetectorManifest(json: unknown): boolean {
  return hasWeight(json, DETECTOR_WEIGHT) && hasWeight(json, 'conv8/filters');
}

/** The model card naflow uses for it when none is given (face-api's own preprocessing). */
export const FACE_RECOGNITION_CARD: ModelCard = {
  name: 'face-api FaceRecognitionNet (128-D face descriptor)',
  inputSize: [150, 150],
  channels: 3,
  // face-api 1.7: (RGB − (122.782, 117.001, 104.298)) / 255
  preprocess: { scale: 1 / 255, mean: [122.782 / 255, 117.001 / 255, 104.298 / 255], std: [1] },
  resize: 'squash',
  interpolation: 'bilinear',
  layout: 'NHWC',
  metric: 'euclidean',
  source: "@vladmandic/face-api (MIT), model/face_recognition_model-weights_manifest.json; a port of dlib's face recognition ResNet",
  licence: 'MIT (face-api); the dlib model is public domain / CC0',
};

function readWeights(files: ModelFiles, groups: TfjsWeightGroup[]): Map<string, tf.Tensor> {
  const manifestPath = files.name;
  const weights = new Map<string, tf.Tensor>();
  try {
    for (const group of groups) {
      const parts = group.paths.map((p) => {
        const f = files.sibling(p);
        if (!f.bytes) throw new TfjsWeightsError(`${manifestPath}: weight file '${p}' is missing (expected at ${f.location})`);
        return f.bytes;
      });
      const data = new Uint8Array(parts.reduce((a, b) => a + b.byteLength, 0));
      let o = 0;
      for (const p of parts) data.set(p, o), (o += p.byteLength);
      for (const [k, v] of decodeWeightGroup(
        group,
        data,
        manifestPath,
        group.paths,
        parts.map((p) => p.byteLength),
      ))
        weights.set(k, v);
    }
  } catch (e) {
    for (const t of weights.values()) t.dispose();
    throw e;
  }
  return weights;
}

/** Takes a manifest weight into the graph as a constant (optionally reshaped) and returns its name. */
type TakeWeight = (name: string, reshape?: number[]) => string;

/**
 * Read a face-api manifest's weights and build a graph from them: `build` emits the nodes, taking each
 * weight it uses with `w`. Weights no node took are disposed; on failure everything is.
 */
function buildFromManifest(json: unknown, files: ModelFiles, kind: string, build: (b: GraphBuilder, w: TakeWeight) => string): Graph {
  const manifestPath = files.name;
  const weights = readWeights(files, json as TfjsWeightGroup[]);
  const b = new GraphBuilder('face-api', manifestPath);
  const used = new Set<string>();
  const w: TakeWeight = (name, reshape) => {
    let t = weights.get(name);
    if (!t) throw new GraphError(`${manifestPath}: weight '${name}' is missing from the manifest (not a ${kind}?)`);
    used.add(name);
    if (reshape) {
      const r = tf.reshape(t, reshape);
      t.dispose();
      t = r;
    }
    return b.addConst(name, t, true);
  };
  try {
    return b.finish([build(b, w)]);
  } catch (e) {
    b.dispose();
    throw e;
  } finally {
    for (const [name, t] of weights) if (!used.has(name)) t.dispose();
  }
}

/**
 * FaceRecognitionNet's building blocks over the builder `b` and its weights `w`: conv + scale (+ ReLU),
 * the residual block, and the down-sampling residual block (its shortcut average-pooled and zero-padded).
 */
function faceRecognitionBlocks(b: GraphBuilder, w: TakeWeight) {
  const zeroOne = new Map<number, [string, string]>();
  const meanVar = (c: number): [string, string] => {
    // mean-0 / variance-1 constants, shared per channel count
    let mv = zeroOne.get(c);
    if (!mv) zeroOne.set(c, (mv = [b.addConst(`scale_mean_${c}`, tf.zeros([c])), b.addConst(`scale_var_${c}`, tf.ones([c]))]));
    return mv;
  };
  const conv = (x: string, prefix: string, stride: number, relu: boolean, valid: boolean): string => {
    const xs = b.shapeOf(x)!;
    const filt = w(`${prefix}/conv/filters`);
    const [k, , , cout] = b.shapeOf(filt)!;
    const p = valid ? 0 : (k - 1) >> 1;
    const oh = Math.floor((xs[1] + 2 * p - k) / stride) + 1,
      ow = Math.floor((xs[2] + 2 * p - k) / stride) + 1;
    const shape: Shape = [xs[0], oh, ow, cout];
    let y = b.emit(
      `${prefix}/conv`,
      'Conv',
      [x, filt, w(`${prefix}/conv/bias`)],
      { strides: [stride, stride], pads: [p, p, p, p], dilations: [1, 1], group: 1 },
      shape,
      'conv2d',
    );
    const [m, v] = meanVar(cout);
    y = b.emit(`${prefix}/scale`, 'BatchNormalization', [y, w(`${prefix}/scale/weights`), w(`${prefix}/scale/biases`), m, v], { epsilon: 0 }, shape, 'scale');
    return relu ? b.emit(`${prefix}/relu`, 'Relu', [y], {}, shape) : y;
  };
  const residual = (x: string, prefix: string): string => {
    const y = conv(conv(x, `${prefix}/conv1`, 1, true, false), `${prefix}/conv2`, 1, false, false);
    const s = b.emit(`${prefix}/add`, 'Add', [y, x], {}, b.shapeOf(x));
    return b.emit(`${prefix}/out`, 'Relu', [s], {}, b.shapeOf(x));
  };
  const residualDown = (x: string, prefix: string): string => {
    let y = conv(conv(x, `${prefix}/conv1`, 2, true, true), `${prefix}/conv2`, 1, false, false);
    const xs = b.shapeOf(x)!;
    const ph = Math.floor(xs[1] / 2),
      pw = Math.floor(xs[2] / 2);
    let pooled = b.emit(
      `${prefix}/shortcut_pool`,
      'AveragePool',
      [x],
      { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], countIncludePad: false },
      [xs[0], ph, pw, xs[3]],
    );
    const ys = b.shapeOf(y)!;
    if (ys[1] !== ph || ys[2] !== pw)
      y = b.emit(
        `${prefix}/pad_branch`,
        'Pad',
        [y],
        {
          pads: [
            [0, 0],
            [0, ph - ys[1]],
            [0, pw - ys[2]],
            [0, 0],
          ],
          mode: 'constant',
          value: 0,
        },
        [ys[0], ph, pw, ys[3]],
      );
    if (xs[3] !== ys[3])
      pooled = b.emit(
        `${prefix}/shortcut_pad`,
        'Pad',
        [pooled],
        {
          pads: [
            [0, 0],
            [0, 0],
            [0, 0],
            [0, ys[3] - xs[3]],
          ],
          mode: 'constant',
          value: 0,
        },
        [xs[0], ph, pw, ys[3]],
      );
    const s = b.emit(`${prefix}/add`, 'Add', [pooled, y], {}, [ys[0], ph, pw, ys[3]]);
    return b.emit(`${prefix}/out`, 'Relu', [s], {}, [ys[0], ph, pw, ys[3]]);
  };
  return { conv, residual, residualDown };
}

export function importFaceRecognitionNet(json: unknown, files: ModelFiles): Graph {
  return buildFromManifest(json, files, 'FaceRecognitionNet', (b, w) => {
    const { conv, residual, residualDown } = faceRecognitionBlocks(b, w);
    let x = b.addInput('image', [-1, 150, 150, 3]);
    x = conv(x, 'conv32_down', 2, true, true);
    const xs = b.shapeOf(x)!;
    const po = Math.floor((xs[1] - 3) / 2) + 1;
    x = b.emit('maxpool', 'MaxPool', [x], { kernel: [3, 3], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], countIncludePad: false }, [
      xs[0],
      po,
      po,
      xs[3],
    ]);
    for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(x, p);
    x = residualDown(x, 'conv64_down');
    for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) x = residual(x, p);
    x = residualDown(x, 'conv128_down');
    for (const p of ['conv128_1', 'conv128_2']) x = residual(x, p);
    x = residualDown(x, 'conv256_down');
    for (const p of ['conv256_1', 'conv256_2']) x = residual(x, p);
    x = residualDown(x, 'conv256_down_out');
    const fs4 = b.shapeOf(x)!;
    const pooled = b.emit('global_avg', 'ReduceMean', [x], { axes: [1, 2], keepDims: false }, [fs4[0], fs4[3]]);
    const fc = w('fc');
    return b.emit('descriptor', 'MatMul', [pooled, fc], {}, [fs4[0], b.shapeOf(fc)![1]]);
  });
}

/** face-api's TinyFaceDetector input: 416×416, (RGB − mean) / 255, the image padded to a square first. */
export const TINY_FACE_DETECTOR = {
  inputSize: 416,
  meanRgb: [117.001, 114.697, 97.404],
  /** anchor boxes (width, height) in grid cells */
  anchors: [
    [1.603231, 2.094468],
    [6.041143, 7.080126],
    [2.882459, 3.518061],
    [4.266906, 5.178857],
    [9.041765, 10.66308],
  ],
};

/**
 * TinyFaceDetector (a Tiny-YOLOv2 with depthwise-separable convs): conv 3×3 valid → 5 × [max-pool 2,
 * separable conv 3×3 + bias, LeakyReLU 0.1] (the last pool has stride 1) → 1×1 conv to 5 anchors ×
 * (x, y, w, h, score) on a 13×13 grid for a 416 input. Decoding lives in similarity/faces.ts.
 */
export function importTinyFaceDetector(json: unknown, files: ModelFiles): Graph {
  return buildFromManifest(json, files, 'TinyFaceDetector', (b, w) => {
    const leaky = (x: string, name: string) => b.emit(name, 'LeakyRelu', [x], { alpha: 0.1 }, b.shapeOf(x));
    const pool = (x: string, name: string, stride: number): string => {
      const [n, h, wd, c] = b.shapeOf(x)!;
      // TensorFlow 'same': the extra row/column of padding goes to the bottom/right
      const oh = Math.ceil(h / stride),
        ow = Math.ceil(wd / stride);
      const ph = Math.max(0, (oh - 1) * stride + 2 - h),
        pw = Math.max(0, (ow - 1) * stride + 2 - wd);
      const pads = [Math.floor(ph / 2), Math.floor(pw / 2), ph - Math.floor(ph / 2), pw - Math.floor(pw / 2)];
      return b.emit(name, 'MaxPool', [x], { kernel: [2, 2], strides: [stride, stride], pads, dilations: [1, 1], countIncludePad: false }, [n, oh, ow, c]);
    };
    const size = TINY_FACE_DETECTOR.inputSize;
    let x = b.addInput('image', [-1, size, size, 3]);
    x = b.emit(
      'conv0',
      'Conv',
      [x, w('conv0/filters'), w('conv0/bias')],
      { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
      [-1, size - 2, size - 2, 16],
      'conv2d',
    );
    x = leaky(x, 'conv0/leaky');
    for (let i = 1; i <= 5; i++) {
      x = pool(x, `pool${i - 1}`, 2);
      const [n, h, wd, c] = b.shapeOf(x)!;
      const dw = b.emit(
        `conv${i}/depthwise`,
        'Conv',
        [x, w(`conv${i}/depthwise_filter`, [3, 3, 1, c])],
        { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: c },
        [n, h, wd, c],
        'depthwiseConv2d',
      );
      const pf = w(`conv${i}/pointwise_filter`);
      const co = b.shapeOf(pf)![3];
      x = b.emit(
        `conv${i}/pointwise`,
        'Conv',
        [dw, pf, w(`conv${i}/bias`)],
        { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
        [n, h, wd, co],
        'conv2d',
      );
      x = leaky(x, `conv${i}/leaky`);
    }
    x = pool(x, 'pool5', 1);
    const [n, h, wd] = b.shapeOf(x)!;
    const f8 = w('conv8/filters');
    return b.emit(
      'boxes',
      'Conv',
      [x, f8, w('conv8/bias')],
      { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
      [n, h, wd, b.shapeOf(f8)![3]],
      'conv2d',
    );
  });
}
