/**
 * `npm run build:web`: bundles the browser entry (src/web/index.ts) with esbuild into
 * dist/web/naflow.js (ESM, minified, with a source map) and copies tfjs-backend-wasm's .wasm files
 * beside it, where the bundle fetches them (src/web/backend.ts). Also the Web Worker
 * (src/web/worker.ts → naflow-worker.js) and the app: index.html and app.js (assets/web/), the
 * page's small bundle (src/web/app-lib.ts → naflow-client.js) and the viewer's files (assets/viewer/). The browser tests call `buildWeb`
 * themselves, so `npm test` needs no extra step.
 * Run: npx tsc -p tsconfig.json && node dist/tools/build-web.js [outdir]
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { PACKAGE_ROOT } from '../src/defaults.js';

export const WEB_DIR = path.join(PACKAGE_ROOT, 'dist', 'web');
/** The wasm binaries tfjs-backend-wasm fetches: plain, SIMD, and threaded SIMD (cross-origin isolated pages). */
export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface WebBuild {
  /** the bundle's path */
  bundle: string;
  /** its size in bytes */
  bytes: number;
  /** the .wasm files copied beside it */
  wasm: string[];
  /** the app's page */
  app: string;
}

/** Bundles besides naflow.js: the worker and the app page's client (entry in src/web/ → file in outDir). */
const MORE_BUNDLES: [string, string][] = [
  ['worker.ts', 'naflow-worker.js'],
  ['app-lib.ts', 'naflow-client.js'],
];
/** The app's static files, copied as they are: [folder under the package root, file]. */
const APP_FILES: [string, string][] = [
  ['assets/web', 'index.html'],
  ['assets/web', 'app.js'],
  ['assets/viewer', 'viewer.js'],
  ['assets/viewer', 'viewer.css'],
];

const BUNDLE_OPTIONS: esbuild.BuildOptions = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  // error classes keep their names (ImageError, ModelLoadError, …) for a page's messages and checks
  keepNames: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
};

/** Bundle src/web/index.ts into `outDir`/naflow.js and copy the .wasm files there. */
export async function buildWeb(outDir = WEB_DIR): Promise<WebBuild> {
  fs.mkdirSync(outDir, { recursive: true });
  const bundle = path.join(outDir, 'naflow.js');
  for (const [entry, out] of [['index.ts', 'naflow.js'], ...MORE_BUNDLES])
    await esbuild.build({
      entryPoints: [path.join(PACKAGE_ROOT, 'src', 'web', entry)],
      outfile: path.join(outDir, out),
      ...BUNDLE_OPTIONS,
    });
  const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const f of WASM_FILES) fs.copyFileSync(path.join(wasmDir, f), path.join(outDir, f));
  for (const [folder, f] of APP_FILES) fs.copyFileSync(path.join(PACKAGE_ROOT, folder, f), path.join(outDir, f));
  return { bundle, bytes: fs.statSync(bundle).size, wasm: WASM_FILES.map((f) => path.join(outDir, f)), app: path.join(outDir, 'index.html') };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : WEB_DIR);
  console.log(
    `wrote ${path.relative(process.cwd(), built.bundle)} (${(built.bytes / 1024).toFixed(0)} KiB) and ${built.wasm.length} .wasm files; the app: ${path.relative(process.cwd(), built.app)}`,
  );
}
