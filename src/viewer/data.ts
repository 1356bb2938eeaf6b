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
import type { ColormapName } from '../render/index.js';
import { encodePng } from '../node/compose.js';
import type { EvalResults } from '../eval/run.js';
import { metricKeys, metricLabel, plotSvg } from '../eval/report.js';
import { methodLabel } from '../methods/index.js';
import { colormapTables, viewerMaps, type CompareFlow, type ViewerFlow, type ViewerLayer } from '../viewdata/index.js';

export { encodeMap, decodeMap, type ViewerMap, type ViewerLayer, type ViewerFlow, type CompareFlow } from '../viewdata/index.js';

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
  const { layers: meta, flows } = viewerMaps(result, { ...options, labelOf: methodLabel });
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
