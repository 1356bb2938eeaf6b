/**
 * Images as the core takes them: decoded 8-bit RGB. Decoding files and encoded bytes is a host's job
 * (Node: sharp, src/node/decode-image.ts), offered to the core through `setImageDecoder`.
 */
import { InputError } from '../util/errors.js';

export type ResizeMode = 'squash' | 'center-crop';
export type Interpolation = 'bilinear' | 'bicubic';

export class ImageError extends InputError {}

/** Extensions naflow treats as image files (for telling images from models on the command line). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/** Whether a path's extension (as Node's path.extname gives it) is an image file's. */
export function looksLikeImageFile(file: string): boolean {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.includes(base.slice(dot).toLowerCase());
}

export interface ResizeOptions {
  /** target [height, width] */
  size: [number, number];
  resize?: ResizeMode;
  /**
   * center-crop only: resize the shorter side to this many pixels (the longer to ⌊resizeShorter·long/short⌋,
   * as torchvision's Resize(int)), then cut the centre `size` out (offsets as torchvision's CenterCrop).
   * Must be ≥ both sides of `size`. Without it the shorter side is resized to the crop (sharp's `cover`).
   */
  resizeShorter?: number;
  interpolation?: Interpolation;
}

/** How a resize frames a width×height image: scaled to `resized` [width, height], then [left, top] is the crop's corner. */
export interface Framing {
  resized: [number, number];
  left: number;
  top: number;
}

/**
 * The framing of a resize (the decoder's, src/node/decode-image.ts, follows it): squash scales to the
 * target; a centre crop with `resizeShorter` is torchvision's Resize + CenterCrop, exactly; a centre crop
 * without it is sharp's `cover`, to within a pixel.
 */
export function framingOf(width: number, height: number, r: ResizeOptions): Framing {
  const [h, w] = r.size;
  if ((r.resize ?? 'squash') === 'squash') return { resized: [w, h], left: 0, top: 0 };
  if (r.resizeShorter !== undefined) {
    const resized = shorterSideTo(width, height, r.resizeShorter);
    return { resized, left: roundHalfEven((resized[0] - w) / 2), top: roundHalfEven((resized[1] - h) / 2) };
  }
  const scale = Math.max(w / width, h / height);
  const resized: [number, number] = [Math.max(w, Math.round(width * scale)), Math.max(h, Math.round(height * scale))];
  // libvips' centre gravity rounds a half-pixel offset up (451×300 → 337×224 is cut from column 57)
  return { resized, left: Math.round((resized[0] - w) / 2), top: Math.round((resized[1] - h) / 2) };
}

/** [width, height] with the shorter side `s` and the longer ⌊s·long/short⌋ (torchvision's Resize(int)). */
export function shorterSideTo(width: number, height: number, s: number): [number, number] {
  if (width <= height) return [s, Math.floor((s * height) / width)];
  return [Math.floor((s * width) / height), s];
}

/** Python's round(), which torchvision's CenterCrop uses for its offsets: (341 − 224)/2 = 58.5 → 58. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  if (x - f !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/** An 8-bit sRGB image, row-major, 3 interleaved channels. */
export interface RgbImage {
  /** length width·height·3 */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodedImage extends RgbImage {
  /** where it came from (file path or '<buffer>'), for messages */
  source: string;
  /** size of the decoded image before any resize (after EXIF orientation) */
  originalWidth: number;
  originalHeight: number;
  /** detected container format, e.g. 'jpeg', 'png', 'webp' */
  format: string;
  /** whether the source had an alpha channel (composited onto white) */
  hadAlpha: boolean;
  /** whether the source was grayscale (replicated to RGB) */
  wasGray: boolean;
}

/** Decodes an image (a file path or encoded bytes), optionally resized. */
export type ImageDecoder = (input: string | Uint8Array, options: { resize?: ResizeOptions; name?: string }) => Promise<DecodedImage>;

let decoder: ImageDecoder | undefined;

/** Install the host's image decoder (the Node adapter installs sharp's when it is loaded). */
export function setImageDecoder(d: ImageDecoder): void {
  decoder = d;
}

/** Decode with the installed decoder; an ImageError where the host has none. */
export function decodeWithHost(input: string | Uint8Array, options: { resize?: ResizeOptions; name?: string } = {}): Promise<DecodedImage> {
  if (!decoder)
    throw new ImageError(
      `${options.name ?? (typeof input === 'string' ? input : '<buffer>')}: no image decoder is installed (pass decoded RGB, or load naflow's Node entry)`,
    );
  return decoder(input, options);
}

/** Luminance (ITU-R BT.601 weights, not rounded) of an RGB image: one float per pixel. */
export function luminance(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) out[i] = 0.299 * d[3 * i] + 0.587 * d[3 * i + 1] + 0.114 * d[3 * i + 2];
  return out;
}
