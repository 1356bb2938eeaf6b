/**
 * Localisation metrics against ground-truth boxes ([x0, y0, x1, y1] in image pixels, inclusive):
 *   pointing game (Zhang et al. 2016): a hit when the map's maximum (the centre of its arg-max cell,
 *     scaled to the image) lies inside a box, optionally within `tolerance` pixels of one; always
 *     reported beside the centre-point baseline (`centreHit`), since ImageNet objects are large;
 *   energy-based pointing game (Wang et al. 2020, Score-CAM): the share of the min–max normalised map,
 *     upsampled to the image, that falls inside the boxes; the uniform map's share (`boxAreaShare`) is
 *     its baseline.
 */
import { upsample } from './faithfulness.js';
import { value, type EvalMetric } from './registry.js';

export type Box = [number, number, number, number];

function inside(x: number, y: number, boxes: Box[], tol: number): boolean {
  return boxes.some(([x0, y0, x1, y1]) => x >= x0 - tol && x <= x1 + tol && y >= y0 - tol && y <= y1 + tol);
}

/** The arg-max cell's centre in image pixels: [x, y]. */
export function argmaxPoint(map: Float32Array, mh: number, mw: number, width: number, height: number): [number, number] {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  return [((best % mw) + 0.5) * (width / mw), (Math.floor(best / mw) + 0.5) * (height / mh)];
}

export function pointingHit(map: Float32Array, mh: number, mw: number, boxes: Box[], width: number, height: number, tolerance = 0): boolean {
  const [x, y] = argmaxPoint(map, mh, mw, width, height);
  return inside(x, y, boxes, tolerance);
}

export function centreHit(boxes: Box[], width: number, height: number, tolerance = 0): boolean {
  return inside(width / 2, height / 2, boxes, tolerance);
}

/** Pixels (row-major, width × height) inside any box. */
function boxMask(boxes: Box[], width: number, height: number): Uint8Array {
  const m = new Uint8Array(width * height);
  for (const [x0, y0, x1, y1] of boxes)
    for (let y = Math.max(0, Math.ceil(y0 - 0.5)); y <= Math.min(height - 1, Math.floor(y1 - 0.5)); y++)
      for (let x = Math.max(0, Math.ceil(x0 - 0.5)); x <= Math.min(width - 1, Math.floor(x1 - 0.5)); x++) m[y * width + x] = 1;
  return m;
}

/** Share of the normalised map's energy inside the boxes (pixel centres inside a box count). */
export function energyInBoxes(map: Float32Array, mh: number, mw: number, boxes: Box[], width: number, height: number): number {
  const up = upsample(map, mh, mw, height, width);
  let lo = Infinity,
    hi = -Infinity;
  for (const v of up) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (!(hi > lo)) return boxAreaShare(boxes, width, height);
  const mask = boxMask(boxes, width, height);
  let inE = 0,
    all = 0;
  for (let i = 0; i < up.length; i++) {
    const e = (up[i] - lo) / (hi - lo);
    all += e;
    if (mask[i]) inE += e;
  }
  return inE / all;
}

/** The uniform map's energy share: the boxes' area over the image's. */
export function boxAreaShare(boxes: Box[], width: number, height: number): number {
  return boxMask(boxes, width, height).reduce((a, b) => a + b, 0) / (width * height);
}

export const pointingMetric: EvalMetric = {
  key: 'pointing',
  description: "pointing game: whether the map's maximum falls in a ground-truth box (Zhang et al. 2016)",
  needs: { boxes: true },
  values: () => [value('pointing', 'pointing game %', true)],
  compute: ({ map, height, width, boxes, imageWidth, imageHeight }) => ({
    pointing: boxes ? (pointingHit(map, height, width, boxes, imageWidth, imageHeight) ? 100 : 0) : null,
  }),
};

export const energyMetric: EvalMetric = {
  key: 'energy',
  description: "energy pointing: the share of the map's mass inside the ground-truth boxes (Wang et al. 2020)",
  needs: { boxes: true },
  values: () => [value('energy', 'energy pointing %', true)],
  compute: ({ map, height, width, boxes, imageWidth, imageHeight }) => ({
    energy: boxes ? 100 * energyInBoxes(map, height, width, boxes, imageWidth, imageHeight) : null,
  }),
};
