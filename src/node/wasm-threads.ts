/**
 * The wasm-threads shim, a Node adapter: opt-in, used only when 2+ wasm threads are asked for
 * (registered with engine/backend.ts by the Node entry, src/node/register.ts).
 *
 * tfjs-backend-wasm 4.22.0 disables its multi-threaded binary under Node (tfjs issue #3830). The shim
 * makes it work:
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
 * core, it retries briefly, then the backend re-initialises single-threaded.
 *
 * The shim depends on internals of exactly @tensorflow/tfjs-backend-wasm 4.22.0; on any other version,
 * or if anything in it fails, naflow falls back to 1 thread (with a warning when threads were asked for).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { WASM_SHIM_VERSION, type WasmThreadStarter, type WorkerLike } from '../engine/backend.js';

const require = createRequire(import.meta.url);

let threadDir: string | undefined;

function debug(msg: string): void {
  if (process.env.NAFLOW_DEBUG === '1') process.stderr.write(`naflow[backend]: ${msg}\n`);
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
  if (pkg.version !== WASM_SHIM_VERSION) throw new Error(`the thread shim supports @tensorflow/tfjs-backend-wasm ${WASM_SHIM_VERSION}, found ${pkg.version}`);
  const bundlePath = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js');
  const text = fs.readFileSync(bundlePath, 'utf8');
  const lines = text.split(/\r?\n/);
  // The module variables the factory uses; check they are what we define.
  const expected: Record<string, string> = { require$$0: 'fs', require$$1: 'path', require$$3: 'perf_hooks', require$$4: 'os' };
  for (const [v, m] of Object.entries(expected))
    if (!lines.includes(`var ${v} = require('${m}');`))
      throw new Error(`${bundlePath} does not define ${v} = require('${m}') (not tfjs-backend-wasm ${WASM_SHIM_VERSION}?)`);
  const helpers = ['__values', '__read', '__spreadArray'].map((n) => bundleFunction(lines, n, bundlePath));
  return [...Object.entries(expected).map(([v, m]) => `var ${v} = require(${JSON.stringify(m)});`), 'var commonjsGlobal = globalThis;', ...helpers, ''].join(
    '\n',
  );
}

/**
 * Run the backend's initialisation with the shim in place (see the header), then unref the workers it
 * started (and any started later): running pthreads are ref()ed and would keep the process alive.
 */
async function startThreaded(init: () => Promise<void>, workers: () => WorkerLike[]): Promise<void> {
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
    await init();
  } finally {
    (globalThis as { Blob: unknown }).Blob = RealBlob;
    URL.createObjectURL = realCreate;
    os.cpus = realCpus;
  }
  const unrefAll = () => workers().forEach((w) => w.unref?.());
  unrefAll();
  setImmediate(unrefAll);
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

export const nodeWasmThreads: WasmThreadStarter = {
  start: startThreaded,
  selfCheck,
  cleanup: removeThreadDir,
};
