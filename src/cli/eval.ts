/** `naflow eval`: NAFlow and the baselines over a dataset, scored with faithfulness metrics. */
import path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { readDataset } from '../eval/dataset.js';
import { evalOutProblem, writingTo } from '../eval/out-folder.js';
import { checkWritable } from '../node/out-dir.js';
import { runEval } from '../eval/run.js';
import { inShard, parseShard, shardName } from '../eval/shard.js';
import { registerEvalMerge } from './eval-merge.js';
import { writeReport } from '../eval/report.js';
import fs from 'node:fs';
import { explain } from '../naflow/explain.js';
import { prepareImage } from '../image/preprocess.js';
import { compareAtLayers, listMethods, parseMethodList, resolveMethod, type Comparison } from '../methods/index.js';
import { getMetric, listMetrics } from '../metrics/index.js';
import { modelDisplayName, viewerData } from '../viewer/data.js';
import { renderReport } from '../viewer/report.js';
import type { Model } from '../engine/model.js';
import type { EvalItem } from '../eval/dataset.js';
import type { EvalResults } from '../eval/run.js';
import { EXIT, UsageError, checkModelPath, positiveNumber, startBackend, withModelName, type GlobalOptions, loadModelForCli } from './common.js';

interface EvalOpts extends GlobalOptions {
  data: string;
  methods: string;
  layers: string;
  metrics: string;
  limit?: string;
  every?: string;
  steps: string;
  substrate: string;
  sanityStages: string;
  out: string;
  html?: boolean;
  shard?: string;
}

/** --metrics: registered metric keys, in the order given (validated before any work). */
function parseMetrics(v: string): string[] {
  const keys = [
    ...new Set(
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  if (!keys.length)
    throw new UsageError(
      `--metrics: empty list; choose from ${listMetrics()
        .map((m) => m.key)
        .join(', ')}`,
    );
  for (const k of keys) getMetric(k, '--metrics');
  return keys;
}

export function registerEval(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  const evalCmd = program
    .command('eval')
    .summary('score NAFlow and the baselines over a dataset with faithfulness metrics')
    .description(
      'Explain every image of a dataset (the ground-truth class) with each method at the chosen layers and score the maps: ' +
        'deletion/insertion AUC, average drop / increase in confidence, pointing game and energy pointing (with ground-truth boxes), ' +
        'and the model-randomisation sanity check (Spearman ρ between the maps of the trained and of progressively randomised models). ' +
        'Progress is saved after every image in <out>/progress.jsonl: run the same command again to resume after Ctrl-C or a crash. ' +
        'Writes results.json, results.csv, results.md and plot-<metric>.svg to --out.',
    )
    .argument('<model>', 'ONNX file or TensorFlow.js model')
    .requiredOption(
      '--data <dir|json>',
      'labels JSON (list of {file, label|wnid, boxes_…}; e.g. imagenet-val1300/labels-boxes.json) or a folder of class sub-folders',
    )
    .option(
      '--methods <list>',
      `comma-separated: ${listMethods()
        .map((m) => m.id)
        .join(', ')}; naflow:key=value,… runs paper mode with a cascade variant (docs/faithfulness-study.md)`,
      'naflow,naflow-ref,layercam,gradcam',
    )
    .option('--layers <spec>', "'all', 'last', or comma-separated trunk layer indices / tensor names", 'last')
    .option(
      '--metrics <list>',
      `comma-separated: ${listMetrics()
        .map((m) => m.key)
        .join(', ')} (sanity explains every image again on each randomised model: opt in)`,
      'deletion,insertion,drop,pointing,energy',
    )
    .option('--every <k>', 'a systematic sample: every k-th image of the dataset (before --limit)')
    .option('--limit <n>', 'only the first n images')
    .option('--steps <n>', 'deletion/insertion: chunks of pixels', '32')
    .option('--substrate <s>', "deletion/insertion: 'blur' or 'zero'", 'blur')
    .option('--sanity-stages <n>', 'sanity: randomise the top 1/n, 2/n, … n/n of the weight layers (seed 1), one ρ per stage', '4')
    .option('--out <dir>', 'output folder (also the checkpoint)', 'naflow-eval')
    .option(
      '--shard <i/n>',
      "only shard i of n (0 ≤ i < n): image k of the listing (after --every, --limit) is shard k mod n's; one --out per shard, then 'naflow eval merge' (docs/scaling.md)",
    )
    .option(
      '--html',
      'also write report.html: the metric-vs-depth plots and tables, and the viewer on the first image (NAFlow beside the evaluated CAM methods at every layer)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  naflow eval models/tiny-darknet --data ../shared/data/imagenet-val1300 --methods naflow,layercam --layers all --limit 100 --out eval/darknet\n' +
        '  naflow eval models/tiny-darknet --data labels.json --layers all --limit 20 --html   # + eval/report.html',
    )
    .action(async (model: string, _o: EvalOpts, cmd: Command) => {
      await run(() => evalCommand(model, cmd.optsWithGlobals() as EvalOpts));
    });
  registerEvalMerge(evalCmd, run);
}

export async function evalCommand(modelFile: string, opts: EvalOpts): Promise<number> {
  // a comma followed by key= continues a naflow:key=value,… variant; unknown ids and bad options are refused here
  const methods = parseMethodList(opts.methods, '--methods').map((m) => m.id);
  const metrics = parseMetrics(opts.metrics);
  const steps = positiveNumber(opts.steps, '--steps', true);
  const sanityStages = positiveNumber(opts.sanityStages, '--sanity-stages', true);
  if (opts.substrate !== 'blur' && opts.substrate !== 'zero') throw new UsageError(`--substrate must be 'blur' or 'zero', got '${opts.substrate}'`);
  const limit = opts.limit === undefined ? undefined : positiveNumber(opts.limit, '--limit', true);
  const every = opts.every === undefined ? 1 : positiveNumber(opts.every, '--every', true);
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const layers = opts.layers === 'all' || opts.layers === 'last' ? opts.layers : opts.layers.split(',').map((s) => s.trim());
  // before any work: eval writes into --out, so it must be new, empty or an earlier eval's folder, and writable
  const outProblem = evalOutProblem(opts.out);
  if (outProblem) throw new UsageError(outProblem);
  checkWritable(opts.out, '--out', { into: true });
  checkModelPath(modelFile);
  await startBackend(opts);
  let model: Model;
  try {
    model = await loadModelForCli(modelFile, opts);
  } catch (e) {
    throw withModelName(e, modelFile);
  }
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'eval [{bar}] {value}/{total} images  ETA {eta_formatted}  {file}', hideCursor: true, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  try {
    let items = readDataset(opts.data, model.card);
    if (every > 1) items = items.filter((_, i) => i % every === 0);
    if (limit) items = items.slice(0, limit);
    const mine = items.filter((_, k) => inShard(k, shard));
    bar?.start(mine.length, 0, { file: '' });
    // without a terminal (nohup, CI, a log file) a line per image instead of the bar
    const started = Date.now();
    let resumedAt: number | undefined;
    const logLine = (done: number, total: number, file: string) => {
      resumedAt ??= done - 1; // images already in the checkpoint when this run started
      const mine = done - resumedAt,
        perImage = (Date.now() - started) / 1000 / mine;
      const eta = Math.round((total - done) * perImage);
      process.stderr.write(
        `eval ${done}/${total} images  ${perImage.toFixed(1)} s/image  ETA ${Math.floor(eta / 3600)}h${String(Math.floor((eta % 3600) / 60)).padStart(2, '0')}m  ${path.basename(file)}\n`,
      );
    };
    const results = await runEval(model, items, {
      methods,
      metrics,
      layers,
      steps,
      substrate: opts.substrate,
      sanityStages,
      out: opts.out,
      modelFile,
      data: opts.data,
      shard,
      onImage: (done, total, file) => (bar ? bar.update(done, { file: path.basename(file) }) : logLine(done, total, file)),
    });
    bar?.stop();
    const files = writeReport(results, opts.out, `naflow eval: ${path.basename(modelFile)}`);
    if (opts.html && mine.length) {
      const html = await evalHtml(model, modelFile, mine[0], results);
      writingTo(opts.out, () => fs.writeFileSync(path.join(opts.out, 'report.html'), html));
      files.push('report.html');
    }
    const of = shard ? ` (shard ${shardName(shard)} of ${items.length})` : '';
    process.stdout.write(`${results.images} images${of}, ${methods.length} methods, ${results.layers.length} layers → ${opts.out}/ (${files.join(', ')})\n`);
  } finally {
    bar?.stop();
    model.dispose();
  }
  return EXIT.ok;
}

/**
 * eval's report.html: the plots and tables, and the viewer on the dataset's first image (NAFlow in paper
 * mode and the evaluated CAM methods at every layer, for the ground-truth class).
 */
export async function evalHtml(model: Model, modelFile: string, item: EvalItem, results: EvalResults): Promise<string> {
  const baselines = results.methods.map((id) => resolveMethod(id)).filter((m) => m.method.comparable);
  const mode = results.methods.includes('naflow') || !results.methods.includes('naflow-ref') ? 'paper' : 'reference';
  const result = await explain(model, item.file, { mode, classIndex: item.classIndex });
  let compare: Comparison[] = [];
  if (baselines.length) {
    const x = (await prepareImage(model, item.file)).tensor;
    try {
      compare = compareAtLayers(model, x, baselines, { classIndex: item.classIndex, trunkEnd: result.trunkEnd, scoreTensor: result.scoreTensor });
    } finally {
      x.dispose();
    }
  }
  const data = await viewerData(result, {
    eval: results,
    compare,
    modelName: modelDisplayName(modelFile),
    modelFile,
    imageFile: path.basename(item.file),
    title: `naflow eval: ${modelDisplayName(modelFile)}`,
  });
  return renderReport(data);
}
