/**
 * Tensor backend selection. `wasm` (SIMD) is the default; `cpu` (pure JS) is the fallback and is what
 * the unit tests use for tiny graphs.
 *
 * Environment overrides (they win over the options, so a user can steer any entry point):
 *   NAFLOW_BACKEND=cpu|wasm    NAFLOW_THREADS=n (wasm only; 1 = no worker threads)
 *
 * Threads: tfjs-backend-wasm 4.22.0 disables its multi-threaded binary under Node (tfjs issue #3830).
 * Starting it there takes a shim that swaps globals while the backend initialises; that shim is a Node
 * adapter (src/node/wasm-threads.ts), registered by the Node entry with `registerWasmThreads`, and
 * used only when 2+ threads are asked for. Without it (a browser bundle), 2+ threads fall back to 1
 * with a note. After a threaded start the starter's self-check confirms the extra threads do work;
 * otherwise the backend is re-initialised single-threaded.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { envVar, writeStderr } from '../util/env.js';
import { UsageError } from '../util/errors.js';
import { parseNumberIn } from '../util/number.js';

export type BackendName = 'wasm' | 'cpu';

export interface BackendOptions {
  backend?: BackendName;
  /** wasm threads (default: DEFAULT_THREADS = 1; 2+ starts the worker-thread shim) */
  threads?: number;
  /**
   * threads to use when neither `threads` nor NAFLOW_THREADS says (a command's own default, e.g.
   * `explain`); falling back from it to 1 thread is silent
   */
  defaultThreads?: number;
}

export interface BackendInfo {
  backend: BackendName;
  /** threads XNNPACK actually uses (1 for cpu) */
  threads: number;
  /** why fewer threads than requested are used, if so */
  note?: string;
  /** CPU-time / wall-time of the self-check convolution (threads > 1 only) */
  selfCheckUtil?: number;
}

/** The pinned bundle version the thread shim was written against. */
export const WASM_SHIM_VERSION = '4.22.0';
/**
 * Default wasm thread count when neither an option nor NAFLOW_THREADS gives one: **1**.
 * Measured on the 2-vCPU development machine, 12 interleaved process starts per setting (Tiny Darknet,
 * see the backend issue report): 2 threads make a forward pass 1.35× faster (median 33.9 vs 45.7 ms)
 * and forward+input-gradient 1.4× faster (112 vs 159 ms), but starting the threaded module (8 pthread
 * workers) and the self-check add ~215 ms per process, so `naflow predict` on 1-5 images is slower
 * end to end (median 866 vs 682 ms for one image, 1047 vs 832 ms for five), and while other processes
 * use the cores, 2 threads can be slower than 1 (the self-check then falls back; it did in 1 start of
 * 12). Threads pay off for work above roughly 0.5 s per process (e.g. explanations with several
 * backward passes): ask for them with `threads: 2`, `--threads 2` or NAFLOW_THREADS=2.
 */
export const DEFAULT_THREADS = 1;
/** emscripten's preallocated pthread pool (PTHREAD_POOL_SIZE of the 4.22.0 build) */
const MAX_THREADS = 8;

let state: BackendInfo | undefined;
/** threads of the wasm backend instance tfjs holds (it survives switching to cpu and back) */
let wasmThreads: number | undefined;
let threadStarter: WasmThreadStarter | undefined;

/** A wasm pthread worker as the emscripten runtime holds it. */
export interface WorkerLike {
  unref?(): void;
  ref?(): void;
  terminate(): Promise<number> | void;
}

/**
 * What starting the multi-threaded wasm module needs from the host (Node: src/node/wasm-threads.ts).
 */
export interface WasmThreadStarter {
  /** Run `init` (the backend's initialisation, threads enabled) in an environment where its workers can start. */
  start(init: () => Promise<void>, workers: () => WorkerLike[]): Promise<void>;
  /** CPU/wall of a test convolution, or undefined when the extra threads do work */
  selfCheck(threads: number): Promise<number | undefined>;
  /** remove what `start` left behind (e.g. temp files) */
  cleanup(): void;
}

/** Allow 2+ wasm threads through this host's starter (opt-in; the Node entry registers one). */
export function registerWasmThreads(starter: WasmThreadStarter | undefined): void {
  threadStarter = starter;
}

function debug(msg: string): void {
  if (envVar('NAFLOW_DEBUG') === '1') writeStderr(`naflow[backend]: ${msg}\n`);
}

function envBackend(): BackendName | undefined {
  const v = envVar('NAFLOW_BACKEND');
  if (v === undefined || v === '') return undefined;
  if (v !== 'wasm' && v !== 'cpu') throw new UsageError(`NAFLOW_BACKEND must be 'wasm' or 'cpu', got '${v}'`);
  return v;
}

function envThreads(): number | undefined {
  const v = envVar('NAFLOW_THREADS');
  if (v === undefined || v === '') return undefined;
  const n = parseNumberIn(v, { integer: true, min: 1 });
  if (n === undefined) throw new UsageError(`NAFLOW_THREADS must be a positive integer, got '${v}'`);
  return n;
}

/** The backend and thread count that `initBackend(options)` would aim for (env vars override options). */
export function resolveBackendOptions(options: BackendOptions = {}): { backend: BackendName; threads: number; explicitThreads: boolean } {
  const backend = envBackend() ?? options.backend ?? 'wasm';
  const requested = envThreads() ?? options.threads;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) throw new Error(`threads must be a positive integer, got ${requested}`);
  const threads = backend === 'cpu' ? 1 : Math.min(requested ?? options.defaultThreads ?? DEFAULT_THREADS, MAX_THREADS);
  return { backend, threads, explicitThreads: requested !== undefined && requested > 1 };
}

export async function initBackend(options: BackendOptions = {}): Promise<BackendName> {
  return (await initBackendInfo(options)).backend;
}

/** Like initBackend, but reports how many threads were obtained (and why not more). */
export async function initBackendInfo(options: BackendOptions = {}): Promise<BackendInfo> {
  const { backend, threads, explicitThreads } = resolveBackendOptions(options);
  const tStart = performance.now();
  if (state && state.backend === backend && tf.getBackend() === backend && (backend === 'cpu' || wasmThreads === threads)) return state;
  tf.enableProdMode(); // silences the "install tfjs-node" banner; skips debug checks
  if (backend === 'cpu') {
    await setAndReady('cpu');
    state = { backend: 'cpu', threads: 1 };
    return state;
  }
  const wasmMod = await import('@tensorflow/tfjs-backend-wasm');
  if (wasmThreads !== undefined && wasmThreads !== threads) await resetWasm();
  if (threads <= 1) {
    await initSingleThreaded(wasmMod);
    wasmThreads = 1;
    state = { backend: 'wasm', threads: 1 };
    return state;
  }
  let note: string | undefined;
  let util: number | undefined;
  try {
    const got = await initThreaded(wasmMod, threads);
    debug(`threaded wasm module up with ${got} threads after ${(performance.now() - tStart).toFixed(0)} ms`);
    if (got < 2) note = `the wasm backend started only ${got} thread`;
    else {
      util = await threadStarter!.selfCheck(got);
      debug(`self-check done after ${(performance.now() - tStart).toFixed(0)} ms`);
      if (util === undefined) {
        wasmThreads = threads;
        return (state = { backend: 'wasm', threads: got });
      }
      note = `the extra wasm threads did not speed up a test convolution (CPU/wall ${util.toFixed(2)}; other processes may be using the cores)`;
    }
  } catch (e) {
    note = `wasm threads unavailable: ${(e as Error).message}`;
  }
  // Fall back to one thread.
  if (explicitThreads) writeStderr(`naflow: warning: ${note}; using 1 thread\n`);
  else debug(`${note}; using 1 thread`);
  await resetWasm();
  await initSingleThreaded(wasmMod);
  wasmThreads = threads; // what was asked for: do not retry on every initBackend call
  state = { backend: 'wasm', threads: 1, note, selfCheckUtil: util };
  return state;
}

export function currentBackend(): string {
  return tf.getBackend();
}

/** Threads in use by the current backend (1 for cpu or before init). */
export function currentThreads(): number {
  return state && tf.getBackend() === state.backend ? state.threads : 1;
}

export function backendInfo(): BackendInfo | undefined {
  return state;
}

/**
 * Stop the wasm worker threads (if any) and remove the shim's temp files. Call before exiting; the
 * backend must not be used afterwards (a later initBackend starts a fresh one).
 */
export async function shutdownBackend(): Promise<void> {
  const mod = wasmModuleOf();
  const workers = mod ? allWorkers(mod) : [];
  if (workers.length) {
    try {
      // Reset the tfjs engine first, so nothing dispatches into the dying pool.
      await resetWasm();
    } catch {
      /* ignore */
    }
    await Promise.allSettled(workers.map((w) => w.terminate()));
  }
  state = undefined;
  threadStarter?.cleanup();
}

// ---------------------------------------------------------------------------------------------------
// internals

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

interface PThreadLike {
  unusedWorkers: WorkerLike[];
  runningWorkers: WorkerLike[];
  pthreads: Record<string, WorkerLike>;
}

/**
 * setBackend + ready. The emscripten runtime of the wasm backend adds process-wide
 * 'uncaughtException'/'unhandledRejection' listeners that rethrow (so every crash is reported from
 * inside the wasm bundle); we remove the listeners that initialisation added, restoring Node's own
 * behaviour.
 */
async function setAndReady(name: string): Promise<void> {
  const proc = (globalThis as { process?: NodeJS.Process }).process; // Node only: absent in a browser
  if (!proc?.listeners) return setAndReadyPlain(name);
  const before = {
    uncaughtException: new Set(proc.listeners('uncaughtException')),
    unhandledRejection: new Set(proc.listeners('unhandledRejection')),
  };
  try {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`could not initialise the '${name}' tensor backend`);
    await tf.ready();
  } finally {
    for (const l of proc.listeners('uncaughtException')) if (!before.uncaughtException.has(l)) proc.removeListener('uncaughtException', l);
    for (const l of proc.listeners('unhandledRejection')) if (!before.unhandledRejection.has(l)) proc.removeListener('unhandledRejection', l);
  }
}

async function setAndReadyPlain(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`could not initialise the '${name}' tensor backend`);
  await tf.ready();
}

async function initSingleThreaded(wasmMod: WasmModule): Promise<void> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasmMod.setThreadsCount(1);
  await setAndReady('wasm');
}

/** The emscripten module behind the current wasm backend, if it is initialised. */
function wasmModuleOf(): { PThread?: PThreadLike } | undefined {
  try {
    const engine = tf.engine() as unknown as { registry: Record<string, { wasm?: { PThread?: PThreadLike } }> };
    return engine.registry?.wasm?.wasm;
  } catch {
    return undefined;
  }
}

function allWorkers(mod: { PThread?: PThreadLike }): WorkerLike[] {
  const p = mod.PThread;
  if (!p) return [];
  return [...new Set([...(p.runningWorkers ?? []), ...(p.unusedWorkers ?? []), ...Object.values(p.pthreads ?? {})])];
}

/**
 * Drop the initialised wasm backend (and its workers) but keep it registered, so that the next
 * setBackend('wasm') runs the bundle's init() again with the then-current flags and thread count.
 */
async function resetWasm(): Promise<void> {
  const engine = tf.engine() as unknown as {
    registryFactory: Record<string, { factory: () => unknown; priority: number }>;
  };
  const entry = engine.registryFactory?.wasm;
  if (!entry) return;
  const mod = wasmModuleOf();
  const workers = mod ? allWorkers(mod) : [];
  if (tf.getBackend() === 'wasm') {
    // Leave a valid backend behind: tensors on wasm are lost anyway when it is removed.
    await tf.setBackend('cpu');
  }
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', entry.factory as never, entry.priority);
  await Promise.allSettled(workers.map((w) => w.terminate()));
  state = undefined;
  wasmThreads = undefined;
}

/** Initialise the multi-threaded wasm binary with `threads` threads; returns the count obtained. */
async function initThreaded(wasmMod: WasmModule, threads: number): Promise<number> {
  const starter = threadStarter;
  if (!starter) throw new Error('they need a host adapter (the Node entry registers one)');
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasmMod.setThreadsCount(threads);
    await starter.start(
      () => setAndReady('wasm'),
      () => {
        const mod = wasmModuleOf();
        return mod ? allWorkers(mod) : [];
      },
    );
  } finally {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  if (!wasmModuleOf()?.PThread) throw new Error('the wasm backend did not start its multi-threaded module');
  return wasmMod.getThreadsCount();
}
