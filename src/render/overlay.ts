/**
 * Blending a coloured map onto the image (reference code: 0.4·colour + 0.8·image, written out with
 * OpenCV's conversion to 8 bits, i.e. rounded to nearest and clamped to 0..255):
 *
 *   out = clamp(round(alpha·colour + beta·image + gamma), 0, 255)     per channel
 *
 * Rounding is half-to-even (Uint8ClampedArray's rule, the same as OpenCV's saturate_cast); with the
 * default weights exact halves cannot occur for integer inputs anyway.
 */
export interface BlendOptions {
  /** weight of the colour map (default 0.4) */
  alpha?: number;
  /** weight of the image (default 0.8) */
  beta?: number;
  /** added to every channel (default 0) */
  gamma?: number;
}

export const DEFAULT_ALPHA = 0.4;
export const DEFAULT_BETA = 0.8;

/** Blend two RGB buffers of equal length; returns a new RGB buffer. */
export function overlay(colour: ArrayLike<number>, image: ArrayLike<number>, opts: BlendOptions = {}): Uint8Array {
  if (colour.length !== image.length) {
    throw new RangeError(`overlay: colour (${colour.length}) and image (${image.length}) lengths differ`);
  }
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  const beta = opts.beta ?? DEFAULT_BETA;
  const gamma = opts.gamma ?? 0;
  const out = new Uint8ClampedArray(colour.length);
  for (let i = 0; i < out.length; i++) out[i] = alpha * colour[i]! + beta * image[i]! + gamma;
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
