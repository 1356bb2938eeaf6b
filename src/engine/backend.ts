/**
 * Tensor backend selection. `wasm` (SIMD) is the default; `cpu` (pure JS) is the fallback and is what
 * the unit tests use for tiny graphs.
 *
 * Environment overrides (they win over the options, so a user can steer any entry point):
 *   NAFLOW_BACKEND=cpu|wasm    NAFLOW_THREADS=n (wasm only; 1 = no worker threads)
 *
 * Threads: tfjs-backend-wasm 4.22.0 disables its multi-threaded binary under Node (tfjs issue #3830).
 * `initThreaded` below makes it work (see notes/runtime-eval.md appendix A for the analysis):
 *  1. the bundle creates its pthread worker script and its own "main script" as `Blob`s and passes
 *     `blob:` URLs to `new Worker()` / `importScripts`, which Node cannot load. While the backend
 *     initialises we intercept JavaScript `Blob`s and write them to files in a private temp folder
 *     instead, prefixed with the few bundle-level names the stringified emscripten factory refers to
 *     (the `require$$N` modules, tslib's `__values/__read/__spreadArray`, `commonjsGlobal`), which we
 *     copy from the installed bundle itself (resolved with `createRequire`, never a relative path);
 *  2. the native side caps XNNPACK's pool at half of `emscripten_num_logical_cores()` (= `os.cpus().length`),
 *     which is 1 thread on a 2-core machine (checked: getThreadsCount() = 1 for 2 or 4 requested), so
 *     `os.cpus()` reports twice the cores during initialisation only;
 *  3. running pthread workers are `ref()`ed, which keeps the process alive forever: we `unref()` them
 *     (the work they do is always awaited synchronously by the main thread) and `shutdownBackend()`
 *     terminates them.
 * After initialisation a self-check times a convolution and compares `process.cpuUsage()` (all threads
 * of the process) to wall time. If the extra threads do no work, or other processes leave them no
 * core, it retries briefly, then re-initialises the backend single-threaded.
 *
 * The shim depends on internals of exactly @tensorflow/tfjs-backend-wasm 4.22.0; on any other version,
 * or if anything in it fails, naflow falls back to 1 thread (with a warning when threads were asked for).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

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

const require = createRequire(import.meta.url);

let state: BackendInfo | undefined;
/** threads of the wasm backend instance tfjs holds (it survives switching to cpu and back) */
let wasmThreads: number | undefined;
let threadDir: string | undefined;

function debug(msg: string): void {
  if (process.env.NAFLOW_DEBUG === '1') process.stderr.write(`naflow[backend]: ${msg}\n`);
}

function envBackend(): BackendName | undefined {
  const v = process.env.NAFLOW_BACKEND;
  if (v === undefined || v === '') return undefined;
  if (v !== 'wasm' && v !== 'cpu') throw new Error(`NAFLOW_BACKEND must be 'wasm' or 'cpu', got '${v}'`);
  return v;
}

function envThreads(): number | undefined {
  const v = process.env.NAFLOW_THREADS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`NAFLOW_THREADS must be a positive integer, got '${v}'`);
  return n;
}

/** The backend and thread count that `initBackend(options)` would aim for (env vars override options). */
export function resolveBackendOptions(options: BackendOptions = {}): { backend: BackendName; threads: number; explicitThreads: boolean } {
  const backend = envBackend() ?? options.backend ?? 'wasm';
  const requested = envThreads() ?? options.threads;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1))
    throw new Error(`threads must be a positive integer, got ${requested}`);
  const threads =
    backend === 'cpu' ? 1 : Math.min(requested ?? options.defaultThreads ?? Math.min(DEFAULT_THREADS, os.cpus().length || 1), MAX_THREADS);
  return { backend, threads, explicitThreads: requested !== undefined && requested > 1 };
}

export async function initBackend(options: BackendOptions = {}): Promise<BackendName> {
  return (await initBackendInfo(options)).backend;
}

/** Like initBackend, but reports how many threads were obtained (and why not more). */
export async function initBackendInfo(options: BackendOptions = {}): Promise<BackendInfo> {
  const { backend, threads, explicitThreads } = resolveBackendOptions(options);
  const tStart = performance.now();
  if (state && state.backend === backend && tf.getBackend() === backend && (backend === 'cpu' || wasmThreads === threads))
    return state;
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
      util = await selfCheck(got);
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
  if (explicitThreads) process.stderr.write(`naflow: warning: ${note}; using 1 thread\n`);
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
  removeThreadDir();
}

// ---------------------------------------------------------------------------------------------------
// internals

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

interface PThreadLike {
  unusedWorkers: WorkerLike[];
  runningWorkers: WorkerLike[];
  pthreads: Record<string, WorkerLike>;
}
interface WorkerLike {
  unref(): void;
  ref(): void;
  terminate(): Promise<number> | void;
}

/**
 * setBackend + ready. The emscripten runtime of the wasm backend adds process-wide
 * 'uncaughtException'/'unhandledRejection' listeners that rethrow (so every crash is reported from
 * inside the wasm bundle); we remove the listeners that initialisation added, restoring Node's own
 * behaviour.
 */
async function setAndReady(name: string): Promise<void> {
  const before = {
    uncaughtException: new Set(process.listeners('uncaughtException')),
    unhandledRejection: new Set(process.listeners('unhandledRejection')),
  };
  try {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`could not initialise the '${name}' tensor backend`);
    await tf.ready();
  } finally {
    for (const l of process.listeners('uncaughtException'))
      if (!before.uncaughtException.has(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection'))
      if (!before.unhandledRejection.has(l)) process.removeListener('unhandledRejection', l);
  }
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

function removeThreadDir(): void {
  if (threadDir) {
    try {
      fs.rmSync(threadDir, { recursive: true, force: true });
    } catch {
      /* ignore */
    }
    threadDir = undefined;
  }
}

/** Copy `function NAME(…) {…}` (top level, closed by a line `}`) out of the bundle text. */
function bundleFunction(lines: string[], name: string, bundle: string): string {
  const start = lines.findIndex((l) => l.startsWith(`function ${name}(`));
  if (start < 0) throw new Error(`${bundle} has no top-level ${name}() (not tfjs-backend-wasm ${WASM_SHIM_VERSION}?)`);
  let end = start;
  while (end < lines.length && lines[end] !== '}') end++;
  if (end === lines.length) throw new Error(`${bundle}: cannot find the end of ${name}()`);
  return lines.slice(start, end + 1).join('\n');
}

/** Everything a stringified part of the bundle needs at the top of a file loaded in a worker. */
function workerPrelude(): string {
  const pkg = require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string };
  if (pkg.version !== WASM_SHIM_VERSION)
    throw new Error(`the thread shim supports @tensorflow/tfjs-backend-wasm ${WASM_SHIM_VERSION}, found ${pkg.version}`);
  const bundlePath = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js');
  const text = fs.readFileSync(bundlePath, 'utf8');
  const lines = text.split(/\r?\n/);
  // The module variables the factory uses; check they are what we define.
  const expected: Record<string, string> = { require$$0: 'fs', require$$1: 'path', require$$3: 'perf_hooks', require$$4: 'os' };
  for (const [v, m] of Object.entries(expected))
    if (!lines.includes(`var ${v} = require('${m}');`))
      throw new Error(`${bundlePath} does not define ${v} = require('${m}') (not tfjs-backend-wasm ${WASM_SHIM_VERSION}?)`);
  const helpers = ['__values', '__read', '__spreadArray'].map((n) => bundleFunction(lines, n, bundlePath));
  return [
    ...Object.entries(expected).map(([v, m]) => `var ${v} = require(${JSON.stringify(m)});`),
    'var commonjsGlobal = globalThis;',
    ...helpers,
    '',
  ].join('\n');
}

/** Initialise the multi-threaded wasm binary with `threads` threads; returns the count obtained. */
async function initThreaded(wasmMod: WasmModule, threads: number): Promise<number> {
  const prelude = workerPrelude();
  if (!threadDir) {
    threadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-wasm-'));
    process.once('exit', removeThreadDir);
  }
  const dir = threadDir;
  let count = 0;
  const RealBlob = globalThis.Blob;
  const realCreate = URL.createObjectURL;
  const realCpus = os.cpus;
  // A JS "blob" becomes a file; its "object URL" is the file path. Non-JS blobs are left alone.
  function FileBlob(this: unknown, parts: BlobPart[], opts?: BlobPropertyBag): unknown {
    if (opts && /javascript/.test(opts.type ?? '')) {
      const file = path.join(dir, `part${count++}.cjs`);
      const header =
        `var __filename = ${JSON.stringify(file)}, __dirname = ${JSON.stringify(dir)}, _scriptDir = __filename;\n` +
        // inside the worker, the main script arrives as the String below; its "URL" is itself
        `URL.createObjectURL = function (b) { return String(b); }; URL.revokeObjectURL = function () {};\n`;
      fs.writeFileSync(file, header + prelude + parts.map(String).join(''));
      // eslint-disable-next-line no-new-wrappers
      return new String(file);
    }
    return new RealBlob(parts, opts);
  }
  try {
    (globalThis as { Blob: unknown }).Blob = FileBlob;
    URL.createObjectURL = ((b: unknown) => (b instanceof String ? b.toString() : realCreate(b as Blob))) as typeof URL.createObjectURL;
    os.cpus = () => {
      const c = realCpus();
      return c.concat(c);
    };
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasmMod.setThreadsCount(threads);
    await setAndReady('wasm');
  } finally {
    (globalThis as { Blob: unknown }).Blob = RealBlob;
    URL.createObjectURL = realCreate;
    os.cpus = realCpus;
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  const mod = wasmModuleOf();
  if (!mod?.PThread) throw new Error('the wasm backend did not start its multi-threaded module');
  // Running pthreads are ref()ed and would keep the process alive: unref them (and any started later).
  const unrefAll = () => allWorkers(mod).forEach((w) => w.unref?.());
  unrefAll();
  setImmediate(unrefAll);
  return wasmMod.getThreadsCount();
}

/**
 * CPU clock ticks used so far by the main thread and by all other threads of this process, from
 * /proc (Linux only; undefined elsewhere). Used to tell "the workers do nothing" (other ≈ 0) from
 * "the machine is busy" (both threads slowed down) when CPU/wall alone is low.
 */
function threadTicks(): { main: number; other: number } | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    let main = 0;
    let other = 0;
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // thread ended meanwhile
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]); // utime + stime
      if (Number(tid) === process.pid) main += ticks;
      else other += ticks;
    }
    return { main, other };
  } catch {
    return undefined;
  }
}

/**
 * Time a convolution and compare CPU time with wall time. Returns undefined when the threads work,
 * i.e. CPU/wall ≥ 1 + 0.4·(threads−1) (1.4 for 2 threads); otherwise the last CPU/wall seen, after
 * up to 3 tries ~0.1 s apart (the workers can take a moment to start).
 *
 * A low CPU/wall has two causes, told apart in the NAFLOW_DEBUG output by the per-thread /proc
 * counters: the workers do nothing (other ≈ 0), or other processes keep the cores busy (both threads
 * get a fraction of a core). Both mean one thread is faster: XNNPACK splits every op evenly, so with a
 * starved worker the main thread waits for it (measured: Tiny Darknet 80 ms with 2 threads against
 * 45-70 ms with 1 while other jobs ran on the 2-vCPU machine).
 */
async function selfCheck(threads: number): Promise<number | undefined> {
  const need = 1 + 0.4 * (threads - 1);
  if (process.env.NAFLOW_THREADS_SELFCHECK === 'fail') return 1; // for testing the fallback
  const x = tf.randomUniform([1, 56, 56, 64]) as tf.Tensor4D;
  const w = tf.randomUniform([3, 3, 64, 64], -0.1, 0.1) as tf.Tensor4D;
  let util = 0;
  try {
    tf.conv2d(x, w, 1, 'same').dispose(); // warm-up (XNNPACK operator creation)
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
      const k0 = threadTicks();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let reps = 0;
      // ~40 ms of work, enough for cpuUsage's microsecond counters
      while (performance.now() - t0 < 40 || reps < 3) {
        const y = tf.conv2d(x, w, 1, 'same');
        y.dataSync();
        y.dispose();
        reps++;
      }
      const wall = (performance.now() - t0) * 1000;
      const cpu = process.cpuUsage(c0);
      const k1 = threadTicks();
      util = (cpu.user + cpu.system) / wall;
      const main = k0 && k1 ? k1.main - k0.main : undefined;
      const other = k0 && k1 ? k1.other - k0.other : undefined;
      debug(
        `self-check attempt ${attempt + 1}: ${reps} convs, CPU/wall ${util.toFixed(2)} (need ${need.toFixed(2)})` +
          (main !== undefined ? `, ticks main ${main} other threads ${other}` : ''),
      );
      if (util >= need) return undefined;
    }
    return util;
  } finally {
    x.dispose();
    w.dispose();
  }
}
