/**
 * `naflow predict [model] [image…]`: top-k classes per image.
 */
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { Model } from '../engine/model.js';
import { imageSpecFor, prepareImageForSpec } from '../image/preprocess.js';
import { predict, type PredictResult } from '../predict.js';
import { currentBackend, currentThreads } from '../engine/backend.js';
import {
  EXIT,
  UsageError,
  checkModelPath,
  defaultImages,
  positiveNumber,
  reportError,
  splitModelAndImages,
  startBackend,
  withModelName,
  type GlobalOptions,
  loadModelForCli,
} from './common.js';
import { formatPercent } from '../util/format.js';
import { tensorFromNpy } from './input-tensor.js';

interface PredictOpts extends GlobalOptions {
  top: string;
  json?: boolean;
  logits?: boolean;
  inputTensor?: string;
}

export function registerPredict(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('predict')
    .summary('classify images (top-k classes)')
    .description(
      'Classify each image with the model and print its top-k classes.\n\n' +
        'With no model, the bundled default (Tiny Darknet, ImageNet-1k) is used; with no image, the bundled photo of a cat. ' +
        'If the first argument is an image file (.jpg .jpeg .png .webp …), it is taken as an image for the default model. ' +
        "Input size, preprocessing and labels come from the model's card (<model>.naflow.json, or --card).",
    )
    .argument('[model]', 'ONNX file, TensorFlow.js model.json, or a folder holding model.json (default: bundled Tiny Darknet)')
    .argument('[images...]', 'JPEG, PNG or WebP files (default: the bundled cat photo)')
    .option('--top <k>', 'number of classes to show per image', '5')
    .option('--json', 'one JSON object per line per image: {"image","top":[{"index","label","prob","id"}]}')
    .option('--logits', 'with --json: also every output value before softmax ("logits"), to compare with another framework')
    .option('--input-tensor <file>', "classify a preprocessed float32 .npy tensor in the model's own input layout instead of an image")
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow predict                              # bundled model on the bundled cat photo\n' +
        '  naflow predict photo.jpg other.png          # bundled model on your images\n' +
        '  naflow predict resnet.onnx photo.jpg --top 3\n' +
        '  naflow predict model/model.json *.jpg --json > predictions.jsonl\n' +
        '  naflow predict model.onnx --input-tensor x.npy --json --logits   # the same numbers as your framework\n' +
        '\nExit codes: 0 ok, 1 bad input (missing file, not a model, not an image, unsupported model),\n' +
        '2 internal error.',
    )
    .action(async (model: string | undefined, images: string[], _opts: PredictOpts, cmd: Command) => {
      await run(() =>
        predictCommand(
          [model, ...images].filter((a): a is string => a !== undefined),
          cmd.optsWithGlobals() as PredictOpts,
        ),
      );
    });
}

function formatText(image: string, r: PredictResult): string {
  const rows = r.top.map((p, i) => [`${i + 1}.`, p.label ?? `class ${p.index}`, p.id ?? '', formatPercent(p.prob)]);
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) => `  ${row[0].padStart(w[0])} ${row[1].padEnd(w[1])}  ${row[2].padEnd(w[2])}  ${row[3].padStart(w[3])}`.replace(/\s+$/, ''));
  return `${image}\n${lines.join('\n')}\n`;
}

export async function predictCommand(args: string[], opts: PredictOpts): Promise<number> {
  const top = positiveNumber(opts.top, '--top', true);
  if (opts.logits && !opts.json) throw new UsageError('--logits goes with --json (the logits are a field of each JSON line)');
  const split = splitModelAndImages(args);
  if (opts.inputTensor && split.images.length)
    throw new UsageError(`give either images or --input-tensor, not both (got ${split.images.join(', ')} and --input-tensor ${opts.inputTensor})`);
  const images = opts.inputTensor ? [opts.inputTensor] : defaultImages(split.images);
  checkModelPath(split.model);
  const debug = process.env.NAFLOW_DEBUG === '1';
  const t0 = performance.now();
  await startBackend(opts);
  const tBackend = performance.now();
  let model: Model;
  try {
    model = await loadModelForCli(split.model, opts, { warnDefaults: !opts.inputTensor });
  } catch (e) {
    throw withModelName(e, split.model);
  }
  const tLoad = performance.now();
  if (debug)
    process.stderr.write(
      `naflow: backend ${currentBackend()} (${currentThreads()} thread${currentThreads() > 1 ? 's' : ''}) ${(tBackend - t0).toFixed(0)} ms, model ${(tLoad - tBackend).toFixed(0)} ms\n`,
    );
  let exit: number = EXIT.ok;
  try {
    // Checked once, before any image: input size, channel count, preprocessing.
    const spec = opts.inputTensor ? undefined : imageSpecFor(model);
    const bar =
      images.length > 3 && process.stderr.isTTY && opts.json
        ? new cliProgress.SingleBar(
            { stream: process.stderr, format: 'predict [{bar}] {value}/{total} images', hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    bar?.start(images.length, 0);
    for (const image of images) {
      try {
        const t1 = performance.now();
        const tensor = spec ? (await prepareImageForSpec(image, spec)).tensor : tensorFromNpy(image, model);
        let result: PredictResult;
        try {
          result = await predict(model, tensor, { top });
        } finally {
          tensor.dispose();
        }
        if (debug) process.stderr.write(`naflow: ${image}: ${(performance.now() - t1).toFixed(0)} ms\n`);
        if (opts.json) process.stdout.write(`${JSON.stringify({ image, top: result.top, ...(opts.logits ? { logits: result.logits } : {}) })}\n`);
        else process.stdout.write(formatText(image, result));
      } catch (e) {
        // one bad image does not stop the others; the exit code reports it
        bar?.stop();
        const code = reportError(e);
        exit = Math.max(exit, code);
      }
      bar?.increment();
    }
    bar?.stop();
  } finally {
    model.dispose();
  }
  return exit;
}
