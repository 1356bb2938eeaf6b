/**
 * The tensor backend in a page: tfjs-backend-wasm's .wasm files are fetched from beside naflow.js
 * (`npm run build:web` copies them there); SIMD, one thread. Threads are not offered yet: in a
 * cross-origin isolated page (the only kind where browsers allow them) tfjs' threaded module needs a
 * bundle whose identifiers are not minified (its worker re-evaluates the module factory's source) and,
 * tried that way in headless Chromium, XNNPACK still reported 1 thread (docs/web.md, "Limits").
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

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

setWasmFolder(bundleFolder());
