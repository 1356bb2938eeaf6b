/**
 * The Node provider of native kernels: onnxruntime-node (an optional dependency), registered with
 * runtime/native.ts by the Node entry (src/node/register.ts) and loaded on first use.
 *
 * The session API used is the package's synchronous native binding (`dist/binding.js`; the public
 * `InferenceSession.run` wraps the same call in a Promise), which keeps the cascade synchronous. That
 * is an internal of exactly the pinned version (1.30.0): on any other version naflow does not use it.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import type { NativeProvider, NativeProviderRegistration, NativeTensor } from '../runtime/native.js';

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

/** Load the pinned onnxruntime-node; throws an Error saying why it cannot be used. */
function loadOnnxruntime(): NativeProvider {
  let binding: Binding;
  let Tensor: OrtTensorCtor;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    if (pkg.version !== NATIVE_ORT_VERSION) return fail(`onnxruntime-node ${pkg.version} is installed; naflow uses only ${NATIVE_ORT_VERSION}`);
    Tensor = (require('onnxruntime-node') as { Tensor: OrtTensorCtor }).Tensor;
    const native = require('onnxruntime-node/dist/binding.js') as { binding: Binding; initOrt: () => void };
    native.initOrt();
    binding = native.binding;
  } catch (e) {
    if (e instanceof UnavailableError) throw e;
    return fail(`onnxruntime-node is not available (${(e as Error).message.split('\n')[0]})`);
  }
  const toOrt = (v: NativeTensor) => new Tensor(v.data instanceof BigInt64Array ? 'int64' : 'float32', v.data, v.dims);
  return {
    open(model, { intraOpNumThreads, memArena }) {
      const s = new binding.InferenceSession();
      s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads,
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
      return {
        run(feeds, fetches) {
          const inputs: Record<string, OrtTensor> = {};
          for (const [k, v] of Object.entries(feeds)) inputs[k] = toOrt(v);
          return s.run(inputs, Object.fromEntries(fetches.map((f) => [f, null])), {});
        },
        dispose: () => s.dispose(),
      };
    },
  };
}

class UnavailableError extends Error {}
function fail(reason: string): never {
  throw new UnavailableError(reason);
}

export const onnxruntimeNode: NativeProviderRegistration = {
  load: loadOnnxruntime,
  defaultThreads: () => Math.max(1, Math.min(2, os.cpus().length || 1)),
};
