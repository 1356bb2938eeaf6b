/**
 * The browser-safe half of the viewer's data (src/viewer/data.ts has the Node half: PNG encoding with
 * sharp, eval plots, file names): per-layer metadata, the raw maps of NAFlow and of compared methods
 * encoded for the viewer (base64, float32 or 8-bit), and the colour tables. Both the CLI's report.html
 * and the web app (src/web/app/) build their ViewerData from here, so the two cannot drift apart.
 * No Node built-ins: base64 is encoded here rather than with Buffer.
 */
import type { LayerFlow } from '../naflow/cascade.js';
import type { ExplainResult } from '../naflow/explain.js';
import type { SolverStats } from '../ops/registry.js';
import { COLORMAPS, carriesPicture, colormapLut } from '../render/index.js';

/** A layer's identity in flow.json and the viewer. */
export type LayerMeta = Pick<LayerFlow, 'name' | 'node' | 'op' | 'sourceOp' | 'shape' | 'kept'> & { index: number };

export interface ViewerMap {
  h: number;
  w: number;
  /** 'f32': little-endian float32; 'u8': min + q/255·(max − min) */
  enc: 'f32' | 'u8';
  min: number;
  max: number;
  /** base64 */
  data: string;
}

export interface ViewerLayer extends LayerMeta {
  /** the layer's least-squares solves summarised: count, total iterations, largest relative residual */
  solver: { solves: number; iterations: number; residual: number; method: string } | null;
}

export interface ViewerFlow {
  /** 'naflow' for the main flow, else the baseline's name (e.g. 'layercam') */
  method: string;
  label: string;
  /** aligned with ViewerData.layers (null where the method has no map for that layer) */
  layers: (ViewerMap | null)[];
}

/** One compared method's maps: anything with tensor-named layers (e.g. camFlow's result). */
export interface CompareFlow {
  method: string;
  label?: string;
  layers: { name: string; shape: [number, number, number]; map: Float32Array }[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (with padding) of bytes, as Buffer's toString('base64') gives it. */
export function toBase64(a: Uint8Array): string {
  const parts: string[] = [];
  let s = '';
  const full = a.length - (a.length % 3);
  for (let i = 0; i < full; i += 3) {
    const n = (a[i] << 16) | (a[i + 1] << 8) | a[i + 2];
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    // strings built in chunks: one long += chain is slow in some engines
    if (s.length >= 8192) {
      parts.push(s);
      s = '';
    }
  }
  const rest = a.length - full;
  if (rest === 1) s += `${B64[a[full] >> 2]}${B64[(a[full] & 3) << 4]}==`;
  else if (rest === 2) {
    const n = (a[full] << 8) | a[full + 1];
    s += `${B64[n >> 10]}${B64[(n >> 4) & 63]}${B64[(n & 15) << 2]}=`;
  }
  parts.push(s);
  return parts.join('');
}

/** The bytes of standard base64 (the inverse of toBase64). */
export function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64.indexOf(clean[i]);
    if (v < 0) throw new RangeError(`fromBase64: '${clean[i]}' is not a base64 character`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
    }
  }
  return out;
}

function range(map: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of map) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

/** Encode one raw H×W map. */
export function encodeMap(map: Float32Array, h: number, w: number, enc: 'f32' | 'u8' = 'f32'): ViewerMap {
  if (map.length !== h * w) throw new RangeError(`encodeMap: ${map.length} values for a ${h}×${w} map`);
  const { min, max } = range(map);
  if (enc === 'f32') {
    const bytes = new Uint8Array(map.length * 4);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < map.length; i++) dv.setFloat32(4 * i, map[i], true);
    return { h, w, enc, min, max, data: toBase64(bytes) };
  }
  const q = new Uint8Array(map.length);
  const span = max - min;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    q[i] = !Number.isFinite(v) || span <= 0 ? 0 : Math.round(((v - min) / span) * 255);
  }
  return { h, w, enc, min, max, data: toBase64(q) };
}

/** Decode a ViewerMap back to float32 (the inverse of encodeMap; 'u8' gives the quantised values). */
export function decodeMap(m: ViewerMap): Float32Array {
  const bytes = fromBase64(m.data);
  if (m.enc === 'u8') return Float32Array.from(bytes, (q) => m.min + (q / 255) * (m.max - m.min));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

function solverSummary(s: SolverStats[] | undefined | null): ViewerLayer['solver'] {
  if (!s?.length) return null;
  return {
    solves: s.length,
    iterations: s.reduce((a, x) => a + x.iterations, 0),
    residual: Math.max(...s.map((x) => x.relResidual)),
    method: [...new Set(s.map((x) => x.method))].join(', '),
  };
}

/** The viewer's colour tables: each colour map's 256×RGB LUT in base64. */
export function colormapTables(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of COLORMAPS) out[c] = toBase64(colormapLut(c));
  return out;
}

/** The part of an explanation the viewer's maps need (an ExplainResult, or the same fields sent from a worker). */
export interface FlowForViewer {
  mode: ExplainResult['mode'];
  layers: (Pick<LayerFlow, 'name' | 'node' | 'op' | 'sourceOp' | 'shape' | 'kept' | 'map'> & { solver?: SolverStats[] | null })[];
}

export interface ViewerMapsOptions {
  compare?: CompareFlow[];
  /** float32 budget for all maps before they are quantised to 8 bits (default 6 MB) */
  maxMapBytes?: number;
  /** show the 1×1 layers too (left out by default: a map of one value is a flat colour) */
  include1x1?: boolean;
  /** a compared method's label where its CompareFlow has none (the Node side passes methodLabel; kept out of here so the page's bundle needs no engine) */
  labelOf?: (method: string) => string;
}

/** The viewer's layers (metadata) and flows (NAFlow's encoded maps, then each compared method's, aligned by tensor name). */
export function viewerMaps(result: FlowForViewer | null, options: ViewerMapsOptions = {}): { layers: ViewerLayer[]; flows: ViewerFlow[] } {
  const all = result?.layers ?? [];
  const pictured = all.filter((l) => carriesPicture(l.shape));
  const layers = options.include1x1 || !pictured.length ? all : pictured;
  const compare = options.compare ?? [];
  const floats = layers.reduce((a, l) => a + l.map.length, 0) + compare.reduce((a, f) => a + f.layers.reduce((b, l) => b + l.map.length, 0), 0);
  const enc: 'f32' | 'u8' = floats * 4 > (options.maxMapBytes ?? 6 * 1024 * 1024) ? 'u8' : 'f32';
  const meta: ViewerLayer[] = layers.map((l) => ({
    index: all.indexOf(l),
    name: l.name,
    node: l.node,
    op: l.op,
    ...(l.sourceOp ? { sourceOp: l.sourceOp } : {}),
    shape: l.shape,
    kept: l.kept,
    solver: solverSummary(l.solver),
  }));
  const flows: ViewerFlow[] = [];
  if (result) {
    flows.push({ method: 'naflow', label: `NAFlow (${result.mode} mode)`, layers: layers.map((l) => encodeMap(l.map, l.shape[0], l.shape[1], enc)) });
    for (const f of compare) {
      // aligned by tensor name (the baselines map the same trunk tensors as the cascade)
      const byName = new Map(f.layers.map((l) => [l.name, l]));
      flows.push({
        method: f.method,
        label: f.label ?? options.labelOf?.(f.method) ?? f.method,
        layers: layers.map((l) => {
          const c = byName.get(l.name);
          return c ? encodeMap(c.map, c.shape[0], c.shape[1], enc) : null;
        }),
      });
    }
  }
  return { layers: meta, flows };
}
