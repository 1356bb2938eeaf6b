/**
 * `naflow card init <model>`: write a commented model card beside a model — the fields read off the
 * model (input size, channels, layout), the preprocessing given or the default, and a comment on each
 * choice the user should check. Never overwrites a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { importGraph, modelFileOf } from '../node/load.js';
import { cardPathFor } from '../node/card-file.js';
import { validateCard, type ModelCard } from '../model/card.js';
import { GraphError, type Graph } from '../ir/graph.js';
import { EXIT, UsageError, cardFieldsOf, checkModelPath, startBackend, withModelName, type GlobalOptions } from './common.js';

interface CardInitOpts extends GlobalOptions {
  labels?: string;
  ids?: string;
  name?: string;
  out?: string;
}

export function registerCard(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  const card = program.command('card').summary('write a model card (what a model expects) beside a model');
  card
    .command('init')
    .summary('write a commented <model>.naflow.json from the model and the options')
    .description(
      "Write a model card beside the model: input size, channels and layout read off the model; preprocessing from --preprocess (default unit, x/255: check it — torchvision models want imagenet); labels and ids files if given. Each field the user should check carries a '//' comment. An existing file is never overwritten.",
    )
    .argument('<model>', 'ONNX file, TensorFlow.js model.json or folder')
    .option('--labels <file>', 'one class label per line (path relative to the card, or made so)')
    .option('--ids <file>', 'one class identifier per line (e.g. WordNet ids)')
    .option('--name <text>', 'a display name')
    .option('--out <file>', 'write the card here instead of beside the model (then pass it with --card)')
    .addHelpText(
      'after',
      '\nExamples:\n  naflow card init resnet18.onnx --preprocess imagenet --labels imagenet-labels.txt\n  naflow card init fcn.onnx --input-size 224x224',
    )
    .action(async (model: string, _opts: CardInitOpts, cmd: Command) => {
      await run(() => cardInitCommand(model, cmd.optsWithGlobals() as CardInitOpts));
    });
  card.exitOverride().configureOutput(program.configureOutput());
  for (const c of card.commands) c.exitOverride().configureOutput(program.configureOutput());
}

/** The card's fields and comments, in the order a reader checks them. */
function cardText(file: string, fields: ModelCard, read: { inputSize: boolean }): string {
  const entries: Array<[string, unknown]> = [
    ['//', `naflow model card for ${path.basename(file)} (docs/models.md). Check each field; keys starting with // are comments.`],
    ['name', fields.name],
    ['// inputSize', read.inputSize ? "read off the model's input shape" : 'given with --input-size (the model leaves it open)'],
    ['inputSize', fields.inputSize],
    ['channels', fields.channels],
    ['// preprocess', 'imagenet: (x/255 − mean)/std, torchvision models; unit: x/255, most Keras and tfjs models; raw255: x in 0..255; or {scale, mean, std}'],
    ['preprocess', fields.preprocess],
    [
      '// resize',
      "squash: resize the whole photo to inputSize; center-crop: resize the shorter side to inputSize (or to resizeShorter: 256 for torchvision's Resize(256) + CenterCrop(224)), then crop the centre",
    ],
    ['resize', fields.resize],
    ['// layout', 'how an --input-tensor .npy file is read (images are always fed correctly)'],
    ['layout', fields.layout],
    ['labels', fields.labels],
    ['ids', fields.ids],
  ];
  const body = entries.filter(([, v]) => v !== undefined).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n${body.join(',\n')}\n}\n`;
}

export async function cardInitCommand(modelArg: string, opts: CardInitOpts): Promise<number> {
  checkModelPath(modelArg);
  const file = modelFileOf(modelArg);
  const out = opts.out ?? cardPathFor(file);
  if (fs.existsSync(out)) throw new UsageError(`${out} exists: naflow card init never overwrites a file (edit it, or choose another --out)`);
  const given = cardFieldsOf(opts);
  await startBackend(opts);
  let graph: Graph;
  try {
    graph = importGraph(modelArg, { inputSize: given.inputSize });
  } catch (e) {
    if (e instanceof GraphError && /symbolic dimension/.test(e.message))
      throw new UsageError(`${modelArg}: its input height and width are symbolic: give --input-size HxW`);
    throw withModelName(e, modelArg);
  }
  const shape = graph.inputs[0]?.shape ?? [];
  for (const t of graph.constants.values()) t.dispose();
  const [h, w, c] = shape.slice(1);
  const rel = (f: string | undefined) => (f === undefined ? undefined : path.relative(path.dirname(path.resolve(out)), path.resolve(f)) || f);
  for (const [what, f] of [
    ['--labels', opts.labels],
    ['--ids', opts.ids],
  ] as const)
    if (f !== undefined && !fs.existsSync(f)) throw new UsageError(`${what} ${f}: no such file`);
  const fields: ModelCard = {
    name: opts.name,
    inputSize: given.inputSize ?? (h > 0 && w > 0 ? [h, w] : undefined),
    channels: c === 1 || c === 3 ? c : undefined,
    preprocess: given.preprocess ?? 'unit',
    resize: 'squash',
    layout: given.layout ?? (graph.format === 'onnx' ? 'NCHW' : 'NHWC'),
    labels: rel(opts.labels),
    ids: rel(opts.ids),
  };
  const text = cardText(file, fields, { inputSize: given.inputSize === undefined });
  validateCard(JSON.parse(text), out); // what is written must load
  fs.writeFileSync(out, text, { flag: 'wx' });
  process.stdout.write(`${out}: written${given.preprocess ? '' : " (preprocess 'unit', x/255: check it — a torchvision model wants imagenet)"}\n`);
  return EXIT.ok;
}
