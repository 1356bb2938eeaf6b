/**
 * Optional native kernels through a registered provider (onnxruntime-node in Node, an optional
 * dependency, registered by src/node/onnxruntime.ts): small ONNX models of one
 * operator each, run synchronously on Float32Array data. tfjs-wasm's convolution reaches about a third
 * of the speed of onnxruntime's (MLAS) on the same 2 cores (measured: 56×56×256 3×3 conv 72 ms vs
 * 22 ms including the copies in and out of the wasm heap), and convolutions are nearly all of the
 * work of a forward pass, a backward pass and every LSMR iteration. Where the package is missing
 * (another platform, a browser bundle, `npm install --omit=optional`) or NAFLOW_NATIVE=0, every op
 * runs on tfjs as before: results agree to float32 rounding (tested).
 *
 * Sessions run synchronously, which keeps the cascade synchronous (see src/node/onnxruntime.ts for how
 * the Node provider does it).
 */
import { envVar } from '../util/env.js';

/** One tensor crossing into or out of a native session. */
export interface NativeTensor {
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export interface NativeSessionOptions {
  intraOpNumThreads: number;
  /** keep the runtime's memory arena between runs (see NativeGraphSession) */
  memArena: boolean;
}

/** A loaded ONNX model in a provider's runtime, run synchronously. */
export interface NativeModelSession {
  run(feeds: Record<string, NativeTensor>, fetches: readonly string[]): Record<string, NativeTensor>;
  dispose(): void;
}

/** A runtime that runs ONNX models synchronously (onnxruntime-node in Node; registered by an adapter). */
export interface NativeProvider {
  open(model: Uint8Array, options: NativeSessionOptions): NativeModelSession;
}

/**
 * How a host offers native kernels: `load` is called on first use and throws an Error saying why the
 * kernels are unavailable; `defaultThreads` is the intra-op thread count when nothing else says.
 */
export interface NativeProviderRegistration {
  load(): NativeProvider;
  defaultThreads(): number;
}

let registration: NativeProviderRegistration | undefined;
let runtime: NativeProvider | null | undefined;
let unavailable: string | undefined;
let threads: number | undefined;

/** Offer native kernels (the Node entry registers onnxruntime-node: src/node/onnxruntime.ts). */
export function registerNativeProvider(r: NativeProviderRegistration): void {
  registration = r;
  runtime = undefined;
  unavailable = undefined;
}

function load(): NativeProvider | null {
  if (runtime !== undefined) return runtime;
  runtime = null;
  const flag = envVar('NAFLOW_NATIVE');
  if (flag === '0' || flag === 'false' || flag === 'off') {
    unavailable = 'disabled by NAFLOW_NATIVE=0';
    return null;
  }
  if (!registration) {
    unavailable = 'no native kernels are registered (the Node entry registers onnxruntime-node)';
    return null;
  }
  try {
    runtime = registration.load();
  } catch (e) {
    unavailable = (e as Error).message;
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
 * given (the CLI passes --threads / NAFLOW_THREADS when set), else the provider's default (Node:
 * min(2, cores)). Unlike wasm threads they cost nothing to start. Sessions read it when created.
 */
export function nativeThreads(): number {
  const env = Number(envVar('NAFLOW_NATIVE_THREADS'));
  if (Number.isInteger(env) && env >= 1) return env;
  return threads ?? registration?.defaultThreads() ?? 1;
}

export function setNativeThreads(n: number | undefined): void {
  threads = n;
}

/** What native caches are freed with: a Model (its `onDispose`). */
export interface NativeCacheOwner {
  onDispose(fn: () => void): void;
}

const owners = new WeakMap<object, NativeCacheOwner>();

/**
 * Declare `owner` as what frees the native sessions built for `key` (a model's constant weight): the
 * Model declares itself for its constants, and the op rules' caches register their cleanup with it.
 */
export function setNativeCacheOwner(key: object, owner: NativeCacheOwner): void {
  owners.set(key, owner);
}

export function nativeCacheOwnerOf(key: object): NativeCacheOwner | undefined {
  return owners.get(key);
}

/** A loaded ONNX model with any number of named inputs and outputs. */
export class NativeGraphSession {
  protected session: NativeModelSession | undefined;
  /**
   * `memArena`: keep onnxruntime's memory arena between runs. Right for a whole-model graph run again
   * and again (without it every run allocates its intermediates anew: reference mode 1.25–1.6× slower);
   * wrong for the many one-op sessions of the least-squares solves, where each arena would hold its
   * session's peak workspace for the process's life (126 MB more on VGG16).
   */
  constructor(bytes: Uint8Array, { memArena = true }: { memArena?: boolean } = {}) {
    const rt = load();
    if (!rt) throw new Error(`native kernels unavailable: ${unavailable}`);
    this.session = rt.open(bytes, { intraOpNumThreads: nativeThreads(), memArena });
  }

  /** Run with float32 / int64 feeds; returns the requested outputs (their data is owned by the caller). */
  runMany(
    feeds: Record<string, { data: Float32Array | BigInt64Array; dims: readonly number[] }>,
    fetches: string[],
  ): Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> {
    if (!this.session) throw new Error('native session used after dispose');
    const out = this.session.run(feeds, fetches);
    return Object.fromEntries(fetches.map((f) => [f, { data: out[f].data, dims: [...out[f].dims] }]));
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

/** One loaded single-purpose ONNX model: one float32 input, one output. */
export class NativeSession extends NativeGraphSession {
  constructor(
    bytes: Uint8Array,
    readonly input: string,
    readonly output: string,
  ) {
    super(bytes, { memArena: false });
  }

  /** Run on one float32 input of the given shape; returns the output's data and shape. */
  run(data: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
    if (!this.session) throw new Error('native session used after dispose');
    const out = this.session.run({ [this.input]: { data, dims: shape } }, [this.output])[this.output];
    return { data: out.data as Float32Array, shape: [...out.dims] };
  }
}
