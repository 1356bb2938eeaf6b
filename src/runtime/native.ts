/**
 * Optional native kernels through onnxruntime-node (an optional dependency): small ONNX models of one
 * operator each, run synchronously on Float32Array data. tfjs-wasm's convolution reaches about a third
 * of the speed of onnxruntime's (MLAS) on the same 2 cores (measured: 56×56×256 3×3 conv 72 ms vs
 * 22 ms including the copies in and out of the wasm heap), and convolutions are nearly all of the
 * work of a forward pass, a backward pass and every LSMR iteration. Where the package is missing
 * (another platform, a browser bundle, `npm install --omit=optional`) or NAFLOW_NATIVE=0, every op
 * runs on tfjs as before: results agree to float32 rounding (tested).
 *
 * The session API used is the package's synchronous native binding (`dist/binding.js`; the public
 * `InferenceSession.run` wraps the same call in a Promise), which keeps the cascade synchronous. That
 * is an internal of exactly the pinned version (1.30.0): on any other version naflow does not use it.
 */
import os from 'node:os';
import { createRequire } from 'node:module';

/** The onnxruntime-node version whose internals this module relies on. */
export const NATIVE_ORT_VERSION = '1.30.0';

interface OrtTensor {
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}
interface OrtTensorCtor {
  new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]): OrtTensor;
}
interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: Record<string, unknown>): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}
interface Binding {
  InferenceSession: new () => BindingSession;
}

interface Runtime {
  binding: Binding;
  Tensor: OrtTensorCtor;
}

let runtime: Runtime | null | undefined;
let unavailable: string | undefined;
let threads: number | undefined;

function load(): Runtime | null {
  if (runtime !== undefined) return runtime;
  runtime = null;
  const flag = process.env.NAFLOW_NATIVE;
  if (flag === '0' || flag === 'false' || flag === 'off') {
    unavailable = 'disabled by NAFLOW_NATIVE=0';
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    if (pkg.version !== NATIVE_ORT_VERSION) {
      unavailable = `onnxruntime-node ${pkg.version} is installed; naflow uses only ${NATIVE_ORT_VERSION}`;
      return null;
    }
    const ort = require('onnxruntime-node') as { Tensor: OrtTensorCtor };
    const { binding, initOrt } = require('onnxruntime-node/dist/binding.js') as { binding: Binding; initOrt: () => void };
    initOrt();
    runtime = { binding, Tensor: ort.Tensor };
  } catch (e) {
    unavailable = `onnxruntime-node is not available (${(e as Error).message.split('\n')[0]})`;
  }
  return runtime;
}

/** Whether native kernels are in use, and why not when they are not. */
export function nativeStatus(): { available: boolean; reason?: string; threads: number } {
  const ok = load() !== null;
  return { available: ok, reason: ok ? undefined : unavailable, threads: nativeThreads() };
}

let suspended = 0;

export function nativeAvailable(): boolean {
  return suspended === 0 && load() !== null;
}

/**
 * Run `fn` with the tfjs kernels only (new native sessions are not created and existing ones not
 * used meanwhile): for comparisons of the two paths and for tests calibrated on tfjs' rounding.
 */
export function withoutNative<T>(fn: () => T): T {
  suspended++;
  try {
    return fn();
  } finally {
    suspended--;
  }
}

/**
 * Intra-op threads of the native sessions: NAFLOW_NATIVE_THREADS, else what `setNativeThreads` was
 * given (the CLI passes --threads / NAFLOW_THREADS when set), else min(2, cores). Unlike wasm threads
 * they cost nothing to start. Sessions read it when they are created.
 */
export function nativeThreads(): number {
  const env = Number(process.env.NAFLOW_NATIVE_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return threads ?? Math.max(1, Math.min(2, os.cpus().length || 1));
}

export function setNativeThreads(n: number | undefined): void {
  threads = n;
}

/** A loaded ONNX model with any number of named inputs and outputs. */
export class NativeGraphSession {
  protected session: BindingSession | undefined;
  protected readonly rt: Runtime;
  /**
   * `memArena`: keep onnxruntime's memory arena between runs. Right for a whole-model graph run again
   * and again (without it every run allocates its intermediates anew: reference mode 1.25–1.6× slower);
   * wrong for the many one-op sessions of the least-squares solves, where each arena would hold its
   * session's peak workspace for the process's life (126 MB more on VGG16).
   */
  constructor(bytes: Uint8Array, { memArena = true }: { memArena?: boolean } = {}) {
    const rt = load();
    if (!rt) throw new Error(`native kernels unavailable: ${unavailable}`);
    this.rt = rt;
    const s = new rt.binding.InferenceSession();
    s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: nativeThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      enableCpuMemArena: memArena,
      // No busy-waiting between calls: the tfjs work in between needs the cores. Denormals flushed to
      // zero: the gradients reaching a deep random-weight VGG16's first layers are partly subnormal,
      // which made that one transposed convolution 125 ms instead of 47 (values below 1.2e-38 only).
      extra: { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: '1' } },
    });
    this.session = s;
  }

  /** Run with float32 / int64 feeds; returns the requested outputs (their data is owned by the caller). */
  runMany(feeds: Record<string, { data: Float32Array | BigInt64Array; dims: readonly number[] }>, fetches: string[]): Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> {
    if (!this.session) throw new Error('native session used after dispose');
    const inputs: Record<string, OrtTensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = new this.rt.Tensor(v.data instanceof BigInt64Array ? 'int64' : 'float32', v.data, v.dims);
    const out = this.session.run(inputs, Object.fromEntries(fetches.map((f) => [f, null])), {});
    return Object.fromEntries(fetches.map((f) => [f, { data: out[f].data, dims: [...out[f].dims] }]));
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

/** One loaded single-purpose ONNX model: one float32 input, one output. */
export class NativeSession extends NativeGraphSession {
  constructor(bytes: Uint8Array, readonly input: string, readonly output: string) {
    super(bytes, { memArena: false });
  }

  /** Run on one float32 input of the given shape; returns the output's data and shape. */
  run(data: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
    if (!this.session) throw new Error('native session used after dispose');
    const out = this.session.run({ [this.input]: new this.rt.Tensor('float32', data, shape) }, { [this.output]: null }, {})[this.output];
    return { data: out.data as Float32Array, shape: [...out.dims] };
  }
}
