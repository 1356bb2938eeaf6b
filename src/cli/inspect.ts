/**
 * `naflow inspect [model]`: every node with its op, output shape, parameter count and whether naflow
 * supports it, then a verdict line.
 */
import type { Command } from 'commander';
import type { Model } from '../engine/model.js';
import { inferShapesLenient, inspectGraph, formatInspect } from '../inspect.js';
import { looksLikeImageFile } from '../node/decode-image.js';
import { DEFAULT_MODEL } from '../defaults.js';
import { EXIT, UsageError, checkModelPath, looksLikeModelPath, startBackend, withModelName, type GlobalOptions, loadModelForCli } from './common.js';

interface InspectOpts extends GlobalOptions {
  json?: boolean;
}

export function registerInspect(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('inspect')
    .summary('list the nodes of a model and whether naflow supports them')
    .description(
      "Import a model and list every node of naflow's graph: name, op (and the op in the source format), " +
        'output shape (NHWC), parameter count and whether naflow supports the op. ' +
        'The last line is the verdict; unsupported ops are listed by op type with the nodes that use them.\n\n' +
        'With no model, the bundled default (Tiny Darknet) is inspected.',
    )
    .argument('[model]', 'ONNX file, TensorFlow.js model.json, or a folder holding model.json (default: bundled Tiny Darknet)')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow inspect                       # the bundled model\n' +
        '  naflow inspect resnet20.onnx\n' +
        '  naflow inspect my-model/ --json | jq .verdict\n' +
        '\nExit codes: 0 all ops supported, 3 the model loaded but some ops are not supported,\n' +
        '1 bad input (missing file, not a model), 2 internal error.',
    )
    .action(async (model: string | undefined, _opts: InspectOpts, cmd: Command) => {
      await run(() => inspectCommand(model, cmd.optsWithGlobals() as InspectOpts));
    });
}

export async function inspectCommand(modelArg: string | undefined, opts: InspectOpts): Promise<number> {
  const file = modelArg ?? DEFAULT_MODEL;
  if (modelArg && looksLikeImageFile(modelArg) && !looksLikeModelPath(modelArg))
    throw new UsageError(`${modelArg}: is an image, not a model; inspect takes a model (ONNX file or TensorFlow.js model.json)`);
  checkModelPath(file);
  await startBackend(opts);
  let model: Model;
  try {
    // Shapes are inferred leniently so that models with unsupported ops can still be listed.
    model = await loadModelForCli(file, opts, { skipShapes: true, warnDefaults: false });
  } catch (e) {
    throw withModelName(e, file);
  }
  try {
    inferShapesLenient(model);
    const report = inspectGraph(model.graph);
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${formatInspect(report)}\n`);
    return report.allSupported ? EXIT.ok : EXIT.unsupported;
  } finally {
    model.dispose();
  }
}
