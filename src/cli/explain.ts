/**
 * `naflow explain [model] [image]`: the NAFlow attention flow of one image, written to a folder
 * (overlays, flow strip, GIF, raw .npy maps, flow.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import * as tf from '@tensorflow/tfjs-core';
import { explain, type ExplainResult } from '../naflow/explain.js';
import { outDirProblem, writeFlow } from '../node/write-flow.js';
import { checkWritable } from '../node/out-dir.js';
import { displayImage, imageSpecFor, prepareImage } from '../image/preprocess.js';
import { tensorFromNpy } from './input-tensor.js';
import { compareAtLayers, listMethods, type Comparison, type ResolvedMethod } from '../methods/index.js';
import { modelDisplayName, viewerData } from '../viewer/data.js';
import { renderReport } from '../viewer/report.js';
import type { Model } from '../engine/model.js';
import { addFlowOptions, parseFlowOptions, type FlowOptionValues, checkLayerSelection } from './flow-options.js';
import { compareOutput, parseCompare } from './compare-out.js';
import {
  EXIT,
  UsageError,
  checkModelPath,
  defaultImages,
  numberOption,
  splitModelAndImages,
  startBackend,
  withModelName,
  type GlobalOptions,
  loadModelForCli,
} from './common.js';
import { formatSignificant } from '../util/format.js';
import { carriesPicture } from '../render/index.js';

interface ExplainOpts extends GlobalOptions, FlowOptionValues {
  class?: string;
  out?: string;
  inputTensor?: string;
  scoreTensor?: string;
  html?: boolean;
  compare?: string;
}

export function registerExplain(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  addFlowOptions(
    program
      .command('explain')
      .summary('NAFlow: an attention map at every layer, written to a folder')
      .description(
        'Explain the decision on one image with NAFlow: a map at every layer of the convolutional trunk, shallow → deep.\n\n' +
          'Writes to --out: layers/<i>_<node>.png (overlay per layer), flow-strip.png (all layers), flow.gif (animated), ' +
          'maps/<i>_<node>.npy (raw float32 maps before normalisation) and flow.json (decision, mode, per-layer shape, kept fraction, ' +
          'solver statistics and file paths). With no arguments it explains the bundled cat photo with the bundled Tiny Darknet.',
      )
      .argument('[model]', 'ONNX file, TensorFlow.js model.json or folder (default: bundled Tiny Darknet)')
      .argument('[image]', 'JPEG, PNG or WebP (default: the bundled cat photo)')
      .option('--class <n>', 'explain this class index instead of the predicted one')
      .option(
        '--out <dir>',
        'output folder (default: naflow-out/<image name>); an earlier naflow output there is replaced, a folder holding anything else is refused',
      )
      .option('--input-tensor <file>', "explain a preprocessed float32 .npy tensor in the model's own input layout instead of an image")
      .option(
        '--score-tensor <tensor>',
        "the tensor holding the scores to explain (default: the model's first output, or the input of a final Softmax or Sigmoid)",
      )
      .option(
        '--html',
        'also write report.html: a self-contained viewer (depth scrubber, play, normalisation, colour map, opacity, layer facts) that opens from disk',
      )
      .option(
        '--compare <methods>',
        `also compute these baselines at every layer (comma-separated: ${listMethods({ comparable: true })
          .map((m) => m.id)
          .join(', ')}), written to compare/<method>/*.npy and shown side by side in report.html`,
      ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow explain                                # bundled model and photo → naflow-out/chelsea\n' +
        '  naflow explain photo.jpg --out out/photo\n' +
        '  naflow explain resnet20.onnx cat.png --mode reference --colormap turbo\n' +
        '  naflow explain model.onnx --input-tensor x.npy --json > flow.json\n' +
        '  naflow explain --html --compare layercam,gradcam   # + report.html, side by side with two baselines',
    )
    .action(async (model: string | undefined, image: string | undefined, _opts: ExplainOpts, cmd: Command) => {
      await run(() =>
        explainCommand(
          [model, image].filter((a): a is string => a !== undefined),
          cmd.optsWithGlobals() as ExplainOpts,
        ),
      );
    });
}

/** The baselines' maps at every trunk layer, for the class NAFlow explained (the same input tensor). */
async function compareFlows(model: Model, input: string | tf.Tensor, methods: ResolvedMethod[], result: ExplainResult): Promise<Comparison[]> {
  if (!methods.length) return [];
  const owned = typeof input === 'string' ? (await prepareImage(model, input)).tensor : undefined;
  try {
    const x = owned ?? (input as tf.Tensor);
    return compareAtLayers(model, x, methods, { classIndex: result.decision.classIndex, trunkEnd: result.trunkEnd, scoreTensor: result.scoreTensor });
  } finally {
    owned?.dispose();
  }
}

/** A progress bar over the cascade's layers on stderr when `show`, started on the first layer; a no-op otherwise. */
function layerProgress(show: boolean): { onLayer: (done: number, total: number, name: string) => void; stop: () => void } {
  const bar = show
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'explain [{bar}] {value}/{total} layers  {layer}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  return {
    onLayer: (done, total, name) => {
      if (!bar) return;
      if (!started) {
        bar.start(total, 0, { layer: '' });
        started = true;
      }
      bar.update(done, { layer: name.slice(-40) });
    },
    stop: () => bar?.stop(),
  };
}

/** The human summary of an explanation: the decision, the maps written and where, then what to know about them. */
function explainSummary(source: string, result: ExplainResult, mode: string, out: string, notes: { drawnAll: boolean }): string {
  const d = result.decision;
  const flat = result.layers.filter((l) => !carriesPicture(l.shape)).length;
  return (
    `${source}: class ${d.classIndex}${d.label ? ` (${d.label}${d.id ? `, ${d.id}` : ''})` : ''}, score ${formatSignificant(d.score)}\n` +
    `${result.layers.length} layer maps (${mode} mode) in ${(result.elapsedMs / 1000).toFixed(2)} s → ${out}/\n` +
    (flat && !notes.drawnAll ? `${flat} of them 1×1 (no picture: squeeze-excitation gates, pools): in maps/ only; --include-1x1 draws them\n` : '') +
    (result.nothingAbandoned ? `${NOTHING_ABANDONED}\n` : '')
  );
}

/** What to say when paper mode abandoned no neuron (users would otherwise compare identical pictures). */
const NOTHING_ABANDONED =
  "note: paper mode abandoned no neuron in any layer (no importance is zero, as with smooth activations such as SiLU, GELU, ELU), so its maps are reference mode's";

export async function explainCommand(args: string[], opts: ExplainOpts): Promise<number> {
  const { mode, normalize, colormap, variant, displaySize, layers, include1x1 } = parseFlowOptions(opts);
  const classIndex = opts.class === undefined ? undefined : numberOption(opts.class, '--class', { integer: true, min: 0 });

  const compare = parseCompare(opts.compare);
  const split = splitModelAndImages(args);
  if (split.images.length > 1) throw new UsageError(`explain takes one image, got ${split.images.length}`);
  if (opts.inputTensor && split.images.length)
    throw new UsageError(`give either an image or --input-tensor, not both (got ${split.images.join(', ')} and --input-tensor ${opts.inputTensor})`);
  const image = opts.inputTensor ? undefined : defaultImages(split.images)[0];
  const source = opts.inputTensor ?? image!;
  const out = opts.out ?? path.join('naflow-out', path.basename(source).replace(/\.[^.]+$/, ''));
  // before any work: --out is replaced at the end, so it must be new, empty or an earlier naflow output
  const outProblem = outDirProblem(out);
  if (outProblem) throw new UsageError(outProblem);
  checkWritable(out, '--out'); // a read-only or full disk is found before the work, not after
  checkModelPath(split.model);
  await startBackend(opts);
  let model: Model;
  try {
    model = await loadModelForCli(split.model, opts, { warnDefaults: !opts.inputTensor });
  } catch (e) {
    throw withModelName(e, split.model);
  }
  const progress = layerProgress(!!process.stderr.isTTY && !opts.json);
  let result: ExplainResult;
  let compared: Comparison[] = [];
  try {
    const input = opts.inputTensor ? tensorFromNpy(opts.inputTensor, model) : image!;
    try {
      result = await explain(model, input, {
        mode,
        classIndex,
        trunkEnd: opts.trunkEnd,
        scoreTensor: opts.scoreTensor,
        variant,
        onLayer: progress.onLayer,
      });
      compared = await compareFlows(model, input, compare, result);
    } finally {
      progress.stop();
      if (input instanceof tf.Tensor) input.dispose();
    }
    checkLayerSelection(opts.layers, result.layers);
    // the baselines' maps are written beside NAFlow's under the same file stems (layers aligned by tensor name)
    const compareOut = compareOutput(result, compared, result.decision.classIndex);
    const writeOpts = {
      normalize,
      colormap,
      layers,
      modelFile: split.model,
      imageFile: opts.inputTensor ?? image,
      preprocessing: opts.inputTensor ? { tensor: opts.inputTensor } : imageSpecFor(model),
      noImages: opts.images === false,
      extra: compareOut.extra,
    };
    if (displaySize && image && result.image) result.image = await displayImage(image, imageSpecFor(model), displaySize);
    const late = outDirProblem(out); // something appeared in --out while the cascade ran
    if (late) throw new UsageError(late);
    const json = await writeFlow(result, out, writeOpts, async (tmp) => {
      compareOut.write(tmp);
      if (opts.html) {
        const data = await viewerData(result, {
          modelName: split.defaultModel ? 'Tiny Darknet (bundled)' : modelDisplayName(split.model),
          modelFile: split.model,
          imageFile: path.basename(source),
          compare: compared,
          colormap,
          normalize,
          include1x1,
        });
        fs.writeFileSync(path.join(tmp, 'report.html'), renderReport(data));
      }
    });
    if (opts.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    else process.stdout.write(explainSummary(source, result, mode, out, { drawnAll: include1x1 || opts.layers !== undefined }));
  } finally {
    model.dispose();
  }
  return EXIT.ok;
}
