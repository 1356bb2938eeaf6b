import assert from 'node:assert/strict';

/** max |got − want| / max |want| (NaN or Infinity for an all-zero reference, which fails any bound); the lengths must match. */
export function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, `${got.length} values, expected ${want.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}
