/**
 * Min–max normalisation of attention maps (docs/spec.md §8).
 *
 * Per map (the paper's, and the reference code's):  n = (m − min) / (max' + 1e-10)
 * where max' = max(m − min) = max − min. The result lies in [0, 1); a constant map gives all zeros
 * (0 / 1e-10), never NaN.
 *
 * Global mode uses one min and one max taken over every layer's map, so that a layer whose map is
 * weak stays dark next to a strong one (strength is comparable across layers).
 *
 * Arithmetic follows the reference code's float32 NumPy arrays: the subtraction and the division
 * are each rounded to float32 (Math.fround), the divisor is float32(max' + 1e-10).
 *
 * Non-finite entries (NaN, ±Infinity) are ignored when taking min/max and become 0 in the output.
 * Given an explicit range, values outside it are clamped to [0, 1].
 */
import { checkMap, type RawMap, type ValueRange } from './types.js';

export const NORMALIZE_EPS = 1e-10;

export type NormalizeMode = 'layer' | 'global';

/** Min and max of the finite entries; {0, 0} when there are none. */
export function mapRange(map: ArrayLike<number>): ValueRange {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

/** One min/max over the finite entries of all maps (the shared scale of global mode). */
export function globalRange(maps: ReadonlyArray<RawMap | ArrayLike<number>>): ValueRange {
  let min = Infinity;
  let max = -Infinity;
  for (const m of maps) {
    const a: ArrayLike<number> = 'map' in m ? m.map : m;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

/**
 * Normalise one map to [0, 1): (m − min) / (max − min + 1e-10). `range` defaults to the map's own
 * min/max (per-layer mode); pass a shared range for global mode.
 */
export function normalizeMap(map: ArrayLike<number>, range: ValueRange = mapRange(map)): Float32Array {
  const f = Math.fround;
  const min = f(range.min);
  const denom = f(f(f(range.max) - min) + NORMALIZE_EPS);
  const out = new Float32Array(map.length);
  if (!(denom > 0)) return out; // max < min, or a non-finite range: nothing sensible to show
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (!Number.isFinite(v)) continue;
    const n = f(f(v - min) / denom);
    out[i] = n < 0 ? 0 : Math.min(n, 1);
  }
  return out;
}

/**
 * Normalise every layer's map: 'layer' = each against its own min/max (paper), 'global' = all
 * against one shared min/max. Returns new maps; the inputs are not modified.
 */
export function normalizeMaps(maps: ReadonlyArray<RawMap>, mode: NormalizeMode = 'layer'): RawMap[] {
  if (mode !== 'layer' && mode !== 'global') throw new RangeError(`unknown normalize mode '${String(mode)}'`);
  maps.forEach((m, i) => checkMap(m, `maps[${i}]`));
  const shared = mode === 'global' ? globalRange(maps) : undefined;
  return maps.map((m) => ({ map: normalizeMap(m.map, shared ?? mapRange(m.map)), height: m.height, width: m.width }));
}
