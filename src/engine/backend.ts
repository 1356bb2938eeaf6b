/**
 * Tensor backend selection. `wasm` (SIMD) is the default; `cpu` (pure JS) is the fallback and is what
 * the unit tests use for tiny graphs.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export type BackendName = 'wasm' | 'cpu';

export interface BackendOptions {
  backend?: BackendName;
  /** wasm threads (default 1) */
  threads?: number;
}

let initialised: BackendName | undefined;

export async function initBackend(options: BackendOptions = {}): Promise<BackendName> {
  const want = options.backend ?? 'wasm';
  if (initialised === want && tf.getBackend() === want) return want;
  tf.enableProdMode(); // silences the "install tfjs-node" banner; skips debug checks
  if (want === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  const ok = await tf.setBackend(want);
  if (!ok) throw new Error(`could not initialise the '${want}' tensor backend`);
  await tf.ready();
  initialised = want;
  return want;
}

export function currentBackend(): string {
  return tf.getBackend();
}
