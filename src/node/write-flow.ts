/**
 * Write an explanation to a folder: raw maps (`maps/<i>_<node>.npy`, float32 H×W, before
 * normalisation), one overlay PNG per layer (`layers/<i>_<node>.png`), the flow strip
 * (`flow-strip.png`), the animated flow (`flow.gif`) and `flow.json`; callers add more through `also`
 * (`naflow explain --html --compare`: `report.html` and `compare/<method>/*.npy`). Everything is written to a
 * temporary sibling folder first and swapped in at the end (out-dir.ts: the old output is renamed aside,
 * the new one in, then the old one deleted), so a failure or a kill leaves nothing half-written and never
 * loses the old output. An existing output folder is replaced only when it is empty or an earlier naflow
 * output (see outDirProblem).
 */
import type { CascadeVariant } from '../naflow/variant.js';
import fs from 'node:fs';
import path from 'node:path';
import { encodeNpy } from '../util/npy.js';
import { modelSha256 } from './hash.js';
import { renderFlow, type ColormapName, type RgbImage } from '../render/index.js';
import { encodePng, flowStrip, flowGif, layerCaption } from './compose.js';
import type { ExplainResult } from '../naflow/explain.js';
import type { LayerFlow } from '../naflow/cascade.js';
import type { SolverStats } from '../ops/registry.js';
import { InputError, outputWriteError } from '../util/errors.js';
import { foreignOutputProblem, partialPrefix, removeOnSignal, sweepStale, swapIn } from './out-dir.js';

export interface WriteFlowOptions {
  normalize?: 'layer' | 'global';
  colormap?: ColormapName;
  /** keep only these layers in the images (all maps are still written); default all */
  layers?: (layer: ExplainResult['layers'][number], index: number) => boolean;
  /** provenance recorded in flow.json */
  modelFile?: string;
  imageFile?: string;
  preprocessing?: unknown;
  /** skip PNG/GIF rendering (maps and flow.json only) */
  noImages?: boolean;
  /** more top-level fields for flow.json (e.g. `similarity`) */
  extra?: Record<string, unknown>;
}

/** What every per-layer record (flow.json, the viewer's data) says about the layer itself: a NAFlow layer's facts and its index. */
export type LayerMeta = Pick<LayerFlow, 'name' | 'node' | 'op' | 'sourceOp' | 'shape' | 'kept'> & { index: number };

export interface FlowJsonLayer extends LayerMeta {
  solver: SolverStats[] | null;
  npy: string;
  png: string | null;
  min: number;
  max: number;
}

export interface FlowJson {
  naflow: string;
  model: { file: string | null; sha256: string | null };
  image: { file: string | null; width: number | null; height: number | null };
  preprocessing: unknown;
  mode: string;
  /** paper mode: the cascade's configuration (src/naflow/variant.ts) */
  variant?: CascadeVariant;
  /** paper mode that abandoned no neuron: its maps are reference mode's */
  nothingAbandoned?: ExplainResult['nothingAbandoned'];
  /** 'native-graph' (reference mode in one onnxruntime graph) or 'per-op' */
  engine: string;
  decision: ExplainResult['decision'];
  scoreTensor: string;
  trunkEnd: string;
  elapsedMs: number;
  layers: FlowJsonLayer[];
  [field: string]: unknown;
}

const safe = (s: string) =>
  s
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 80) || 'layer';

/** The model's sha256 as eval and the σ_max cache record it (a tfjs model: model.json and its weights). */
function sha256(file: string): string | null {
  try {
    return modelSha256(file);
  } catch {
    return null;
  }
}

/** Build flow.json's object (paths relative to the output folder). */
export function flowJson(result: ExplainResult, options: WriteFlowOptions = {}, version = '0.1.0'): FlowJson {
  const width = String(result.layers.length - 1).length;
  return {
    naflow: version,
    model: { file: options.modelFile ?? null, sha256: options.modelFile ? sha256(options.modelFile) : null },
    image: { file: options.imageFile ?? null, width: result.image?.width ?? null, height: result.image?.height ?? null },
    preprocessing: options.preprocessing ?? null,
    mode: result.mode,
    ...(result.variant ? { variant: result.variant } : {}),
    ...(result.nothingAbandoned ? { nothingAbandoned: result.nothingAbandoned } : {}),
    engine: result.engine,
    decision: result.decision,
    scoreTensor: result.scoreTensor,
    trunkEnd: result.trunkEnd,
    elapsedMs: Math.round(result.elapsedMs),
    ...options.extra,
    layers: result.layers.map((l, i) => {
      const stem = `${String(i).padStart(width, '0')}_${safe(l.node)}`;
      let min = Infinity;
      let max = -Infinity;
      for (const v of l.map) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const shown = !options.noImages && result.image && (options.layers?.(l, i) ?? true);
      return {
        index: i,
        name: l.name,
        node: l.node,
        op: l.op,
        sourceOp: l.sourceOp,
        shape: l.shape,
        kept: l.kept,
        solver: l.solver ?? null,
        npy: `maps/${stem}.npy`,
        png: shown ? `layers/${stem}.png` : null,
        min,
        max,
      };
    }),
  };
}

/** What writeFlow puts in an output folder: a folder holding only these (with flow.json) may be replaced. */
const OUTPUT_ENTRIES = new Set(['flow.json', 'maps', 'layers', 'flow-strip.png', 'flow.gif', 'reference', 'compare', 'report.html']);

/**
 * Why `outDir` may not be written (replaced) by writeFlow, or null when it may: it does not exist, is an
 * empty folder, or is an earlier naflow output folder (flow.json and nothing but naflow's own files).
 * Anything else — a file, or a folder holding other things — is never deleted.
 */
export function outDirProblem(outDir: string): string | null {
  const abs = path.resolve(outDir);
  const cwd = process.cwd();
  // replacing the folder the shell stands in (or one above it) would pull the floor from under it
  if (cwd === abs || cwd.startsWith(abs.endsWith(path.sep) ? abs : abs + path.sep))
    return `${outDir}: is the current folder${cwd === abs ? '' : ' or holds it'}; naflow replaces its output folder as a whole: choose a new folder (--out out/name)`;
  return foreignOutputProblem(
    outDir,
    (e) => OUTPUT_ENTRIES.has(e),
    (holds) =>
      `${outDir}: exists and is not a naflow output folder (it holds ${holds}); naflow replaces only its own earlier output: choose another output folder (--out)`,
    'flow.json',
  );
}

export async function writeFlow(
  result: ExplainResult,
  outDir: string,
  options: WriteFlowOptions = {},
  /** more folders written into the output before it is moved in place (e.g. the reference's flow) */
  also?: (tmpDir: string) => Promise<void>,
): Promise<FlowJson> {
  const problem = outDirProblem(outDir);
  if (problem) throw new InputError(problem);
  const json = flowJson(result, options);
  sweepStale(outDir);
  let tmp: string;
  try {
    fs.mkdirSync(path.dirname(path.resolve(outDir)), { recursive: true });
    tmp = fs.mkdtempSync(partialPrefix(outDir));
  } catch (e) {
    throw outputWriteError(e, outDir, '--out');
  }
  const release = removeOnSignal(tmp);
  try {
    fs.mkdirSync(path.join(tmp, 'maps'));
    json.layers.forEach((l, i) => {
      const layer = result.layers[i];
      fs.writeFileSync(path.join(tmp, l.npy), encodeNpy(layer.map, [layer.shape[0], layer.shape[1]]));
    });
    const image: RgbImage | undefined = options.noImages ? undefined : result.image;
    if (image) {
      fs.mkdirSync(path.join(tmp, 'layers'));
      const shown = json.layers.filter((l) => l.png);
      const overlays = renderFlow(
        shown.map((l) => ({ map: result.layers[l.index].map, height: l.shape[0], width: l.shape[1] })),
        image,
        { normalize: options.normalize ?? 'layer', colormap: options.colormap ?? 'jet' },
      );
      const tiles = overlays.map((o, k) => ({
        rgb: o.data,
        width: o.width,
        height: o.height,
        caption: layerCaption(shown[k].index, shown[k].node, shown[k].shape),
      }));
      // sharp encodes on libuv's thread pool: the GIF (the slowest), the strip and the PNGs in parallel.
      const gif = tiles.length ? flowGif(tiles, { delayMs: 400 }) : undefined;
      const strip = tiles.length ? flowStrip(tiles) : undefined;
      const pngs = await Promise.all(overlays.map((o) => encodePng(o.data, o.width, o.height)));
      pngs.forEach((png, k) => fs.writeFileSync(path.join(tmp, shown[k].png!), new Uint8Array(png)));
      if (strip && gif) {
        fs.writeFileSync(path.join(tmp, 'flow-strip.png'), new Uint8Array(await strip));
        fs.writeFileSync(path.join(tmp, 'flow.gif'), new Uint8Array(await gif));
      }
    }
    if (also) await also(tmp);
    fs.writeFileSync(path.join(tmp, 'flow.json'), `${JSON.stringify(json, null, 2)}\n`);
    // checked again just before replacing: never remove what naflow did not write
    const late = outDirProblem(outDir);
    if (late) throw new InputError(late);
    swapIn(tmp, outDir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw outputWriteError(e, outDir, '--out');
  } finally {
    release();
  }
  return json;
}
