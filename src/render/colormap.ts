/**
 * Colour maps as 256-entry RGB look-up tables, and `colorize`, which maps values in [0, 1] to RGB.
 *
 * Indexing follows the reference code, which does `cv2.applyColorMap(np.uint8(255 * map), ...)`:
 * index = floor(float32(255 · t)), clamped to 0..255 (NaN → 0). So t = 0.5 uses entry 127, and only
 * t = 1 reaches entry 255.
 *
 * jet    OpenCV's COLORMAP_JET, byte for byte. OpenCV defines it as a 256-point base map, channel
 *        c(i) = clamp(1.5 − |4·i/255 − k|, 0, 1) with k = 3 (red), 2 (green), 1 (blue), i = 0..255,
 *        stored as float32, passed through its interp1 on linspace(0, 1, 256) in float32 arithmetic
 *        and converted to 8 bits with round-half-to-even. Most unsaturated entries are exact halves
 *        (382.5 − |4i − 255k|), so which way they round depends on that float32 arithmetic; it is
 *        reproduced here step by step (checked against cv2 4.6.0: all 768 bytes equal).
 *        Endpoints: 0 → (0, 0, 128) dark blue, 255 → (128, 0, 0) dark red.
 * turbo  Google's Turbo (A. Mikhailov, 2019), the published 256-entry table (Apache-2.0), rounded to
 *        8 bits; equal to OpenCV's COLORMAP_TURBO and matplotlib's 'turbo'.
 * viridis  matplotlib's viridis (S. van der Walt, N. Smith, E. Firing; CC0), the published
 *        256-entry table rounded to 8 bits; equal to OpenCV's COLORMAP_VIRIDIS.
 * gray   entry i = (i, i, i).
 */

export type ColormapName = 'jet' | 'turbo' | 'viridis' | 'gray';

export const COLORMAPS: readonly ColormapName[] = ['jet', 'turbo', 'viridis', 'gray'];

// 256 × RGB, hex.
const TURBO_HEX =
  '30123b32154333184a341b51351e5836215f37246638276d392a733a2d793b2f803c32863d358b3e38913f3b973f3e9c' +
  '4040a24143a74146ac4249b1424bb5434eba4451bf4454c34456c74559cb455ccf455ed34661d64664da4666dd4669e0' +
  '466be3476ee64771e94773eb4776ee4778f0477bf2467df44680f64682f84685fa4687fb458afc458cfd448ffe4391fe' +
  '4294ff4196ff4099ff3e9bfe3d9efe3ba0fd3aa3fc38a5fb37a8fa35abf833adf731aff52fb2f42eb4f22cb7f02ab9ee' +
  '28bceb27bee925c0e723c3e422c5e220c7df1fc9dd1ecbda1ccdd81bd0d51ad2d21ad4d019d5cd18d7ca18d9c818dbc5' +
  '18ddc218dec018e0bd19e2bb19e3b91ae4b61ce6b41de7b21fe9af20eaac22ebaa25eca727eea42aefa12cf09e2ff19b' +
  '32f29835f39438f4913cf58e3ff68a43f78746f8844af8804ef97d52fa7a55fa7659fb735dfc6f61fc6c65fd6969fd66' +
  '6dfe6271fe5f75fe5c79fe597dff5680ff5384ff5188ff4e8bff4b8fff4992ff4796fe4499fe429cfe409ffd3fa1fd3d' +
  'a4fc3ca7fc3aa9fb39acfb38affa37b1f936b4f836b7f735b9f635bcf534bef434c1f334c3f134c6f034c8ef34cbed34' +
  'cdec34d0ea34d2e935d4e735d7e535d9e436dbe236dde037dfdf37e1dd37e3db38e5d938e7d739e9d539ebd339ecd13a' +
  'eecf3aefcd3af1cb3af2c93af4c73af5c53af6c33af7c13af8be39f9bc39faba39fbb838fbb637fcb336fcb136fdae35' +
  'fdac34fea933fea732fea431fea130fe9e2ffe9b2dfe992cfe962bfe932afe9029fd8d27fd8a26fc8725fc8423fb8122' +
  'fb7e21fa7b1ff9781ef9751df8721cf76f1af66c19f56918f46617f36315f26014f15d13f05b12ef5811ed5510ec530f' +
  'eb500eea4e0de84b0ce7490ce5470be4450ae2430ae14109df3f08dd3d08dc3b07da3907d83706d63506d43305d23105' +
  'd02f05ce2d04cc2b04ca2a04c82803c52603c32503c12302be2102bc2002b91e02b71d02b41b01b21a01af1801ac1701' +
  'a91601a71401a41301a112019e10019b0f01980e01950d01920b018e0a018b09028808028507028106027e05027a0403' +
  '';

const VIRIDIS_HEX =
  '44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769' +
  '48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a' +
  '472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85' +
  '4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b' +
  '3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d' +
  '33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e' +
  '2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e' +
  '26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d' +
  '21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88' +
  '1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81' +
  '28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74' +
  '3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863' +
  '5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d' +
  '84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32' +
  'addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a' +
  'd8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725' +
  '';

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  if (out.length !== 768) throw new Error('colormap table must have 256 RGB entries');
  return out;
}

/** Round half to even, like OpenCV's saturate_cast / cvRound. */
function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  if (d > 0.5) return fl + 1;
  if (d < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** OpenCV's COLORMAP_JET table, rebuilt the way OpenCV builds it (see the module comment). */
function buildJet(): Uint8Array {
  const f = Math.fround;
  const n = 256;
  const step = f(1 / (n - 1));
  const X = Array.from({ length: n }, (_, i) => f(0 + f(i * step))); // linspace(0, 1, 256)
  const base = (k: number) => X.map((_, i) => f(Math.min(1, Math.max(0, 1.5 - Math.abs((4 * i) / 255 - k)))));
  // interp1(X, Y, XI) with XI = X, in float32: binary search then Y[lo] + (x − X[lo])·ΔY/ΔX.
  const interp = (Y: number[]) =>
    X.map((xi) => {
      let lo = 0;
      let hi = n - 1;
      if (xi < X[lo]!) hi = 1;
      if (xi > X[hi]!) lo = hi - 1;
      while (hi - lo > 1) {
        const c = lo + ((hi - lo) >> 1);
        if (xi > X[c]!) lo = c;
        else hi = c;
      }
      return f(Y[lo]! + f(f(f(xi - X[lo]!) * f(Y[hi]! - Y[lo]!)) / f(X[hi]! - X[lo]!)));
    });
  const chans = [3, 2, 1].map((k) => interp(base(k)).map((v) => Math.min(255, Math.max(0, roundHalfEven(f(v * 255))))));
  const lut = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) lut[i * 3 + c] = chans[c]![i]!;
  return lut;
}

function buildGray(): Uint8Array {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = i;
  return lut;
}

const cache = new Map<ColormapName, Uint8Array>();

/** The 256 × RGB table of a colour map (a shared array: do not modify it). */
export function colormapLut(name: ColormapName): Uint8Array {
  let lut = cache.get(name);
  if (lut) return lut;
  switch (name) {
    case 'jet':
      lut = buildJet();
      break;
    case 'turbo':
      lut = fromHex(TURBO_HEX);
      break;
    case 'viridis':
      lut = fromHex(VIRIDIS_HEX);
      break;
    case 'gray':
      lut = buildGray();
      break;
    default:
      throw new RangeError(`unknown colormap '${String(name)}' (known: ${COLORMAPS.join(', ')})`);
  }
  cache.set(name, lut);
  return lut;
}

/** The table index of a value in [0, 1]: floor(float32(255·t)), clamped; NaN → 0. */
export function lutIndex(t: number): number {
  const v = Math.floor(Math.fround(t * 255));
  return v > 255 ? 255 : v >= 0 ? v : 0; // NaN → 0 (Math.max would keep NaN)
}

/** The colour of one value in [0, 1]. */
export function colorAt(name: ColormapName, t: number): [number, number, number] {
  const lut = colormapLut(name);
  const i = lutIndex(t) * 3;
  return [lut[i]!, lut[i + 1]!, lut[i + 2]!];
}

/** Colour every value of a normalised map (values in [0, 1]); returns interleaved RGB. */
export function colorize(normalised: ArrayLike<number>, colormap: ColormapName = 'jet'): Uint8Array {
  const lut = colormapLut(colormap);
  const out = new Uint8Array(normalised.length * 3);
  for (let p = 0; p < normalised.length; p++) {
    const i = lutIndex(normalised[p]!) * 3;
    const o = p * 3;
    out[o] = lut[i]!;
    out[o + 1] = lut[i + 1]!;
    out[o + 2] = lut[i + 2]!;
  }
  return out;
}

/**
 * A colour bar: the map's 256 colours stretched along `length` pixels, `thickness` across.
 * Vertical bars run from 1 (top) to 0 (bottom); horizontal ones from 0 (left) to 1 (right).
 */
export function colorbar(
  colormap: ColormapName = 'jet',
  opts: { length?: number; thickness?: number; orientation?: 'vertical' | 'horizontal' } = {},
): { data: Uint8Array; width: number; height: number } {
  const length = opts.length ?? 256;
  const thickness = opts.thickness ?? 16;
  const vertical = (opts.orientation ?? 'vertical') === 'vertical';
  if (!Number.isInteger(length) || !Number.isInteger(thickness) || length < 1 || thickness < 1) {
    throw new RangeError('colorbar: length and thickness must be positive integers');
  }
  const width = vertical ? thickness : length;
  const height = vertical ? length : thickness;
  const lut = colormapLut(colormap);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pos = vertical ? height - 1 - y : x; // 0 .. length−1
      const t = length === 1 ? 1 : pos / (length - 1);
      const i = Math.min(255, Math.round(t * 255)) * 3;
      const o = (y * width + x) * 3;
      data[o] = lut[i]!;
      data[o + 1] = lut[i + 1]!;
      data[o + 2] = lut[i + 2]!;
    }
  }
  return { data, width, height };
}
