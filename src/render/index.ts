/**
 * Rendering NAFlow maps (docs/spec.md §8): normalise → bilinear resize to the image → colour map → blend.
 *
 *   renderLayer(map, image)                      one layer, the paper's per-layer normalisation
 *   renderFlow(maps, image, { normalize: 'global' })  all layers on one shared scale
 *
 * Pure TypeScript over typed arrays (no Node, no sharp): encoding PNGs, strips and GIFs is the Node
 * adapter src/node/compose.ts.
 */
import { colorize, type ColormapName } from './colormap.js';
import { mapRange, normalizeMap, globalRange, type NormalizeMode } from './normalize.js';
import { overlay, type BlendOptions } from './overlay.js';
import { resizeBilinear } from './resize.js';
import { checkMap, checkRgb, type RawMap, type RgbImage, type ValueRange } from './types.js';

export type { RawMap, RgbImage, ValueRange } from './types.js';
export { mapRange, globalRange, normalizeMap, normalizeMaps, NORMALIZE_EPS, type NormalizeMode } from './normalize.js';
export { resizeBilinear, resizeMap } from './resize.js';
export { COLORMAPS, colormapLut, colorAt, colorize, colorbar, lutIndex, type ColormapName } from './colormap.js';
export { overlay, DEFAULT_ALPHA, DEFAULT_BETA, type BlendOptions } from './overlay.js';
export { carriesPicture } from './layers.js';

export interface RenderOptions extends BlendOptions {
  /**
   * 'layer' (default): against the map's own min/max (the paper's);
   * 'global': against `range` (pass globalRange(allMaps)), so layers share one scale;
   * 'none': the map is already in [0, 1] (values outside are clamped by the colour map).
   */
  normalize?: NormalizeMode | 'none';
  /** explicit value range; used by 'global', and overrides the map's own range in 'layer' mode */
  range?: ValueRange;
  /** colour map (default 'jet', as the reference code) */
  colormap?: ColormapName;
}

/** Normalise, resize to the image, colour and blend one map; returns the overlay at image size. */
export function renderLayer(map: RawMap, image: RgbImage, opts: RenderOptions = {}): RgbImage {
  checkMap(map);
  checkRgb(image);
  const mode = opts.normalize ?? 'layer';
  let norm: Float32Array;
  if (mode === 'none') norm = map.map;
  else if (mode === 'layer') norm = normalizeMap(map.map, opts.range ?? mapRange(map.map));
  else if (mode === 'global') {
    if (!opts.range) throw new RangeError("renderLayer: normalize 'global' needs `range` (use globalRange(maps) or renderFlow)");
    norm = normalizeMap(map.map, opts.range);
  } else throw new RangeError(`renderLayer: unknown normalize mode '${String(mode)}'`);
  const resized = resizeBilinear(norm, map.height, map.width, image.height, image.width);
  const colour = colorize(resized, opts.colormap ?? 'jet');
  return { data: overlay(colour, image.data, opts), width: image.width, height: image.height };
}

/** Render every layer's map onto the same image; 'global' computes the shared range itself. */
export function renderFlow(maps: ReadonlyArray<RawMap>, image: RgbImage, opts: RenderOptions = {}): RgbImage[] {
  const range = opts.normalize === 'global' ? (opts.range ?? globalRange(maps)) : opts.range;
  return maps.map((m) => renderLayer(m, image, { ...opts, range }));
}

/** The colour image of one map alone (no blending), at the map's own size or resized to `size`. */
export function heatmap(
  map: RawMap,
  opts: Pick<RenderOptions, 'normalize' | 'range' | 'colormap'> & { size?: { width: number; height: number } } = {},
): RgbImage {
  checkMap(map);
  const mode = opts.normalize ?? 'layer';
  if (mode === 'global' && !opts.range) throw new RangeError("heatmap: normalize 'global' needs `range` (use globalRange(maps))");
  const norm = mode === 'none' ? map.map : normalizeMap(map.map, opts.range ?? mapRange(map.map));
  const w = opts.size?.width ?? map.width;
  const h = opts.size?.height ?? map.height;
  const resized = resizeBilinear(norm, map.height, map.width, h, w);
  return { data: colorize(resized, opts.colormap ?? 'jet'), width: w, height: h };
}
