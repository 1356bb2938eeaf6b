/**
 * The viewer data's browser-safe encoding (src/viewdata/): its base64 equals Node's Buffer base64 for
 * every length remainder and every byte value, and decodes back; maps round-trip exactly (f32).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { toBase64, fromBase64, encodeMap, decodeMap, colormapTables } from '../src/viewdata/index.js';
import { COLORMAPS, colormapLut } from '../src/render/index.js';
import { rng } from './helpers/rng.js';

test("toBase64 equals Buffer's base64 and fromBase64 inverts it (lengths 0..40, random bytes, all 256 values)", () => {
  const rand = rng(7);
  const cases = [Uint8Array.from({ length: 256 }, (_, i) => i), new Uint8Array(20_000).map(() => Math.floor(rand() * 256))];
  for (let n = 0; n <= 40; n++) cases.push(new Uint8Array(n).map(() => Math.floor(rand() * 256)));
  for (const bytes of cases) {
    const want = Buffer.from(bytes).toString('base64');
    assert.equal(toBase64(bytes), want, `length ${bytes.length}`);
    assert.deepEqual(fromBase64(want), bytes, `length ${bytes.length}`);
  }
  assert.throws(() => fromBase64('ab$d'), /not a base64 character/);
});

test('encodeMap/decodeMap round-trip float32 exactly (with non-finite values) and colour tables are the LUTs', () => {
  const map = Float32Array.from([0, -1.5, 3.25e-8, Number.NaN, 1e30, Number.POSITIVE_INFINITY]);
  const enc = encodeMap(map, 2, 3);
  assert.deepEqual(
    [enc.min, enc.max],
    [-1.5, 1e30].map((v) => Math.fround(v)),
  );
  assert.deepEqual(decodeMap(enc), map);
  const tables = colormapTables();
  for (const c of COLORMAPS) assert.deepEqual(fromBase64(tables[c]), Uint8Array.from(colormapLut(c)));
});
