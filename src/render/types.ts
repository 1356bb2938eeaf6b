/**
 * Plain data types of the rendering module. No tfjs: every function in src/render works on typed
 * arrays, so it runs the same in Node and in a browser bundle (PNG/GIF encoding with sharp is src/node/compose.ts).
 */

/** One layer's raw attention map, row-major, `height × width`. */
export interface RawMap {
  map: Float32Array;
  height: number;
  width: number;
}

/** An 8-bit RGB image, row-major, interleaved (length `width × height × 3`). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The value range a map is normalised against (`min` maps to 0, `max` to ~1). */
export interface ValueRange {
  min: number;
  max: number;
}

export function checkMap(m: RawMap, what = 'map'): void {
  if (!Number.isInteger(m.height) || !Number.isInteger(m.width) || m.height < 1 || m.width < 1) {
    throw new RangeError(`${what}: height and width must be positive integers (got ${m.height}×${m.width})`);
  }
  if (m.map.length !== m.height * m.width) {
    throw new RangeError(`${what}: length ${m.map.length} does not match ${m.height}×${m.width}`);
  }
}

export function checkRgb(img: RgbImage, what = 'image'): void {
  if (!Number.isInteger(img.height) || !Number.isInteger(img.width) || img.height < 1 || img.width < 1) {
    throw new RangeError(`${what}: height and width must be positive integers (got ${img.height}×${img.width})`);
  }
  if (img.data.length !== img.height * img.width * 3) {
    throw new RangeError(`${what}: length ${img.data.length} does not match ${img.height}×${img.width}×3`);
  }
}
