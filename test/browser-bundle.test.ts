/**
 * The core entry (src/core.ts) bundles for a browser: esbuild with platform 'browser' over the
 * TypeScript sources must meet no Node built-in and no Node-only package on any import path.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Packages that only run in Node (native addons, terminal and file-system tools). */
const NODE_ONLY = ['sharp', 'onnxruntime-node', 'commander', 'cli-progress', 'playwright-core'];
const BUILTINS = new Set(builtinModules);

function nodeOnly(spec: string): boolean {
  if (spec.startsWith('node:')) return true;
  const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return BUILTINS.has(pkg) || NODE_ONLY.includes(pkg);
}

/**
 * Bundle `entry` for the browser; returns each Node-only import of naflow's own files as
 * "spec (imported by file)". Packages' own imports are left to esbuild, which resolves them through
 * their `browser` fields (tfjs' environment checks map fs, path, … to nothing there) and fails the
 * build on any it cannot.
 */
async function nodeImportsOf(entry: string): Promise<string[]> {
  return (await bundle(entry)).found;
}

/** Node globals used without a guard: `Buffer`, or `process.` not reached through `globalThis`. */
const NODE_GLOBAL = /(?<![\w.$])(Buffer\b|process\.)/;

/** naflow's own files in the bundle of `entry` that use a Node global, as "file:line: text". */
async function nodeGlobalsOf(entry: string): Promise<string[]> {
  const { inputs } = await bundle(entry);
  return inputs
    .filter((f) => f.startsWith('src/'))
    .flatMap((f) =>
      fs
        .readFileSync(path.join(ROOT, f), 'utf8')
        .split('\n')
        .map((line, i) => ({ line: line.replace(/\/\/.*$|^\s*(\/\*|\*).*$/, ''), i }))
        .filter(({ line }) => NODE_GLOBAL.test(line))
        .map(({ line, i }) => `${f}:${i + 1}: ${line.trim()}`),
    );
}

async function bundle(entry: string): Promise<{ found: string[]; inputs: string[] }> {
  const found: string[] = [];
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'node-imports',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point' || args.importer.includes(`${path.sep}node_modules${path.sep}`) || !nodeOnly(args.path)) return undefined;
            found.push(`${args.path} (imported by ${path.relative(ROOT, args.importer)})`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  assert.deepEqual(result.errors, []);
  return { found, inputs: Object.keys(result.metafile?.inputs ?? {}) };
}

test('the core entry bundles for the browser without any Node built-in or Node-only package', async () => {
  const found = await nodeImportsOf(path.join(ROOT, 'src', 'core.ts'));
  assert.deepEqual(found, [], `Node-only imports in the core bundle:\n${found.join('\n')}`);
});

test('the browser entry (naflow/web) bundles without any Node built-in, Node-only package or Node global', async () => {
  const entry = path.join(ROOT, 'src', 'web', 'index.ts');
  const found = await nodeImportsOf(entry);
  assert.deepEqual(found, [], `Node-only imports in the web bundle:\n${found.join('\n')}`);
  const globals = await nodeGlobalsOf(entry);
  assert.deepEqual(globals, [], `Node globals in the web bundle:\n${globals.join('\n')}`);
});

test('the web worker and the app page client bundle without any Node built-in, Node-only package or Node global', async () => {
  for (const entry of ['worker.ts', 'app-lib.ts']) {
    const file = path.join(ROOT, 'src', 'web', entry);
    assert.deepEqual(await nodeImportsOf(file), [], `Node-only imports in the bundle of src/web/${entry}`);
    assert.deepEqual(await nodeGlobalsOf(file), [], `Node globals in the bundle of src/web/${entry}`);
  }
});

test('the check names a Node import and the file that makes it (the Node entry has them)', async () => {
  const found = await nodeImportsOf(path.join(ROOT, 'src', 'node', 'load.ts'));
  assert.ok(
    found.some((f) => f === 'node:fs (imported by src/node/load.ts)'),
    found.join('\n'),
  );
  assert.ok(
    found.some((f) => f.startsWith('sharp (imported by src/node/decode-image.ts)')),
    found.join('\n'),
  );
});

test('no file of the core bundle uses a Node global (Buffer, process) except through globalThis', async () => {
  const found = await nodeGlobalsOf(path.join(ROOT, 'src', 'core.ts'));
  assert.deepEqual(found, [], `Node globals in the core bundle:\n${found.join('\n')}`);
  // the check itself: the Node adapters use both
  const adapters = await nodeGlobalsOf(path.join(ROOT, 'src', 'node', 'register.ts'));
  assert.ok(
    adapters.some((f) => /Buffer|process\./.test(f)),
    adapters.join('\n'),
  );
});
