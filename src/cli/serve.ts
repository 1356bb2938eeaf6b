/** `naflow serve`: the viewer as a local web app (see src/serve/server.ts). */
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MODEL } from '../defaults.js';
import { startServer, type RunningServer, type ServeModel } from '../serve/server.js';
import { modelDisplayName } from '../viewer/data.js';
import { EXIT, UsageError, cardFieldsOf, checkModelPath, numberOption, parseBackendOptions, type GlobalOptions } from './common.js';

interface ServeOpts extends GlobalOptions {
  port: string;
  host: string;
  model: string[];
  maxUpload: string;
  concurrency: string;
  queue: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function registerServe(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('serve')
    .summary('a local web app: upload an image, watch the flow being computed, explore it in the viewer')
    .description(
      'Serve the viewer as a local web app: drop or choose an image, choose a model, mode and baselines, follow the progress live ' +
        'and explore the flow in the same viewer as report.html; download the report and the raw maps. The bundled Tiny Darknet ' +
        'is always there; --model adds classifiers (ONNX or TensorFlow.js). Explanations run one at a time in a worker thread ' +
        '(--concurrency), the others wait in a queue (--queue; 503 when full). Uploads: PNG, JPEG or WebP up to --max-upload MB ' +
        '(413 over it, 415 for anything else). Listens on 127.0.0.1 only unless --host says otherwise. Ctrl-C stops it.',
    )
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <addr>', "address to listen on ('0.0.0.0' exposes the app to the network)", '127.0.0.1')
    .option(
      '--model <file>',
      'also offer this model (repeatable); its card is <model>.naflow.json as for the other commands',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--max-upload <MB>', 'largest accepted upload, MB', '10')
    .option('--concurrency <n>', 'explanations computed at once (each in its own worker thread and memory)', '1')
    .option('--queue <n>', 'explanations allowed to wait; more are refused with 503', '8')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow serve                                  # → http://127.0.0.1:8080/ with the bundled Tiny Darknet\n' +
        '  naflow serve --port 9000 --model resnet20.onnx --model mobilenet/model.json\n' +
        '  naflow serve --host 0.0.0.0 --max-upload 5    # reachable from the network: mind who can use it',
    )
    .action(async (_o: ServeOpts, cmd: Command) => {
      await run(() => serveCommand(cmd.optsWithGlobals() as ServeOpts));
    });
}

function int(v: string, what: string, min: number, max: number): number {
  return numberOption(v, `--${what}`, { integer: true, min, max });
}

export async function serveCommand(opts: ServeOpts): Promise<number> {
  const port = int(opts.port, 'port', 0, 65535);
  const concurrency = int(opts.concurrency, 'concurrency', 1, 16);
  const maxQueue = int(opts.queue, 'queue', 0, 1000);
  const mb = numberOption(opts.maxUpload, '--max-upload', { min: 0, minExclusive: true, max: 1024 });
  const { backend, threads } = parseBackendOptions(opts);
  const models: ServeModel[] = [{ id: 'tiny-darknet', name: 'Tiny Darknet (ImageNet)', file: DEFAULT_MODEL, kind: 'bundled' }];
  opts.model.forEach((file, i) => {
    checkModelPath(file);
    models.push({
      id: `m${i + 1}`,
      name: modelDisplayName(file),
      file: path.resolve(file),
      card: opts.card,
      cardFields: cardFieldsOf(opts),
      kind: 'registered',
    });
  });
  let server: RunningServer;
  try {
    server = await startServer({
      port,
      host: opts.host,
      models,
      maxUploadBytes: Math.round(mb * 1024 * 1024),
      concurrency,
      maxQueue,
      backend,
      threads,
      log: (l) => process.stderr.write(`naflow serve: ${l}\n`),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${opts.host} is in use: choose another with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES') throw new UsageError(`cannot listen on ${opts.host}:${port} (${code})`);
    throw e;
  }
  if (!LOOPBACK.has(opts.host)) process.stderr.write(`naflow serve: warning: listening on ${opts.host}: anyone who can reach this address can use the app\n`);
  process.stdout.write(`naflow serve: ${server.url} (models: ${models.map((m) => m.name).join(', ')}; Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write('naflow serve: stopping\n');
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return EXIT.ok;
}
