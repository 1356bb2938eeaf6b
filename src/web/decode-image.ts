/**
 * Image decoding in a browser: the browser's own decoder (`createImageBitmap`) and a 2D canvas, offered
 * to the core with `setImageDecoder`, so `explain`, `predict` and `prepareImage` take encoded bytes
 * (JPEG, PNG, WebP, GIF, AVIF, BMP: what the browser decodes) in a page as they do in Node.
 *
 * Decisions (Node's are in src/node/decode-image.ts):
 * - EXIF orientation is applied (`imageOrientation: 'from-image'`); colours are converted to sRGB by
 *   the browser (its colour management, not libvips').
 * - Transparency: composited onto **white**, as in Node. Without a resize the composite is computed
 *   here from the unpremultiplied pixels (within 1 of sharp's for partly transparent pixels, equal for
 *   opaque ones); with a resize the canvas composites.
 * - Resize: the canvas's (`imageSmoothingQuality: 'high'`), for both `bilinear` and `bicubic`. It is
 *   not sharp's kernel, so a resized photo differs slightly from Node's (a few levels per pixel); give
 *   pixels at the model's input size, or a preprocessed tensor, where the two must agree exactly.
 * - `wasGray` says whether every decoded pixel has R = G = B (the file's colour type is not read), and
 *   `hadAlpha` whether any pixel is not fully opaque.
 */
import { ImageError, setImageDecoder, type DecodedImage, type ResizeOptions } from '../image/rgb.js';
import { browser, canvas2d, type ImageBitmapLike } from './dom.js';

/** The container format from the first bytes, or 'unknown' (the browser may still decode it). */
export function sniffFormat(b: Uint8Array): string {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if (ascii(0, 2) === 'BM') return 'bmp';
  if (ascii(4, 8) === 'ftyp' && /avi[fs]/.test(ascii(8, 12))) return 'avif';
  return 'unknown';
}

async function bytesOf(input: string | Uint8Array, source: string): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  // a string is a URL (same-origin, blob: or data:); a page has no file paths
  let res: Awaited<ReturnType<typeof browser.fetch>>;
  try {
    res = await browser.fetch(input);
  } catch (e) {
    throw new ImageError(`${source}: cannot fetch (${(e as Error).message})`);
  }
  if (!res.ok) throw new ImageError(`${source}: cannot fetch (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The region of the source that a resize keeps: all of it (squash), or the centre the target's aspect covers. */
function sourceRect(w0: number, h0: number, r: ResizeOptions): [number, number, number, number] {
  if ((r.resize ?? 'squash') !== 'center-crop') return [0, 0, w0, h0];
  const [h, w] = r.size;
  const scale = Math.max(w / w0, h / h0);
  const sw = w / scale;
  const sh = h / scale;
  return [(w0 - sw) / 2, (h0 - sh) / 2, sw, sh];
}

/** RGBA pixels of a bitmap at its own size, not premultiplied. */
function pixelsOf(bitmap: ImageBitmapLike): Uint8ClampedArray {
  const ctx = canvas2d(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, 0, 0, bitmap.width, bitmap.height, 0, 0, bitmap.width, bitmap.height);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
}

/** RGBA → RGB composited onto white: c·a + 255·(1 − a), rounded. */
function onWhite(rgba: Uint8ClampedArray): Uint8Array {
  const n = rgba.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3];
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = a === 255 ? rgba[4 * i + c] : Math.round((rgba[4 * i + c] * a + 255 * (255 - a)) / 255);
  }
  return rgb;
}

/** The canvas's resize of `bitmap` to the target size, composited onto white. */
function resized(bitmap: ImageBitmapLike, r: ResizeOptions): Uint8Array {
  const [h, w] = r.size;
  const ctx = canvas2d(w, h);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  const [sx, sy, sw, sh] = sourceRect(bitmap.width, bitmap.height, r);
  ctx.drawImage(bitmap, sx, sy, sw, sh, 0, 0, w, h);
  return onWhite(ctx.getImageData(0, 0, w, h).data);
}

function summary(rgba: Uint8ClampedArray): { hadAlpha: boolean; wasGray: boolean } {
  let hadAlpha = false;
  let wasGray = true;
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i + 3] !== 255) hadAlpha = true;
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) wasGray = false;
  }
  return { hadAlpha, wasGray };
}

/**
 * Decode an image (encoded bytes, or a same-origin/blob:/data: URL) to 8-bit sRGB composited onto
 * white, optionally resized. Throws an ImageError naming the source when it is not an image.
 */
export async function decodeImage(input: string | Uint8Array, options: { resize?: ResizeOptions; name?: string } = {}): Promise<DecodedImage> {
  const source = options.name ?? (typeof input === 'string' ? input : '<buffer>');
  const bytes = await bytesOf(input, source);
  if (bytes.length === 0) throw new ImageError(`${source}: not a decodable image: the file is empty`);
  if (!browser.createImageBitmap) throw new ImageError(`${source}: this browser has no createImageBitmap to decode images with`);
  const format = sniffFormat(bytes);
  let bitmap: ImageBitmapLike;
  try {
    bitmap = await browser.createImageBitmap(new browser.Blob([bytes]), { imageOrientation: 'from-image', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ImageError(`${source}: not a decodable image (JPEG, PNG or WebP): ${(e as Error).message}`);
  }
  try {
    const r = options.resize;
    if (r) {
      const [h, w] = r.size;
      if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new ImageError(`${source}: bad target size [${h}, ${w}]`);
    }
    const full = pixelsOf(bitmap);
    const data = r ? resized(bitmap, r) : onWhite(full);
    const [height, width] = r ? r.size : [bitmap.height, bitmap.width];
    return { data, width, height, source, originalWidth: bitmap.width, originalHeight: bitmap.height, format, ...summary(full) };
  } finally {
    bitmap.close();
  }
}

// Importing this adapter installs the browser's decoder as the core's (image/preprocess.ts's prepareImage).
setImageDecoder(decodeImage);
