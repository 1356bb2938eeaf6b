/**
 * `naflow eval merge DIR… --out DIR [--html]`: the results of a run made in shards (`naflow eval
 * --shard i/n`), written as a local run writes them. `--out` and `--html` are `eval`'s own options
 * (commander gives an option named by a parent command to the parent), read from there.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { mergeShards, MergeError } from '../eval/merge.js';
import { writeReport } from '../eval/report.js';
import { mergeOutProblem, writingTo } from '../eval/out-folder.js';
import { checkWritable } from '../node/out-dir.js';
import { modelSha256 } from '../node/hash.js';
import type { Model } from '../engine/model.js';
import { EXIT, UsageError, startBackend, withModelName, loadModelForCli, type GlobalOptions } from './common.js';
import { evalHtml } from './eval.js';

/** eval's options that merge takes: the rest come from the shards' eval-config.json. */
const MERGE_OPTIONS = new Set(['out', 'html']);

export function registerEvalMerge(evalCmd: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  // commander checks the parent's required options for a subcommand too: merge needs no --data
  evalCmd.hook('preSubcommand', () => {
    for (const o of evalCmd.options) o.mandatory = false;
  });
  evalCmd
    .command('merge')
    .usage('<dir...> --out <dir> [--html]')
    .summary("aggregate the shards of a run (naflow eval --shard i/n) into one run's results")
    .description(
      "Reads the per-image records (progress.jsonl) of every shard's --out folder, checks that the folders are the shards of one run " +
        '(the same model sha256, data listing, methods, layers, metrics and solver settings; each shard once, every image once) ' +
        'and writes results.json, results.csv, results.md and plot-<metric>.svg to --out, aggregated in the order of the data listing: ' +
        'the same results.json as the run made in one piece. --html also writes report.html (it loads the model recorded in the shards, ' +
        'which must still have the same sha256, to show the viewer on the first image).',
    )
    .argument('<dir...>', "the shards' --out folders (any order)")
    .addHelpText('after', '\nExample:\n  naflow eval merge eval/s0 eval/s1 eval/s2 --out eval/all --html')
    .action(async (dirs: string[], _o: unknown, cmd: Command) => {
      await run(() => evalMergeCommand(dirs, cmd.parent!));
    });
}

export async function evalMergeCommand(dirs: string[], evalCmd: Command): Promise<number> {
  const given = evalCmd.options.map((o) => o.attributeName()).filter((k) => evalCmd.getOptionValueSource(k) === 'cli' && !MERGE_OPTIONS.has(k));
  if (given.length)
    throw new UsageError(
      `eval merge takes only --out and --html (the shards' eval-config.json holds the rest), got --${given.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')}`,
    );
  const opts = evalCmd.optsWithGlobals() as GlobalOptions & { out: string; html?: boolean };
  if (evalCmd.getOptionValueSource('out') !== 'cli') throw new UsageError('eval merge: --out <dir> is required (the folder for the merged results)');
  const out = path.resolve(opts.out);
  const clash = dirs.find((d) => path.resolve(d) === out);
  if (clash) throw new UsageError(`eval merge: --out ${opts.out} is one of the shard folders; choose another folder for the merged results`);
  const outProblem = mergeOutProblem(opts.out);
  if (outProblem) throw new UsageError(`eval merge: ${outProblem}`);
  checkWritable(opts.out, '--out', { into: true });
  const { results, first, config } = mergeShards(dirs);
  const modelFile = config.model.file;
  // --html explains the first image with the shards' model: checked before anything is written
  if (opts.html && (!fs.existsSync(modelFile) || modelSha256(modelFile) !== config.model.sha256))
    throw new MergeError(
      `eval merge --html: the shards' model ${modelFile} is ${fs.existsSync(modelFile) ? 'no longer the same file (its sha256 changed)' : 'absent here'}; merge without --html, or where the model is`,
    );
  writingTo(opts.out, () => fs.mkdirSync(opts.out, { recursive: true }));
  const files = writingTo(opts.out, () => writeReport(results, opts.out, `naflow eval: ${path.basename(modelFile)}`));
  if (opts.html && first) {
    await startBackend(opts);
    let model: Model;
    try {
      model = await loadModelForCli(modelFile, opts);
    } catch (e) {
      throw withModelName(e, modelFile);
    }
    try {
      const item = { file: first.file, classIndex: first.classIndex ?? 0 };
      const html = await evalHtml(model, modelFile, item, results);
      writingTo(opts.out, () => fs.writeFileSync(path.join(opts.out, 'report.html'), html));
      files.push('report.html');
    } finally {
      model.dispose();
    }
  }
  const { count } = config.shard;
  process.stdout.write(
    `${results.images} images from ${count} shard${count > 1 ? 's' : ''}, ${results.methods.length} methods, ${results.layers.length} layers → ${opts.out}/ (${files.join(', ')})\n`,
  );
  return EXIT.ok;
}
