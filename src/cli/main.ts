/**
 * The `naflow` command line. `bin/naflow.js` imports this module and calls `main()`.
 *
 * Global options (before or after the command): --backend wasm|cpu, --threads n, --card <file>.
 * Environment: NAFLOW_BACKEND, NAFLOW_THREADS (override the options), NAFLOW_DEBUG=1 (stack traces,
 * timings).
 * Exit codes: see EXIT in ./common.ts (0 ok, 1 bad input/usage, 2 internal error, 3 inspect: unsupported ops).
 */
import '../node/register.js';
import { Command, CommanderError } from 'commander';
import { shutdownBackend } from '../engine/backend.js';
import { EXIT, flushStdio, reportError } from './common.js';
import { registerInspect } from './inspect.js';
import { registerPredict } from './predict.js';
import { registerExplain } from './explain.js';
import { registerSimilarity } from './similarity.js';
import { registerEval } from './eval.js';
import { registerServe } from './serve.js';
import { registerCard } from './card.js';

const VERSION = '0.1.0';

export function buildProgram(onExitCode: (code: number) => void): Command {
  const program = new Command();
  const run = async (fn: () => Promise<number>): Promise<void> => {
    try {
      onExitCode(await fn());
    } catch (e) {
      onExitCode(reportError(e));
    }
  };
  program
    .name('naflow')
    .description('Import CNNs (ONNX, TensorFlow.js) and run, inspect, explain and evaluate them in Node.')
    .version(VERSION, '-V, --version')
    .option('--backend <name>', "tensor backend: 'wasm' (default) or 'cpu'")
    .option(
      '--threads <n>',
      'wasm threads and native-convolution threads (default: wasm 1, native min(2, cores)); 2+ wasm threads are an opt-in that starts the wasm-threads shim (~0.2 s)',
    )
    .option('--card <file>', 'model card to use instead of <model>.naflow.json (or <model>.onnx.naflow.json)')
    .option(
      '--preprocess <p>',
      "pixel normalisation, over the card's: imagenet ((x/255 − mean)/std, torchvision's), unit (x/255, the default without a card) or raw255 (x)",
    )
    .option('--input-size <HxW>', "the image size the model takes, over the card's (e.g. 224 or 224x224; fixes an ONNX input's symbolic height and width)")
    .option('--layout <l>', "the layout of the model's own input for --input-tensor files: NCHW (ONNX's default) or NHWC")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(run naflow --help for usage)')
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`naflow: ${str.replace(/^error: /, '')}`),
    })
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow predict                     # bundled Tiny Darknet on the bundled cat photo\n' +
        '  naflow predict photo.jpg --top 3   # your image, bundled model\n' +
        '  naflow predict model.onnx a.jpg b.png --json\n' +
        '  naflow inspect model.onnx          # which ops are supported (exit 3 if some are not)\n' +
        '  naflow explain                     # NAFlow maps at every layer → naflow-out/chelsea/\n' +
        '  naflow explain-similarity m.onnx --query q.jpg --ref r.jpg   # embedding models\n' +
        '  naflow eval model.onnx --data labels.json --methods naflow,gradcam --layers all   # faithfulness\n' +
        '  naflow explain --html --compare layercam     # + report.html: the flow in a self-contained viewer\n' +
        '  naflow serve                                 # the viewer as a local web app on http://127.0.0.1:8080/\n' +
        '\nEnvironment: NAFLOW_BACKEND=wasm|cpu and NAFLOW_THREADS=n override --backend/--threads;\n' +
        'NAFLOW_NATIVE=0 turns the native (onnxruntime-node) convolutions off, NAFLOW_NATIVE_THREADS=n sizes them;\n' +
        'NAFLOW_DEBUG=1 prints stack traces and timings.\n' +
        'Exit codes: 0 ok, 1 bad input or usage, 2 internal error, 3 (inspect) unsupported ops.',
    );
  registerPredict(program, run);
  registerInspect(program, run);
  registerExplain(program, run);
  registerSimilarity(program, run);
  registerEval(program, run);
  registerServe(program, run);
  registerCard(program, run);
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Run the CLI with `argv` (process.argv layout); returns the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help / version are exit 0; anything else commander rejects is a usage error
      code = e.exitCode === 0 ? EXIT.ok : EXIT.input;
    } else code = reportError(e);
  }
  return code;
}

/** Entry point for bin/naflow.js: run, stop the wasm threads, flush, exit. */
export async function main(argv: string[] = process.argv): Promise<never> {
  let code = await runCli(argv);
  try {
    await shutdownBackend();
  } catch (e) {
    if (code === EXIT.ok) code = reportError(e);
  }
  await flushStdio();
  process.exit(code);
}
