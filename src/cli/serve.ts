/** `naflow serve`: the viewer as a local web app (see src/serve/server.ts). */
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MODEL } from '../defaults.js';
import { startServer, type RunningServer, type ServeModel } from '../serve/server.js';
import { LOOPBACK_ADDRESSES, TOKEN_PATTERN, randomToken } from '../serve/access.js';
import { modelDisplayName } from '../viewer/data.js';
import { EXIT, UsageError, cardFieldsOf, checkModelPath, numberOption, parseBackendOptions, type GlobalOptions } from './common.js';

interface ServeOpts extends GlobalOptions {
  port: string;
  host: string;
  model: string[];
  maxUpload: string;
  concurrency: string;
  queue: string;
  allowHost: string[];
  token?: string;
}

export function registerServe(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('serve')
    .summary('a local web app: upload an image, watch the flow being computed, explore it in the viewer')
    .description(
      'Serve the viewer as a local web app: drop or choose an image, choose a model, mode and baselines, follow the progress live ' +
        'and explore the flow in the same viewer as report.html; download the report and the raw maps. The bundled Tiny Darknet ' +
        'is always there; --model adds classifiers (ONNX or TensorFlow.js). Explanations run one at a time in a worker thread ' +
        '(--concurrency), the others wait in a queue (--queue; 503 when full). Uploads: PNG, JPEG or WebP up to --max-upload MB ' +
        '(413 over it, 415 for anything else). Listens on 127.0.0.1 only unless --host says otherwise; off loopback every request ' +
        'needs a token (printed in the URL). Requests for a Host name other than loopback, the bound address or --allow-host ' +
        'are refused. Ctrl-C stops it.',
    )
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <addr>', "address to listen on ('0.0.0.0' exposes the app to the network)", '127.0.0.1')
    .option(
      '--model <file>',
      'also offer this model (repeatable); its card is <model>.naflow.json as for the other commands',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--allow-host <name>',
      'also answer requests for this Host name (repeatable; e.g. the machine name others use to reach it)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--token <token>', 'require this token (default off loopback: a random one; also NAFLOW_TOKEN); 16+ of A-Z a-z 0-9 . _ ~ -')
    .option('--max-upload <MB>', 'largest accepted upload, MB', '10')
    .option('--concurrency <n>', 'explanations computed at once (each in its own worker thread and memory)', '1')
    .option('--queue <n>', 'explanations allowed to wait; more are refused with 503', '8')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow serve                                  # → http://127.0.0.1:8080/ with the bundled Tiny Darknet\n' +
        '  naflow serve --port 9000 --model resnet20.onnx --model mobilenet/model.json\n' +
        '  naflow serve --host 0.0.0.0 --max-upload 5    # reachable from the network: token required (printed in the URL)',
    )
    .action(async (_o: ServeOpts, cmd: Command) => {
      await run(() => serveCommand(cmd.optsWithGlobals() as ServeOpts));
    });
}

function int(v: string, what: string, min: number, max: number): number {
  return numberOption(v, `--${what}`, { integer: true, min, max });
}

/**
 * The token to require: --token, else NAFLOW_TOKEN, else a random one when listening off loopback
 * (anyone on the network could use the app otherwise); none on loopback unless given.
 */
function serveToken(opts: ServeOpts): string | undefined {
  const given = opts.token ?? process.env.NAFLOW_TOKEN;
  if (given === undefined || given === '') return LOOPBACK_ADDRESSES.has(opts.host) ? undefined : randomToken();
  const from = opts.token !== undefined ? '--token' : 'NAFLOW_TOKEN';
  if (!TOKEN_PATTERN.test(given)) throw new UsageError(`${from} must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ - (got ${given.length} characters)`);
  return given;
}

function allowHosts(names: string[]): string[] {
  for (const n of names)
    if (!/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F.]*:[0-9a-fA-F.]*:[0-9a-fA-F:.]*|[A-Za-z0-9._-]+)$/.test(n))
      throw new UsageError(`--allow-host takes a host name or address without a port, got '${n}'`);
  return names;
}

export async function serveCommand(opts: ServeOpts): Promise<number> {
  const port = int(opts.port, 'port', 0, 65535);
  const concurrency = int(opts.concurrency, 'concurrency', 1, 16);
  const maxQueue = int(opts.queue, 'queue', 0, 1000);
  const mb = numberOption(opts.maxUpload, '--max-upload', { min: 0, minExclusive: true, max: 1024 });
  const { backend, threads } = parseBackendOptions(opts);
  const token = serveToken(opts);
  const allowHost = allowHosts(opts.allowHost);
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
      allowHosts: allowHost,
      token,
      log: (l) => process.stderr.write(`naflow serve: ${l}\n`),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${opts.host} is in use: choose another with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES') throw new UsageError(`cannot listen on ${opts.host}:${port} (${code})`);
    throw e;
  }
  if (!LOOPBACK_ADDRESSES.has(opts.host))
    process.stderr.write(`naflow serve: warning: listening on ${opts.host}: anyone who can reach this address and has the token can use the app\n`);
  const url = token === undefined ? server.url : `${server.url}?token=${token}`;
  process.stdout.write(`naflow serve: ${url} (models: ${models.map((m) => m.name).join(', ')}; Ctrl-C to stop)\n`);
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
