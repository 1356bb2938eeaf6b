/**
 * The options `naflow explain` and `naflow explain-similarity` share (cascade mode and solver,
 * which layers get images, how they are drawn), declared and validated once.
 */
import type { Command } from 'commander';
import type { NaflowMode } from '../naflow/cascade.js';
import { DEFAULT_VARIANT, SPEC_VARIANT, resolveVariant, type CascadeVariant } from '../naflow/variant.js';
import { COLORMAPS, carriesPicture, type ColormapName } from '../render/index.js';
import { UsageError, numberOption } from './common.js';

export interface FlowOptionValues {
  mode: string;
  layers?: string;
  normalize: string;
  colormap: string;
  json?: boolean;
  rho?: string;
  maxIter?: string;
  variant?: string;
  trunkEnd?: string;
  images: boolean;
  displaySize?: string;
  include1x1?: boolean;
}

export interface FlowOptions {
  mode: NaflowMode;
  normalize: 'layer' | 'global';
  colormap: ColormapName;
  /** paper mode's configuration: the --variant (default: the default preset) with --rho / --max-iter applied */
  variant: CascadeVariant;
  displaySize?: number;
  /** which layers get images: --layers, else every layer that carries a picture (all with --include-1x1) */
  layers?: (l: { node: string; name: string; shape: readonly number[] }, i: number) => boolean;
  /** draw 1×1 layers too (in the images and the viewer) */
  include1x1: boolean;
}

export function addFlowOptions(cmd: Command): Command {
  return cmd
    .option('--mode <mode>', "'paper' (real least-squares inverses, default) or 'reference' (the authors' released code: B = A ⊙ mask)", 'paper')
    .option('--layers <list>', 'which layers get images: comma-separated indices, index ranges (3-7) or node names (default: all; every map is written)')
    .option('--normalize <how>', "'layer' (each map on its own min–max, the paper's) or 'global' (one scale for all layers)", 'layer')
    .option('--colormap <name>', `colour map: ${COLORMAPS.join(', ')}`, 'jet')
    .option('--json', 'also print flow.json to stdout')
    .option(
      '--variant <v>',
      `paper mode's configuration: a preset — default (the faithfulness study's choice: ρ = ${DEFAULT_VARIANT.rho}, cap ${DEFAULT_VARIANT.maxIter}) or spec (the method as the specification writes it: ρ = ${SPEC_VARIANT.rho}, cap ${SPEC_VARIANT.maxIter}) — or key=value,… changes to the spec (rho, maxIter, abandon, threshold, map, merge, unit; docs/faithfulness-study.md)`,
      'default',
    )
    .option('--rho <r>', `damping factor ρ of the least-squares inverses, λ = ρ·σ_max (default: the variant's, ${DEFAULT_VARIANT.rho})`)
    .option('--max-iter <n>', `LSMR iteration cap per solve (default: the variant's, ${DEFAULT_VARIANT.maxIter}; 300 converges)`)
    .option('--trunk-end <tensor>', 'override the last trunk tensor (default: found automatically)')
    .option('--no-images', 'write only flow.json and the .npy maps')
    .option(
      '--include-1x1',
      'also draw the layers whose maps are 1×1 (squeeze-excitation gates, global pools): left out of the strip, GIF and viewer by default; their maps are always written',
    )
    .option('--display-size <px>', "draw the overlays on the image at this size (longer side) instead of the model's input size, e.g. 256 for 32×32 models");
}

export function parseFlowOptions(o: FlowOptionValues): FlowOptions {
  if (o.mode !== 'paper' && o.mode !== 'reference') throw new UsageError(`--mode must be 'paper' or 'reference', got '${o.mode}'`);
  if (o.normalize !== 'layer' && o.normalize !== 'global') throw new UsageError(`--normalize must be 'layer' or 'global', got '${o.normalize}'`);
  if (!COLORMAPS.includes(o.colormap as ColormapName)) throw new UsageError(`--colormap must be one of ${COLORMAPS.join(', ')}, got '${o.colormap}'`);
  const variant = resolveVariant(o.variant ?? 'default', '--variant');
  if (o.rho !== undefined) {
    variant.rho = numberOption(o.rho, '--rho', { min: 0 });
  }
  if (o.maxIter !== undefined) variant.maxIter = numberOption(o.maxIter, '--max-iter', { integer: true, min: 1, max: 100000 });
  return {
    mode: o.mode,
    normalize: o.normalize,
    colormap: o.colormap as ColormapName,
    variant,
    displaySize: parseDisplaySize(o.displaySize),
    layers: parseLayers(o.layers) ?? (o.include1x1 ? undefined : (l) => carriesPicture(l.shape)),
    include1x1: !!o.include1x1,
  };
}

/** --display-size: a pixel count for the longer side of the drawn overlays. */
function parseDisplaySize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return numberOption(v, '--display-size', { integer: true, min: 16, max: 4096 });
}

/** One --layers entry: an index range (3-7), an index (3), or a node or tensor name. */
type LayerEntry = { text: string; from: number; to: number } | { text: string; name: string };

function layerEntries(spec: string | undefined): LayerEntry[] | undefined {
  if (!spec || spec === 'all') return undefined;
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const range = /^(\d+)-(\d+)$/.exec(text);
      if (range) return { text, from: Number(range[1]), to: Number(range[2]) };
      if (/^\d+$/.test(text)) return { text, from: Number(text), to: Number(text) };
      return { text, name: text };
    });
}

function parseLayers(spec: string | undefined): FlowOptions['layers'] {
  const entries = layerEntries(spec);
  if (!entries) return undefined;
  return (l, i) => entries.some((e) => ('name' in e ? e.name === l.node || e.name === l.name : i >= e.from && i <= e.to));
}

/**
 * --layers entries that name no layer of the explanation: an index past the end, a range outside it,
 * or a name that is neither a node nor a tensor. Checked before anything is written (a typo used to
 * give an output with no layer images).
 */
export function checkLayerSelection(spec: string | undefined, layers: ReadonlyArray<{ node: string; name: string }>): void {
  const entries = layerEntries(spec);
  if (!entries) return;
  const names = new Set(layers.flatMap((l) => [l.node, l.name]));
  const n = layers.length;
  const unknown = entries.filter((e) => ('name' in e ? !names.has(e.name) : e.from > e.to || e.to >= n)).map((e) => e.text);
  if (unknown.length)
    throw new UsageError(
      `--layers: no layer ${unknown.map((u) => `'${u}'`).join(', ')}: this explanation has ${n} layers, 0–${n - 1} (or their node and tensor names; see naflow inspect --json)`,
    );
}
