/**
 * The tensor backend in a page: tfjs-backend-wasm's .wasm files are fetched from beside naflow.js
 * (`npm run build:web` copies them there), SIMD always; 2+ threads only where the page is
 * cross-origin isolated (COOP/COEP headers: SharedArrayBuffer exists), as browsers allow nowhere else.
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmThreads, type WasmThreadStarter } from '../engine/backend.js';
import { browser } from './dom.js';

/** The folder naflow.js was loaded from (the bundle's own URL), where its .wasm files lie. */
export function bundleFolder(): string {
  return new URL('./', import.meta.url).href;
}

/**
 * Where tfjs-backend-wasm fetches its .wasm files: a folder URL ending in '/'. The default is the
 * bundle's own folder; call this before the first `loadModel`/`initBackend` to serve them elsewhere.
 */
export function setWasmFolder(folder: string): void {
  setWasmPaths(folder.endsWith('/') ? folder : `${folder}/`);
}

/**
 * In a browser the threaded module starts its own workers (the Node shim of src/node/wasm-threads.ts
 * is not needed), so starting is just initialising; the backend's own count of the threads it got is
 * the check.
 */
const browserThreads: WasmThreadStarter = {
  start: (init) => init(),
  selfCheck: async () => undefined,
  cleanup: () => {},
};

/** The wasm threads a page uses by default: up to 4 where cross-origin isolated, else 1. */
export function webThreads(): number {
  return browser.crossOriginIsolated ? Math.max(1, Math.min(4, browser.navigator?.hardwareConcurrency ?? 1)) : 1;
}

setWasmFolder(bundleFolder());
if (browser.crossOriginIsolated) registerWasmThreads(browserThreads);
