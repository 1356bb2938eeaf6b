/**
 * The Node adapter for rendered maps (sharp, files): PNG files, PNG bytes, PNG files, a captioned grid of all layers
 * (shallow → deep, row by row), an animated GIF that steps through the layers, and a colour bar.
 *
 * Captions are SVG <text> composited by sharp (librsvg + pango + fontconfig, bundled with sharp's
 * libvips). Fonts come from the system's fontconfig set-up (e.g. Debian's fonts-dejavu-core). With
 * no usable font, pango draws every glyph as an empty box; `captionSupport()` detects that once (a
 * string of "i" renders as wide as one of "W") and the default `captions: 'auto'` then leaves the
 * caption bars out and emits one process warning (code NAFLOW_NO_FONT).
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import gifenc from 'gifenc';

const { GIFEncoder, quantize, applyPalette } = gifenc;
import { colorbar as colorbarImage, type ColormapName } from '../render/colormap.js';

/** One tile or frame: an RGB image with an optional caption ('\n' separates lines). */
export interface Tile {
  rgb: Uint8Array;
  width: number;
  height: number;
  caption?: string;
}

export interface CaptionOptions {
  /** 'auto' (default): draw captions if a usable font exists; true: always; false: never */
  captions?: 'auto' | boolean;
  /** caption font size in px (default: tile size / 14, between 9 and 18) */
  fontSize?: number;
  /** CSS font-family list for the captions */
  fontFamily?: string;
  /** caption text colour (default '#000000') */
  textColor?: string;
  /** background of the canvas and the caption bars (default '#ffffff') */
  background?: string;
}

export interface StripOptions extends CaptionOptions {
  /** tiles per row (default min(n, 8)) */
  columns?: number;
  /** each tile is fitted (aspect kept) into a tileSize × tileSize box (default: the largest tile side) */
  tileSize?: number;
  /** pixels between tiles and around the grid (default 4) */
  gap?: number;
}

export interface GifOptions extends CaptionOptions {
  /** display time of each frame in ms, or one value per frame (default 500; GIF stores 1/100 s) */
  delayMs?: number | number[];
  /** number of loops, 0 = forever (default 0) */
  loop?: number;
  /** fit every frame into size × size (default: the first frame's own size) */
  size?: number;
}

export const DEFAULT_FONT_FAMILY = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";

function checkTile(t: Tile, what: string): void {
  if (!Number.isInteger(t.width) || !Number.isInteger(t.height) || t.width < 1 || t.height < 1) {
    throw new RangeError(`${what}: width and height must be positive integers`);
  }
  if (t.rgb.length !== t.width * t.height * 3) {
    throw new RangeError(`${what}: rgb length ${t.rgb.length} does not match ${t.width}×${t.height}×3`);
  }
}

function rawInput(rgb: Uint8Array, width: number, height: number) {
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } });
}

/** PNG-encode an RGB buffer. */
export async function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  checkTile({ rgb, width, height }, 'encodePng');
  return rawInput(rgb, width, height).png().toBuffer();
}

/** Write an RGB buffer as a PNG file. */
export async function writePng(path: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  const png = await encodePng(rgb, width, height);
  await writeFile(path, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
}

// ---------------------------------------------------------------------------------------------
// Fonts

let fontProbe: Promise<boolean> | undefined;
let warned = false;

/** Ink extent (columns) of white text rendered on black. */
async function inkWidth(text: string, fontFamily: string): Promise<number> {
  const w = 400;
  const h = 40;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    `<rect width="${w}" height="${h}" fill="#000"/>` +
    `<text x="2" y="28" font-family="${escapeXml(fontFamily)}" font-size="20" fill="#fff">${escapeXml(text)}</text></svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).raw().toBuffer({ resolveWithObject: true });
  let lo = w;
  let hi = -1;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if (data[(y * info.width + x) * info.channels]! > 64) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
  }
  return hi < lo ? 0 : hi - lo + 1;
}

/**
 * Whether caption text renders with a real font on this machine (probed once, then cached).
 * False when nothing is drawn, or when narrow and wide letters come out equally wide (the empty
 * boxes pango draws when fontconfig finds no font).
 */
export function captionSupport(fontFamily: string = DEFAULT_FONT_FAMILY): Promise<boolean> {
  fontProbe ??= (async () => {
    try {
      const narrow = await inkWidth('iiiiiiiiii', fontFamily);
      const wide = await inkWidth('WWWWWWWWWW', fontFamily);
      return narrow > 0 && wide > 0 && narrow < 0.6 * wide;
    } catch {
      return false;
    }
  })();
  return fontProbe;
}

async function wantCaptions(opts: CaptionOptions, anyCaption: boolean): Promise<boolean> {
  if (!anyCaption || opts.captions === false) return false;
  if (opts.captions === true) return true;
  const ok = await captionSupport(opts.fontFamily ?? DEFAULT_FONT_FAMILY);
  if (!ok && !warned) {
    warned = true;
    process.emitWarning(
      'naflow: no usable font found by fontconfig; images are written without captions ' + '(on Debian/Ubuntu: apt-get install fonts-dejavu-core)',
      { code: 'NAFLOW_NO_FONT' },
    );
  }
  return ok;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

interface CaptionLayout {
  fontSize: number;
  lineHeight: number;
  barHeight: number;
}

function captionLayout(tiles: Tile[], box: number, opts: CaptionOptions, on: boolean): CaptionLayout {
  const fontSize = opts.fontSize ?? Math.max(9, Math.min(18, Math.round(box / 14)));
  const lineHeight = Math.round(fontSize * 1.25);
  const lines = on ? Math.max(0, ...tiles.map((t) => (t.caption ? t.caption.split('\n').length : 0))) : 0;
  return { fontSize, lineHeight, barHeight: lines > 0 ? lines * lineHeight + Math.round(fontSize * 0.5) : 0 };
}

/** Cut a line to what fits in `width` px (estimated at 0.62 em per character), with an ellipsis. */
function fitLine(line: string, width: number, fontSize: number): string {
  const max = Math.max(1, Math.floor((width - 4) / (0.62 * fontSize)));
  const chars = Array.from(line);
  return chars.length <= max ? line : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}

function captionSvg(
  width: number,
  height: number,
  items: Array<{ caption: string; left: number; top: number; width: number }>,
  layout: CaptionLayout,
  opts: CaptionOptions,
): Buffer {
  const family = escapeXml(opts.fontFamily ?? DEFAULT_FONT_FAMILY);
  const fill = escapeXml(opts.textColor ?? '#000000');
  let body = '';
  for (const it of items) {
    it.caption.split('\n').forEach((line, k) => {
      const y = it.top + k * layout.lineHeight + layout.fontSize;
      const x = it.left + it.width / 2;
      body += `<text x="${x}" y="${y}" text-anchor="middle">${escapeXml(fitLine(line, it.width, layout.fontSize))}</text>`;
    });
  }
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<g font-family="${family}" font-size="${layout.fontSize}" fill="${fill}">${body}</g></svg>`,
  );
}

/** Fit a tile into boxW × boxH (aspect kept, padded with the background); raw RGB out. */
async function fitRaw(t: Tile, boxW: number, boxH: number, background: string): Promise<Buffer> {
  if (t.width === boxW && t.height === boxH) return Buffer.from(t.rgb.buffer, t.rgb.byteOffset, t.rgb.byteLength);
  return rawInput(t.rgb, t.width, t.height).resize(boxW, boxH, { fit: 'contain', background }).removeAlpha().raw().toBuffer();
}

/**
 * Paint tiles and captions onto a canvas; raw RGB out. The tiles are copied row by row here and only
 * the caption SVG goes through sharp's compositor (one composite per tile cost ~5 ms each).
 */
async function paint(
  width: number,
  height: number,
  background: string,
  tiles: Array<{ raw: Buffer; w: number; h: number; left: number; top: number }>,
  svg: Buffer | undefined,
): Promise<Buffer> {
  const bg = await sharp({ create: { width: 1, height: 1, channels: 3, background } })
    .raw()
    .toBuffer();
  const canvas = Buffer.alloc(width * height * 3);
  for (let i = 0; i < canvas.length; i += 3) {
    canvas[i] = bg[0];
    canvas[i + 1] = bg[1];
    canvas[i + 2] = bg[2];
  }
  for (const t of tiles) {
    const w = Math.min(t.w, width - t.left);
    for (let y = 0; y < t.h && t.top + y < height; y++) canvas.set(t.raw.subarray(y * t.w * 3, (y * t.w + w) * 3), ((t.top + y) * width + t.left) * 3);
  }
  if (!svg) return canvas;
  return sharp(canvas, { raw: { width, height, channels: 3 } })
    .composite([{ input: svg, left: 0, top: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
}

/**
 * A PNG grid of all tiles, in order (shallow → deep), `columns` per row, each with its caption
 * below it. Returns the PNG bytes.
 */
export async function flowStrip(tiles: Tile[], opts: StripOptions = {}): Promise<Buffer> {
  if (tiles.length === 0) throw new RangeError('flowStrip: no tiles');
  tiles.forEach((t, i) => checkTile(t, `flowStrip tile ${i}`));
  const n = tiles.length;
  const columns = Math.max(1, Math.min(n, opts.columns ?? 8));
  const rows = Math.ceil(n / columns);
  const box = opts.tileSize ?? Math.max(...tiles.map((t) => Math.max(t.width, t.height)));
  const gap = opts.gap ?? 4;
  const background = opts.background ?? '#ffffff';
  const on = await wantCaptions(
    opts,
    tiles.some((t) => !!t.caption),
  );
  const layout = captionLayout(tiles, box, opts, on);
  const cellH = box + layout.barHeight;
  const width = columns * box + (columns + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const placed = await Promise.all(
    tiles.map(async (t, i) => ({
      raw: await fitRaw(t, box, box, background),
      w: box,
      h: box,
      left: gap + (i % columns) * (box + gap),
      top: gap + Math.floor(i / columns) * (cellH + gap),
    })),
  );
  const svg = on
    ? captionSvg(
        width,
        height,
        tiles.flatMap((t, i) => (t.caption ? [{ caption: t.caption, left: placed[i]!.left, top: placed[i]!.top + box + 2, width: box }] : [])),
        layout,
        opts,
      )
    : undefined;
  const raw = await paint(width, height, background, placed, svg);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * An animated GIF with one frame per tile (shallow → deep), each with its caption below the image.
 * Returns the GIF bytes.
 */
export async function flowGif(frames: Tile[], opts: GifOptions = {}): Promise<Buffer> {
  if (frames.length === 0) throw new RangeError('flowGif: no frames');
  frames.forEach((t, i) => checkTile(t, `flowGif frame ${i}`));
  const fw = opts.size ?? frames[0]!.width;
  const fh = opts.size ?? frames[0]!.height;
  const background = opts.background ?? '#ffffff';
  const on = await wantCaptions(
    opts,
    frames.some((t) => !!t.caption),
  );
  const layout = captionLayout(frames, Math.min(fw, fh), opts, on);
  const pageH = fh + layout.barHeight;
  const n = frames.length;
  const raws = await Promise.all(frames.map((t) => fitRaw(t, fw, fh, background)));
  // All caption bars rendered as one SVG column (text rendering is serialised in libvips: one render
  // instead of one per frame), then each page = its tile's rows + its caption bar's rows.
  const bar = layout.barHeight;
  const captions = on
    ? await paint(
        fw,
        bar * n,
        background,
        [],
        captionSvg(
          fw,
          bar * n,
          frames.flatMap((t, i) => (t.caption ? [{ caption: t.caption, left: 0, top: i * bar + 2, width: fw }] : [])),
          layout,
          opts,
        ),
      )
    : undefined;
  const tileBytes = fw * fh * 3,
    barBytes = fw * bar * 3;
  const stack = Buffer.alloc((tileBytes + barBytes) * n);
  raws.forEach((raw, i) => {
    stack.set(raw.subarray(0, tileBytes), i * (tileBytes + barBytes));
    if (captions) stack.set(captions.subarray(i * barBytes, (i + 1) * barBytes), i * (tileBytes + barBytes) + tileBytes);
  });
  const pageBytes = fw * pageH * 3;
  const pages = Array.from({ length: n }, (_, i) => stack.subarray(i * pageBytes, (i + 1) * pageBytes));
  const d = opts.delayMs ?? 500;
  const delay = Array.isArray(d) ? d : new Array<number>(n).fill(d);
  if (delay.length !== n) throw new RangeError(`flowGif: ${delay.length} delays for ${n} frames`);
  return encodeGif(pages, fw, pageH, delay, opts.loop ?? 0);
}

/** RGB → RGBA (opaque), the layout gifenc reads. */
function rgba(rgb: Uint8Array | Buffer): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i];
    out[j + 1] = rgb[i + 1];
    out[j + 2] = rgb[i + 2];
    out[j + 3] = 255;
  }
  return out;
}

/**
 * The GIF itself, with gifenc: one global 256-colour palette quantised from a sample of the frames
 * (every frame shows the same photo under similar colour maps), colours looked up at 4 bits per
 * channel. That is ~10× faster than sharp's per-frame libimagequant (50 frames of 224×250: ~0.15 s
 * vs 1.4 s) at a little more banding, and the GIF is the preview: the PNGs are exact.
 */
function encodeGif(pages: Array<Uint8Array | Buffer>, width: number, height: number, delayMs: number[], loop: number): Buffer {
  const frames = pages.map(rgba);
  const step = Math.max(1, Math.ceil(frames.length / 8));
  const sampled = frames.filter((_, i) => i % step === 0);
  const sample = new Uint8Array(sampled.reduce((a, f) => a + f.length, 0));
  let at = 0;
  for (const f of sampled) {
    sample.set(f, at);
    at += f.length;
  }
  const palette = quantize(sample, 256, { format: 'rgb444' });
  const gif = GIFEncoder();
  frames.forEach((f, i) => {
    const index = applyPalette(f, palette, 'rgb444');
    // the palette on the first frame becomes the global colour table; `repeat` 0 = loop forever
    gif.writeFrame(index, width, height, {
      palette: i === 0 ? palette : undefined,
      delay: Math.max(0, Math.round(delayMs[i])),
      repeat: i === 0 ? loopRepeat(loop) : undefined,
    });
  });
  gif.finish();
  return Buffer.from(gif.bytes());
}

/** sharp's `loop` (0 = forever, n = play n times) as gifenc's `repeat` (0 = forever, -1 = once, n = n repeats). */
function loopRepeat(loop: number): number {
  if (loop <= 0) return 0;
  return loop === 1 ? -1 : loop - 1;
}

/**
 * A colour bar as PNG, optionally labelled at both ends (e.g. the min and max of a global range).
 * Vertical: high values at the top, labels to the right; horizontal: low values on the left,
 * labels below.
 */
export async function colorbarPng(
  colormap: ColormapName = 'jet',
  opts: CaptionOptions & {
    length?: number;
    thickness?: number;
    orientation?: 'vertical' | 'horizontal';
    labels?: [low: string, high: string];
  } = {},
): Promise<Buffer> {
  const bar = colorbarImage(colormap, opts);
  const vertical = (opts.orientation ?? 'vertical') === 'vertical';
  const on = opts.labels ? await wantCaptions(opts, true) : false;
  if (!on || !opts.labels) return encodePng(bar.data, bar.width, bar.height);
  const fontSize = opts.fontSize ?? 12;
  const background = opts.background ?? '#ffffff';
  const pad = Math.ceil(fontSize * 0.6);
  const [lo, hi] = opts.labels.map((s) => escapeXml(s));
  const textW = Math.ceil(Math.max(lo!.length, hi!.length) * 0.62 * fontSize);
  const width = vertical ? bar.width + textW + 2 * pad : bar.width + textW + 2;
  const height = vertical ? bar.height + fontSize + 2 : bar.height + fontSize + 2 * pad;
  const top = vertical ? Math.ceil(fontSize / 2) + 1 : 0;
  const left = vertical ? 0 : Math.ceil(textW / 2) + 1;
  const family = escapeXml(opts.fontFamily ?? DEFAULT_FONT_FAMILY);
  const fill = escapeXml(opts.textColor ?? '#000000');
  const text = vertical
    ? `<text x="${bar.width + pad}" y="${top + fontSize * 0.35}">${hi}</text>` +
      `<text x="${bar.width + pad}" y="${top + bar.height - 1 + fontSize * 0.35}">${lo}</text>`
    : `<text x="${left}" y="${bar.height + pad + fontSize * 0.8}" text-anchor="middle">${lo}</text>` +
      `<text x="${left + bar.width - 1}" y="${bar.height + pad + fontSize * 0.8}" text-anchor="middle">${hi}</text>`;
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<g font-family="${family}" font-size="${fontSize}" fill="${fill}">${text}</g></svg>`,
  );
  const raw = await paint(width, height, background, [{ raw: Buffer.from(bar.data), w: bar.width, h: bar.height, left, top }], svg);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** "#index name" and "H×W×C" on two lines, the node name shortened to its last path segment. */
export function layerCaption(index: number, name: string, shape?: ReadonlyArray<number>, maxName = 20): string {
  const seg = name.split(/[/:]/).filter(Boolean);
  let short = seg.length ? seg[seg.length - 1]! : name;
  if (short.length > maxName) {
    const keep = maxName - 1;
    short = `${short.slice(0, Math.ceil(keep / 2))}…${short.slice(short.length - Math.floor(keep / 2))}`;
  }
  const head = `#${index} ${short}`;
  return shape?.length ? `${head}\n${shape.join('×')}` : head;
}
