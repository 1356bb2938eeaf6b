/**
 * From an image file to the model's input tensor: decode, resize (squash or centre crop), pick the
 * channels, normalise. What to do comes from the model card, else from the model's declared input
 * shape (NHWC), else it is an error.
 *
 * Normalisation, per channel c, with v the 8-bit value (0..255):
 *   imagenet  (v/255 − (0.485, 0.456, 0.406)[c]) / (0.229, 0.224, 0.225)[c]
 *   unit      v/255
 *   raw255    v
 *   custom    (v·scale − mean[c]) / std[c]        (mean/std with 1 value apply to every channel)
 * For a 1-channel model v is the luminance (see rgb.ts) and a 3-value mean/std (the imagenet
 * preset included) is replaced by the average of its three values. When the card gives no
 * `preprocess`, naflow uses `unit` (x/255).
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type ValueInfo } from '../ir/graph.js';
import type { LoadedCard, PreprocessCustom, PreprocessPreset } from '../model/card.js';
import { decodeWithHost, ImageError, luminance, type DecodedImage, type Interpolation, type ResizeMode, type ResizeOptions, type RgbImage } from './rgb.js';

export { ImageError } from './rgb.js';

export interface Normalisation {
  scale: number;
  mean: number[];
  std: number[];
}

export const PRESETS: Record<PreprocessPreset, Normalisation> = {
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { scale: 1 / 255, mean: [0], std: [1] },
  raw255: { scale: 1, mean: [0], std: [1] },
};

export const DEFAULT_PREPROCESS: PreprocessPreset = 'unit';

/** Everything needed to turn an image into a model input. */
export interface ImageSpec {
  /** [height, width] */
  size: [number, number];
  channels: 1 | 3;
  preprocess: PreprocessPreset | PreprocessCustom;
  resize: ResizeMode;
  /** center-crop only: the shorter side's size before the crop (absent: the crop's size) */
  resizeShorter?: number;
  interpolation: Interpolation;
}

/** The parts of a Model this module needs (so it can be used without the engine). */
export interface ImageModelLike {
  card: LoadedCard;
  inputs: ValueInfo[];
  graph?: { source: string };
}

function modelName(model: ImageModelLike): string {
  return model.graph?.source ?? 'the model';
}

/**
 * The image spec of a model: card fields first, then the declared input shape [N, H, W, C].
 * Errors name the model input, its shape, and what an image can give.
 */
export function imageSpecFor(model: ImageModelLike, overrides: Partial<ImageSpec> = {}): ImageSpec {
  const card = model.card ?? {};
  const name = modelName(model);
  const input = model.inputs[0];
  if (!input) throw new ImageError(`${name}: the model declares no input`);
  if (model.inputs.length > 1)
    throw new ImageError(
      `${name}: the model has ${model.inputs.length} inputs (${model.inputs.map((i) => `'${i.name}'`).join(', ')}); naflow feeds an image to single-input models only`,
    );
  const shape = input.shape;
  const shapeText = `[${shape.map((d) => (d < 0 ? '?' : d)).join(', ')}]`;
  const where = card.cardPath ? ` (${card.cardPath})` : ` (add it to the model card ${cardHint(name)})`;
  if (shape.length !== 4)
    throw new ImageError(`${name}: model input '${input.name}' has shape ${shapeText}, not an image input [N, H, W, C]; an image gives [1, H, W, 1 or 3]`);
  const declaredC = shape[3];
  let channels = overrides.channels ?? card.channels;
  if (declaredC > 0 && declaredC !== 1 && declaredC !== 3)
    throw new ImageError(
      `${name}: model input '${input.name}' has ${declaredC} channels (shape ${shapeText}, NHWC); an image gives 1 (grayscale) or 3 (RGB) channels`,
    );
  if (channels !== undefined && declaredC > 0 && channels !== declaredC)
    throw new ImageError(
      `${name}: the model card says channels ${channels} but model input '${input.name}' has ${declaredC} channels (shape ${shapeText}, NHWC)`,
    );
  if (channels === undefined) {
    if (declaredC === 1 || declaredC === 3) channels = declaredC;
    else
      throw new ImageError(
        `${name}: model input '${input.name}' has shape ${shapeText} with an unknown channel count and no 'channels' in its model card${where}`,
      );
  }
  let size = overrides.size ?? card.inputSize;
  if (!size) {
    const [h, w] = [shape[1], shape[2]];
    if (!(h > 0 && w > 0))
      throw new ImageError(
        `${name}: model input '${input.name}' has shape ${shapeText} (NHWC) with unknown height/width and no 'inputSize' in its model card${where}`,
      );
    size = [h, w];
  } else if (shape[1] > 0 && shape[2] > 0 && (shape[1] !== size[0] || shape[2] !== size[1])) {
    throw new ImageError(
      `${name}: input size [${size.join(', ')}] (${overrides.size ? 'requested' : 'model card'}) differs from model input '${input.name}' shape ${shapeText} (NHWC)`,
    );
  }
  checkInputSize(
    size,
    overrides.size ? 'requested with --input-size' : card.inputSize ? `the model card's inputSize${where}` : 'declared by the model',
    name,
    input.name,
  );
  const preprocess = overrides.preprocess ?? card.preprocess ?? DEFAULT_PREPROCESS;
  normalisationOf(preprocess, channels, card.cardPath ?? name); // validate now
  const resize = overrides.resize ?? card.resize ?? 'squash';
  const spec: ImageSpec = {
    size: [size[0], size[1]],
    channels,
    preprocess,
    resize,
    interpolation: overrides.interpolation ?? card.interpolation ?? 'bilinear',
  };
  // an override of the resize mode brings its own resizeShorter (or none); the card's goes with the card's mode
  const resizeShorter = overrides.resize !== undefined ? overrides.resizeShorter : (overrides.resizeShorter ?? card.resizeShorter);
  if (resize === 'center-crop' && resizeShorter !== undefined) {
    if (!Number.isInteger(resizeShorter) || resizeShorter < Math.max(...spec.size))
      throw new ImageError(
        `${card.cardPath ?? name}: resizeShorter ${resizeShorter} must be an integer at least the larger side of the input size [${spec.size.join(', ')}] (the crop is cut from the resized image)`,
      );
    spec.resizeShorter = resizeShorter;
  }
  return spec;
}

/** The largest model input naflow runs: per side, and in all (8192² RGB float32 is 768 MB before any layer). */
export const MAX_INPUT_SIDE = 16384;
const MAX_INPUT_PIXELS = 8192 * 8192;

/** An input size too large to run is the model's (or the card's) to fix, said before any image is resized to it. */
function checkInputSize([h, w]: readonly number[], from: string, model: string, input: string): void {
  if (h <= MAX_INPUT_SIDE && w <= MAX_INPUT_SIDE && h * w <= MAX_INPUT_PIXELS) return;
  throw new GraphError(
    `${model}: model input '${input}' is ${h}×${w} pixels (${from}), more than naflow runs (at most ${MAX_INPUT_SIDE} per side and 8192×8192 in all); ` +
      (from.startsWith('declared')
        ? 'export the model again at the size it was trained at (or with a symbolic height and width, then give --input-size HxW)'
        : 'give the size the model was trained at with --input-size HxW or inputSize in its model card (docs/models.md)'),
  );
}

function cardHint(modelSource: string): string {
  if (/\.onnx$/i.test(modelSource)) return modelSource.replace(/\.onnx$/i, '.naflow.json');
  if (/model\.json$/i.test(modelSource)) return modelSource.replace(/model\.json$/i, 'model.naflow.json');
  return '<model>.naflow.json';
}

/** Per-channel scale/mean/std (length = channels) for a preset or custom setting. */
export function normalisationOf(p: PreprocessPreset | PreprocessCustom, channels: 1 | 3, where = 'preprocess'): Normalisation {
  let n: Normalisation;
  if (typeof p === 'string') {
    const preset = PRESETS[p];
    if (!preset) throw new ImageError(`${where}: unknown preprocess preset '${p}' (imagenet, unit, raw255 or {scale, mean, std})`);
    n = preset;
  } else {
    const ok = (a: unknown) => Array.isArray(a) && (a.length === 1 || a.length === 3) && a.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (typeof p.scale !== 'number' || !Number.isFinite(p.scale)) throw new ImageError(`${where}: preprocess.scale must be a number`);
    const mean = p.mean ?? [0];
    const std = p.std ?? [1];
    if (!ok(mean)) throw new ImageError(`${where}: preprocess.mean must be 1 or 3 numbers, got ${JSON.stringify(p.mean)}`);
    if (!ok(std) || std.some((v) => v === 0)) throw new ImageError(`${where}: preprocess.std must be 1 or 3 non-zero numbers, got ${JSON.stringify(p.std)}`);
    n = { scale: p.scale, mean: [...mean], std: [...std] };
  }
  const fit = (a: number[]): number[] => {
    if (a.length === channels) return a;
    if (a.length === 1) return new Array(channels).fill(a[0]);
    return [a.reduce((s, v) => s + v, 0) / a.length]; // 3 values, 1 channel
  };
  return { scale: n.scale, mean: fit(n.mean), std: fit(n.std) };
}

/**
 * Normalise an (already resized) RGB image into a float32 HWC array with `channels` channels.
 * Each value is computed in double precision and stored as float32.
 */
export function normalisePixels(img: RgbImage, channels: 1 | 3, p: PreprocessPreset | PreprocessCustom): Float32Array {
  const { scale, mean, std } = normalisationOf(p, channels);
  const n = img.width * img.height;
  if (channels === 1) {
    const y = luminance(img);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (y[i] * scale - mean[0]) / std[0];
    return out;
  }
  const out = new Float32Array(n * 3);
  const d = img.data;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = (d[3 * i + c] * scale - mean[c]) / std[c];
  return out;
}

export interface PreparedImage {
  /** float32 NHWC [1, H, W, C]; owned by the caller (dispose it) */
  tensor: tf.Tensor4D;
  /** the resized image as 8-bit RGB (also for 1-channel models), e.g. for overlays */
  rgb: DecodedImage;
  spec: ImageSpec;
}

/** An image for a model: a file path or encoded bytes (decoded by the host), or RGB already at the model's size. */
export type ImageInput = string | Uint8Array | RgbImage;

function isRgbImage(input: ImageInput): input is RgbImage {
  return typeof input === 'object' && !(input instanceof Uint8Array);
}

/** Decoded RGB taken as it is: the core has no image resampler, so it must be the spec's size already. */
function decodedAsIs(img: RgbImage, spec: ImageSpec, name = '<rgb>'): DecodedImage {
  const [h, w] = spec.size;
  if (img.height !== h || img.width !== w || img.data.length !== w * h * 3)
    throw new ImageError(`${name}: decoded RGB of ${img.width}×${img.height} given; the model takes ${w}×${h} (resize it first)`);
  return { ...img, source: name, originalWidth: w, originalHeight: h, format: 'rgb', hadAlpha: false, wasGray: false };
}

/** Decode, resize and normalise an image for a spec. */
export async function prepareImageForSpec(input: ImageInput, spec: ImageSpec, name?: string): Promise<PreparedImage> {
  const rgb = isRgbImage(input) ? decodedAsIs(input, spec, name) : await decodeWithHost(input, { name, resize: resizeOptionsOf(spec) });
  const values = normalisePixels(rgb, spec.channels, spec.preprocess);
  const tensor = tf.tensor4d(values, [1, rgb.height, rgb.width, spec.channels], 'float32');
  return { tensor, rgb, spec };
}

/** Decode, resize and normalise an image for a model (spec from its card and input shape). */
export async function prepareImage(model: ImageModelLike, input: ImageInput, overrides: Partial<ImageSpec> = {}, name?: string): Promise<PreparedImage> {
  return prepareImageForSpec(input, imageSpecFor(model, overrides), name);
}

/**
 * The image again, framed as the model saw it (same resize mode) but `size` pixels on its longer
 * side: for drawing the maps of small-input models (32×32 CIFAR, 105×105 Omniglot) at a readable size.
 */
export async function displayImage(input: string | Uint8Array, spec: ImageSpec, size: number): Promise<DecodedImage> {
  const [h, w] = spec.size;
  const scale = size / Math.max(h, w);
  const shown: ImageSpec = { ...spec, size: [Math.round(h * scale), Math.round(w * scale)] };
  if (spec.resizeShorter !== undefined) shown.resizeShorter = Math.max(Math.round(spec.resizeShorter * scale), ...shown.size);
  return decodeWithHost(input, { resize: resizeOptionsOf(shown) });
}

/** What the host's decoder needs of a spec to resize an image as the model sees it. */
export function resizeOptionsOf(spec: ImageSpec): ResizeOptions {
  const r: ResizeOptions = { size: spec.size, resize: spec.resize, interpolation: spec.interpolation };
  if (spec.resizeShorter !== undefined) r.resizeShorter = spec.resizeShorter;
  return r;
}
