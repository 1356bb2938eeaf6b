/**
 * Image decoding and resizing with sharp (libvips).
 *
 * Decisions:
 * - Formats: JPEG, PNG and WebP are the supported inputs. Other raster formats that sharp decodes
 *   (TIFF, GIF, AVIF) are accepted too; an animated image contributes its first frame.
 * - EXIF orientation is applied (a phone photo comes out upright).
 * - Transparency: the image is composited onto **white** and the alpha channel dropped (a transparent
 *   background then looks like paper, not like black, which is how viewers show it).
 * - Colour: everything is converted to 8-bit sRGB; a grayscale image is replicated to R = G = B.
 *   For 1-channel models the resized RGB is turned into luminance with the ITU-R BT.601 weights
 *   Y = 0.299 R + 0.587 G + 0.114 B (as PIL's "L" mode, but not rounded), so a gray image keeps its
 *   exact gray values.
 * - Resize: `bilinear` = sharp's `linear` kernel, `bicubic` = sharp's `cubic` kernel (Catmull-Rom,
 *   a = −0.5). When shrinking, libvips widens the kernel by the scale factor (anti-aliased, like PIL
 *   and torchvision's antialias=True), unlike tf.image.resizeBilinear. JPEG shrink-on-load is off, so
 *   the result does not depend on the JPEG decoder's DCT scaling.
 * - `squash` resizes to exactly [H, W] (aspect ratio not kept); `center-crop` resizes so the image
 *   covers [H, W] (the shorter side, relative to the target, becomes the target) and crops the centre;
 *   with `resizeShorter` the shorter side is resized to that many pixels first and the centre [H, W]
 *   cut out of the result, as torchvision's Resize(resizeShorter) + CenterCrop([H, W]) (its size and
 *   offset rounding; the resampling is libvips', so values differ from PIL's by a few levels).
 */
import fs from 'node:fs';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { framingOf, ImageError, setImageDecoder, type DecodedImage, type ResizeOptions } from '../image/rgb.js';

export {
  ImageError,
  framingOf,
  shorterSideTo,
  IMAGE_EXTENSIONS,
  looksLikeImageFile,
  luminance,
  type ResizeMode,
  type Interpolation,
  type ResizeOptions,
  type RgbImage,
  type DecodedImage,
} from '../image/rgb.js';

const WHITE = { r: 255, g: 255, b: 255 };

function sourceName(input: string | Uint8Array, name?: string): string {
  return name ?? (typeof input === 'string' ? input : '<buffer>');
}

function notDecodable(source: string, reason: string): ImageError {
  return new ImageError(`${source}: not a decodable image (JPEG, PNG or WebP): ${reason}`);
}

/** The largest image file naflow reads (a 100-megapixel PNG is ~300 MB). */
const MAX_IMAGE_BYTES = 512 * 2 ** 20;

function readInput(input: string | Uint8Array, source: string): Buffer {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch {
    throw new ImageError(`${source}: no such file`);
  }
  if (st.isDirectory()) throw new ImageError(`${source}: is a directory, not an image file`);
  // a device or pipe (/dev/zero) would be read without end
  if (!st.isFile()) throw new ImageError(`${source}: not a regular file (a device or pipe); give an image file`);
  if (st.size > MAX_IMAGE_BYTES)
    throw new ImageError(`${source}: ${(st.size / 2 ** 20).toFixed(0)} MB is over the ${MAX_IMAGE_BYTES / 2 ** 20} MB naflow reads for an image`);
  return fs.readFileSync(input);
}

/**
 * Decode an image file (or encoded bytes) to 8-bit sRGB, optionally resized. Throws an ImageError
 * naming the file when it is missing or not an image.
 */
export async function decodeImage(input: string | Uint8Array, options: { resize?: ResizeOptions; name?: string } = {}): Promise<DecodedImage> {
  const source = sourceName(input, options.name);
  const bytes = readInput(input, source);
  if (bytes.length === 0) throw notDecodable(source, 'the file is empty');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'error' }).metadata();
  } catch (e) {
    throw notDecodable(source, (e as Error).message);
  }
  if (!meta.format || meta.format === 'svg' || meta.format === 'pdf' || !meta.width || !meta.height)
    throw notDecodable(source, `format '${meta.format ?? 'unknown'}' is not a raster image`);
  // After EXIF orientation 5-8 width and height swap.
  const swap = (meta.orientation ?? 1) >= 5;
  const originalWidth = swap ? meta.height : meta.width;
  const originalHeight = swap ? meta.width : meta.height;
  const wasGray = meta.channels === 1 || meta.channels === 2 || meta.space === 'b-w' || meta.space === 'grey16';

  let pipeline = sharp(bytes, { failOn: 'error' })
    .rotate() // EXIF auto-orientation
    .flatten({ background: WHITE })
    .toColourspace('srgb');
  const r = options.resize;
  if (r) pipeline = resizeStep(pipeline, r, source, originalWidth, originalHeight);
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw notDecodable(source, (e as Error).message);
  }
  const { width, height, channels } = raw.info;
  let data = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  if (channels === 1) {
    // defensive: replicate gray should libvips keep one band
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
    data = rgb;
  } else if (channels !== 3) {
    throw notDecodable(source, `decoded to ${channels} channels`);
  }
  return {
    data,
    width,
    height,
    source,
    originalWidth,
    originalHeight,
    format: meta.format,
    hadAlpha: meta.hasAlpha ?? false,
    wasGray,
  };
}

/** The resize step of the pipeline (see the header for the modes). */
function resizeStep(pipeline: Sharp, r: ResizeOptions, source: string, width: number, height: number): Sharp {
  const [h, w] = r.size;
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new ImageError(`${source}: bad target size [${h}, ${w}]`);
  const kernel = (r.interpolation ?? 'bilinear') === 'bicubic' ? 'cubic' : 'linear';
  const mode = r.resize ?? 'squash';
  if (mode === 'center-crop' && r.resizeShorter !== undefined) {
    if (!(Number.isInteger(r.resizeShorter) && r.resizeShorter >= Math.max(h, w)))
      throw new ImageError(`${source}: resizeShorter ${r.resizeShorter} is smaller than the crop [${h}, ${w}]`);
    const { resized, left, top } = framingOf(width, height, r);
    // extract after resize: sharp cuts the crop out of the resized image
    return pipeline.resize({ width: resized[0], height: resized[1], fit: 'fill', kernel, fastShrinkOnLoad: false }).extract({ left, top, width: w, height: h });
  }
  return pipeline.resize({ width: w, height: h, fit: mode === 'center-crop' ? 'cover' : 'fill', position: 'centre', kernel, fastShrinkOnLoad: false });
}

// Importing this adapter installs sharp as the core's decoder (image/preprocess.ts's prepareImage).
setImageDecoder(decodeImage);
