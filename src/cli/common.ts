/**
 * Shared CLI plumbing: exit codes, error classification, argument resolution (model vs image),
 * backend start-up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { initBackendInfo, type BackendInfo, type BackendName } from '../engine/backend.js';
import { setNativeThreads } from '../runtime/native.js';
import { looksLikeImageFile } from '../node/decode-image.js';
import { DEFAULT_IMAGE, DEFAULT_MODEL } from '../defaults.js';
import { CommanderError } from 'commander';
import { UsageError, isInputError, pathProblem } from '../util/errors.js';
import { describeRange, parseNumberIn, type NumberRange } from '../util/number.js';
import { loadModel } from '../node/load.js';
import type { Model } from '../engine/model.js';
import { PREPROCESS_PRESETS, type ModelCard } from '../model/card.js';

export { UsageError } from '../util/errors.js';

/**
 * Exit codes of every naflow command:
 *   0  success
 *   1  bad input or usage: unknown option, missing/unreadable file, not a model, not an image,
 *      a model the image cannot be fed to, an invalid model card, a model with unsupported ops (predict)
 *   2  internal error (a bug in naflow: please report it with NAFLOW_DEBUG=1 output)
 *   3  `naflow inspect` only: the model loaded, but some of its ops are not supported
 */
export const EXIT = { ok: 0, input: 1, internal: 2, unsupported: 3 } as const;

/**
 * The one parser of numeric options: `value` as a number in `range`, or a usage error naming the option,
 * the accepted range and what was given ('', 'Infinity', 'abc', '0x10' and out-of-range values are refused).
 */
export function numberOption(value: unknown, option: string, range: NumberRange): number {
  const n = typeof value === 'string' ? parseNumberIn(value, range) : undefined;
  if (n === undefined) throw new UsageError(`${option} must be ${describeRange(range)}, got '${String(value)}'`);
  return n;
}

/** An option that must be a positive number (an integer with `integer`): its value, or a usage error naming it. */
export function positiveNumber(v: unknown, what: string, integer = false): number {
  return numberOption(v, what, integer ? { integer, min: 1 } : { min: 0, minExclusive: true });
}

/** The user's to fix (exit 1): an InputError, a missing or unreadable path, or commander's own usage errors. */
export function isCliInputError(e: unknown): boolean {
  return isInputError(e) || e instanceof CommanderError;
}

/** Print `naflow: <message>` (stack only with NAFLOW_DEBUG=1) and return the exit code. */
export function reportError(e: unknown): number {
  const input = isCliInputError(e);
  // an operating-system error in words (the path and what to do), not its raw errno text
  const msg = pathProblem(e) ?? (e instanceof Error ? e.message : String(e));
  const debug = process.env.NAFLOW_DEBUG === '1';
  if (input) process.stderr.write(`naflow: ${msg}\n`);
  else process.stderr.write(`naflow: internal error: ${msg}\n${debug ? '' : '(set NAFLOW_DEBUG=1 for a stack trace)\n'}`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return input ? EXIT.input : EXIT.internal;
}

/** --threads: more than this is a typo, not a machine. */
const MAX_THREADS = 1024;
/** --input-size: one side of the image the model takes, in pixels (16384² float32 RGB is already 3 GB). */
const INPUT_SIDE = { integer: true, min: 1, max: 16384 } as const;

export interface GlobalOptions {
  backend?: string;
  threads?: string;
  card?: string;
  preprocess?: string;
  inputSize?: string;
  layout?: string;
}

/**
 * --preprocess, --input-size, --layout: card fields for a model without a card (or over its card),
 * validated with the card's own rules when the model is loaded.
 */
export function cardFieldsOf(g: GlobalOptions): Partial<ModelCard> {
  const fields: Partial<ModelCard> = {};
  if (g.preprocess !== undefined) {
    if (!(PREPROCESS_PRESETS as readonly string[]).includes(g.preprocess))
      throw new UsageError(`--preprocess must be imagenet, unit or raw255, got '${g.preprocess}' (a custom {scale, mean, std} goes in the model card)`);
    fields.preprocess = g.preprocess as ModelCard['preprocess'];
  }
  if (g.layout !== undefined) {
    const layout = g.layout.toUpperCase();
    if (layout !== 'NCHW' && layout !== 'NHWC') throw new UsageError(`--layout must be NCHW or NHWC, got '${g.layout}'`);
    fields.layout = layout;
  }
  if (g.inputSize !== undefined) {
    const m = /^(\d+)(?:[x×,](\d+))?$/.exec(g.inputSize.trim());
    const sides = m ? [m[1], m[2] ?? m[1]].map((s) => parseNumberIn(s, INPUT_SIDE)) : [];
    if (!m || sides.some((s) => s === undefined))
      throw new UsageError(
        `--input-size must be N or HxW with sides from ${INPUT_SIDE.min} to ${INPUT_SIDE.max} pixels (e.g. 224 or 224x224), got '${g.inputSize}'`,
      );
    fields.inputSize = sides as [number, number];
  }
  return fields;
}

/**
 * Load a model for a command, with the command line's card fields. A model without a card gets the
 * defaults (x/255, the model's own input size): say so, naming where the card was looked for, unless
 * --preprocess chose the normalisation.
 */
export async function loadModelForCli(file: string, g: GlobalOptions, options: { skipShapes?: boolean; warnDefaults?: boolean } = {}): Promise<Model> {
  const model = await loadModel(file, { card: g.card, cardFields: cardFieldsOf(g), skipShapes: options.skipShapes });
  const card = model.card;
  if ((options.warnDefaults ?? true) && !card.cardPath && card.preprocess === undefined)
    process.stderr.write(
      `naflow: warning: ${file} has no model card (looked for ${(card.searched ?? []).join(' and ')}): images are scaled to [0, 1] (x/255) and resized to the model's input size. ` +
        'A torchvision model wants --preprocess imagenet; write a card to say it once (docs/models.md)\n',
    );
  return model;
}

export function parseBackendOptions(g: GlobalOptions): { backend?: BackendName; threads?: number } {
  let backend: BackendName | undefined;
  if (g.backend !== undefined) {
    if (g.backend !== 'wasm' && g.backend !== 'cpu') throw new UsageError(`--backend must be 'wasm' or 'cpu', got '${g.backend}'`);
    backend = g.backend;
  }
  let threads: number | undefined;
  if (g.threads !== undefined) threads = numberOption(g.threads, '--threads', { integer: true, min: 1, max: MAX_THREADS });
  return { backend, threads };
}

/**
 * Start the tensor backend. Wasm runs on 1 thread unless --threads / NAFLOW_THREADS ask for more: 2+
 * wasm threads under Node need the wasm-threads shim (src/node/wasm-threads.ts, docs/runtime.md), an
 * explicit opt-in, never the default path.
 */
export async function startBackend(g: GlobalOptions): Promise<BackendInfo> {
  const parsed = parseBackendOptions(g);
  // --threads / NAFLOW_THREADS also size the native kernels' pool (else they take min(2, cores))
  const envThreads = Number(process.env.NAFLOW_THREADS);
  setNativeThreads(Number.isInteger(envThreads) && envThreads >= 1 ? envThreads : parsed.threads);
  const opts = { ...parsed };
  // bad NAFLOW_BACKEND / NAFLOW_THREADS values throw UsageError themselves
  return await initBackendInfo(opts);
}

const MODEL_EXTENSIONS = new Set(['.onnx', '.json']);

export function looksLikeModelPath(p: string): boolean {
  if (MODEL_EXTENSIONS.has(path.extname(p).toLowerCase())) return true;
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Split `[model] [image…]` positionals: an image file first means "the default model". */
export function splitModelAndImages(args: string[]): { model: string; images: string[]; defaultModel: boolean } {
  if (args.length === 0) return { model: DEFAULT_MODEL, images: [], defaultModel: true };
  const [first, ...rest] = args;
  if (looksLikeImageFile(first) && !looksLikeModelPath(first)) return { model: DEFAULT_MODEL, images: args, defaultModel: true };
  return { model: first, images: rest, defaultModel: false };
}

export function defaultImages(images: string[]): string[] {
  return images.length ? images : [DEFAULT_IMAGE];
}

/**
 * Check a model path before importing it, for clear messages on the common mistakes: a missing file,
 * an image or a text file given as the model.
 */
export function checkModelPath(p: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new UsageError(`${p}: no such file or directory`);
  }
  if (st.isDirectory()) {
    if (!fs.existsSync(path.join(p, 'model.json')))
      throw new UsageError(`${p}: a directory without model.json (naflow reads ONNX files and TensorFlow.js model.json files)`);
    return;
  }
  if (looksLikeImageFile(p)) throw new UsageError(`${p}: is an image, not a model (naflow reads ONNX files and TensorFlow.js model.json files)`);
  if (path.extname(p).toLowerCase() === '.json') return; // detectFormat explains bad JSON
  if (!st.isFile()) throw new UsageError(`${p}: not a regular file (a device or pipe); give a model file`);
  if (st.size === 0) throw new UsageError(`${p}: not a model file: the file is empty`);
  // ONNX is binary protobuf; a file whose first bytes are all printable text is not one.
  const fd = fs.openSync(p, 'r');
  const head = new Uint8Array(Math.min(512, st.size));
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const texty = head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b !== 127));
  if (texty)
    throw new UsageError(
      `${p}: not a model file: it looks like text (naflow reads ONNX files (.onnx) and TensorFlow.js model.json files, or a folder holding one)`,
    );
}

/** Prefix a message with the model path when the error does not name it already. */
export function withModelName(e: unknown, model: string): unknown {
  if (e instanceof Error && !e.message.includes(path.basename(model))) {
    e.message = `${model}: ${e.message}`;
  }
  return e;
}

/** Wait until everything written to stdout/stderr is flushed (before process.exit). */
export function flushStdio(): Promise<void> {
  const flush = (s: NodeJS.WriteStream) => new Promise<void>((r) => (s.writableLength === 0 ? r() : s.write('', () => r())));
  return Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => undefined);
}
