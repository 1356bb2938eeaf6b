/**
 * The viewer's data: everything report.html and the `naflow serve` app draw, as one JSON object — the
 * input image (PNG data URL), the decision, per-layer metadata (op, shape, kept fraction, solver
 * residual), the raw maps of NAFlow and of any compared baseline (base64), colour tables and, for
 * `naflow eval --html`, the metric-vs-depth plots and tables. The browser normalises, colours and blends
 * the raw maps itself (assets/viewer/viewer.js), so normalisation, colour map and opacity change live.
 *
 * Maps are stored as little-endian float32 (exact). When the float32 maps of a report would exceed
 * `maxMapBytes` (default 6 MB) they are quantised to 8 bits per value against each map's own min/max
 * instead (`enc: 'u8'`), a quarter of the size; the viewer's 256-entry colour tables cannot show more.
 * Tiny Darknet's 50 maps (255 k values) take 1.0 MB as float32, 1.4 MB in base64, so they stay exact.
 */
import path from 'node:path';
import type { ExplainResult } from '../naflow/explain.js';
import type { LayerMeta } from '../node/write-flow.js';
import type { SolverStats } from '../ops/registry.js';
import { COLORMAPS, carriesPicture, colormapLut, type ColormapName } from '../render/index.js';
import { encodePng } from '../node/compose.js';
import type { EvalResults } from '../eval/run.js';
import { metricKeys, metricLabel, plotSvg } from '../eval/report.js';
import { methodLabel } from '../methods/index.js';

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

export interface ViewerEval {
  summary: string;
  plots: { key: string; label: string; svg: string }[];
  tables: { label: string; columns: string[]; rows: string[][] }[];
}

export interface ViewerData {
  format: 'naflow-viewer/1';
  title: string;
  naflow: string;
  model: { name: string; file: string | null; sha256?: string | null } | null;
  image: { src: string; width: number; height: number; file: string | null } | null;
  decision: ExplainResult['decision'] | null;
  mode: string | null;
  elapsedMs: number | null;
  layers: ViewerLayer[];
  flows: ViewerFlow[];
  colormaps: Record<string, string>;
  defaults: { colormap: ColormapName; normalize: 'layer' | 'global'; opacity: number };
  eval?: ViewerEval;
}

/** One compared method's maps: anything with tensor-named layers (e.g. camFlow's result). */
export interface CompareFlow {
  method: string;
  label?: string;
  layers: { name: string; shape: [number, number, number]; map: Float32Array }[];
}

export interface ViewerDataOptions {
  title?: string;
  modelName?: string;
  modelFile?: string | null;
  modelSha256?: string | null;
  imageFile?: string | null;
  compare?: CompareFlow[];
  colormap?: ColormapName;
  normalize?: 'layer' | 'global';
  /** default opacity of the map over the image, 0..1 (0.4: the CLI's PNGs) */
  opacity?: number;
  /** float32 budget for all maps before they are quantised to 8 bits (default 6 MB) */
  maxMapBytes?: number;
  eval?: EvalResults;
  version?: string;
  /** show the 1×1 layers too (left out by default: a map of one value is a flat colour) */
  include1x1?: boolean;
}

/** A model's short name: the file name, or the folder's for a TensorFlow.js model.json. */
export function modelDisplayName(file: string): string {
  const base = path.basename(file);
  return base === 'model.json' ? path.basename(path.dirname(path.resolve(file))) : base;
}

const b64 = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

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
    return { h, w, enc, min, max, data: b64(bytes) };
  }
  const q = new Uint8Array(map.length);
  const span = max - min;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    q[i] = !Number.isFinite(v) || span <= 0 ? 0 : Math.round(((v - min) / span) * 255);
  }
  return { h, w, enc, min, max, data: b64(q) };
}

/** Decode a ViewerMap back to float32 (the inverse of encodeMap; 'u8' gives the quantised values). */
export function decodeMap(m: ViewerMap): Float32Array {
  const bytes = Buffer.from(m.data, 'base64');
  if (m.enc === 'u8') return Float32Array.from(bytes, (q) => m.min + (q / 255) * (m.max - m.min));
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
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

function colormapTables(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of COLORMAPS) out[c] = b64(colormapLut(c));
  return out;
}

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '' : Number(v.toFixed(digits)).toString());

/** The eval section: one plot and one table per metric (layers × methods). */
export function evalSection(r: EvalResults): ViewerEval {
  const keys = metricKeys(r);
  const layerNames = [...new Set(r.rows.map((row) => row.layer))];
  return {
    summary:
      `${r.images} images, ${r.methods.length} methods (${r.methods.join(', ')}), ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}; ` +
      `explained and scored: the ground-truth class; deletion/insertion: ${r.settings.steps} steps, ${r.settings.substrate} substrate.`,
    // inline SVG in HTML needs no namespace declaration (and the report holds no URL at all)
    plots: keys.map((k) => ({ key: k, label: metricLabel(r, k), svg: plotSvg(r, k).replace(/\s+xmlns="[^"]*"/, '') })),
    tables: keys.map((k) => ({
      label: metricLabel(r, k),
      columns: ['layer', ...r.methods],
      rows: layerNames.map((name) => {
        const idx = r.rows.find((row) => row.layer === name)!.layerIndex;
        return [
          idx < 0 ? 'input (pixel space)' : `${idx} ${name}`,
          ...r.methods.map((m) => fmt(r.rows.find((row) => row.method === m && row.layer === name)?.values[k as keyof EvalResults['rows'][number]['values']])),
        ];
      }),
    })),
  };
}

/** Everything the viewer needs from one explanation (and its compared baselines). */
export async function viewerData(result: ExplainResult | null, options: ViewerDataOptions = {}): Promise<ViewerData> {
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
    flows.push({
      method: 'naflow',
      label: `NAFlow (${result.mode} mode)`,
      layers: layers.map((l) => encodeMap(l.map, l.shape[0], l.shape[1], enc)),
    });
    for (const f of compare) {
      // aligned by tensor name (the baselines map the same trunk tensors as the cascade)
      const byName = new Map(f.layers.map((l) => [l.name, l]));
      flows.push({
        method: f.method,
        label: f.label ?? methodLabel(f.method),
        layers: layers.map((l) => {
          const c = byName.get(l.name);
          return c ? encodeMap(c.map, c.shape[0], c.shape[1], enc) : null;
        }),
      });
    }
  }
  let image: ViewerData['image'] = null;
  if (result?.image) {
    const png = await encodePng(result.image.data, result.image.width, result.image.height);
    image = { src: `data:image/png;base64,${png.toString('base64')}`, width: result.image.width, height: result.image.height, file: options.imageFile ?? null };
  }
  const d = result?.decision;
  const title =
    options.title ??
    (result
      ? `NAFlow: ${d?.label ?? `class ${d?.classIndex}`}${options.imageFile ? ` — ${options.imageFile}` : ''}`
      : options.eval
        ? `naflow eval: ${options.modelName ?? ''}`.trim()
        : 'naflow');
  return {
    format: 'naflow-viewer/1',
    title,
    naflow: options.version ?? '0.1.0',
    model:
      options.modelName || options.modelFile
        ? { name: options.modelName ?? options.modelFile ?? '', file: options.modelFile ?? null, sha256: options.modelSha256 ?? null }
        : null,
    image,
    // the decision without its logits (a thousand numbers the viewer does not show)
    decision: d ? { classIndex: d.classIndex, label: d.label, id: d.id, score: d.score } : null,
    mode: result?.mode ?? null,
    elapsedMs: result ? Math.round(result.elapsedMs) : null,
    layers: meta,
    flows,
    colormaps: colormapTables(),
    defaults: { colormap: options.colormap ?? 'jet', normalize: options.normalize ?? 'layer', opacity: options.opacity ?? 0.4 },
    ...(options.eval ? { eval: evalSection(options.eval) } : {}),
  };
}
