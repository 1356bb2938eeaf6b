/**
 * Import direction: every folder of src/ has a layer, and no file imports from a higher layer or
 * takes part in a folder-level cycle. The layer order is declared once, here (docs/architecture.md
 * draws it). Imports are read with TypeScript's own pre-processor (static, dynamic and type-only).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * src/ folders (and top-level files, by name) from the bottom layer to the top. A folder may import
 * from its own layer (without cycles) and from any layer below it.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['util', 'types'], // pure helpers (the error hierarchy: util/errors.ts), ambient types
  ['ir'], // the graph
  ['model'], // the model card (validation; reading it is node/'s)
  ['solve'], // LSMR over a vector space
  ['runtime'], // native kernels: the provider interface, sessions, the ONNX builder
  ['ops'], // op rules (and their shared least-squares inverses)
  ['engine'], // Model, forward/backward, shapes, the tensor backend, whole-graph native runs
  ['import', 'image'], // importers from bytes; image specs and normalisation
  ['render'], // maps to pixels (pure; encoding them with sharp is node/compose.ts)
  ['structure'], // score tensor, trunk end and order, targets
  ['naflow', 'baselines'], // the NAFlow cascade; CAM and pixel-space methods
  ['metrics', 'inspect', 'predict'],
  ['methods'], // the attribution-method registry
  ['viewdata'], // the viewer's data, browser-safe (maps encoded, layer metadata, colour tables)
  ['core'], // the Node-free entry
  ['web'], // the browser adapter and entry (naflow/web): imported by nothing in src/ (see LEAVES)
  ['node', 'defaults'], // Node adapters: files, sharp, onnxruntime-node, the wasm-threads shim
  ['similarity'],
  ['eval'],
  ['viewer'],
  ['serve'],
  ['cli'],
  ['index'], // the Node entry
];

/** Entries that no other folder may import, whatever its layer (the browser entry must not reach Node code, nor Node code it). */
export const LEAVES: readonly string[] = ['web'];

export interface Violation {
  file: string;
  import: string;
  problem: string;
}

const rankOf = new Map(LAYERS.flatMap((names, rank) => names.map((n) => [n, rank] as const)));

/** The folder (or top-level file name) a src-relative path belongs to. */
export function unitOf(rel: string): string {
  const parts = rel.split('/');
  return parts.length > 1 ? parts[0] : parts[0].replace(/\.(d\.)?ts$/, '');
}

/** Relative imports of a file, resolved to src-relative .ts paths. */
function importsOf(rel: string, text: string): { spec: string; target: string }[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({ spec, target: path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)).replace(/\.js$/, '.ts') }));
}

/** Upward imports, imports from undeclared folders, and folder-level cycles among `files` (src-relative path → text). */
export function layeringViolations(files: ReadonlyMap<string, string>): Violation[] {
  const out: Violation[] = [];
  const edges = new Map<string, Map<string, string>>(); // unit → unit → one "file -> import" example
  for (const [rel, text] of files) {
    const from = unitOf(rel);
    const rank = rankOf.get(from);
    if (rank === undefined) {
      out.push({ file: rel, import: '', problem: `'${from}' has no layer: add it to LAYERS in test/layering.test.ts` });
      continue;
    }
    for (const { spec, target } of importsOf(rel, text)) {
      const to = unitOf(target);
      if (to === from) continue;
      const toRank = rankOf.get(to);
      const example = `${rel} -> ${target}`;
      if (toRank === undefined) out.push({ file: rel, import: spec, problem: `imports '${to}', which has no layer` });
      else if (LEAVES.includes(to)) out.push({ file: rel, import: spec, problem: `imports '${to}', which nothing in src/ may import` });
      else if (toRank > rank) out.push({ file: rel, import: spec, problem: `imports upward: '${from}' (layer ${rank}) from '${to}' (layer ${toRank})` });
      else if (toRank === rank) {
        if (!edges.has(from)) edges.set(from, new Map());
        if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, example);
      }
    }
  }
  return out.concat(cycles(edges));
}

/** Folder-level cycles among same-layer imports (across layers, only downward edges remain: no cycle). */
function cycles(edges: Map<string, Map<string, string>>): Violation[] {
  const out: Violation[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (u: string): void => {
    state.set(u, 'open');
    stack.push(u);
    for (const v of edges.get(u)?.keys() ?? []) {
      if (state.get(v) === 'open') {
        const loop = [...stack.slice(stack.indexOf(v)), v];
        const via = loop.slice(1).map((w, i) => edges.get(loop[i])!.get(w)!);
        out.push({ file: via[0].split(' -> ')[0], import: via.join('; '), problem: `folder cycle ${loop.join(' -> ')}` });
      } else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 'done');
  };
  for (const u of edges.keys()) if (!state.has(u)) visit(u);
  return out;
}

function sourceFiles(srcDir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files.set(path.relative(srcDir, p).split(path.sep).join('/'), fs.readFileSync(p, 'utf8'));
    }
  };
  walk(srcDir);
  return files;
}

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const describe = (vs: Violation[]) => vs.map((v) => `${v.file}: ${v.import ? `import '${v.import}' ` : ''}${v.problem}`).join('\n');

test('no src/ file imports from a higher layer, and no folders import each other in a circle', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.size > 50, `found only ${files.size} files under ${SRC}`);
  const violations = layeringViolations(files);
  assert.equal(violations.length, 0, `layering violations:\n${describe(violations)}`);
});

test('the check names an upward import, a type-only or dynamic one too, and a cycle within a layer', () => {
  const files = new Map([
    ['ops/conv.ts', "import { runCascade } from '../naflow/cascade.js';\n"],
    ['ir/graph.ts', "import type { Model } from '../engine/model.js';\nconst m = () => import('../ops/conv.js');\n"],
    ['naflow/cascade.ts', "import { camFlow } from '../baselines/pipeline.js';\n"],
    ['baselines/pipeline.ts', "/* from '../cli/main.js' in a comment */ import { seedFor } from '../naflow/cascade.js';\n"],
    ['engine/model.ts', "import { GraphError } from '../ir/graph.js';\n"],
    ['newfolder/x.ts', ''],
    ['cli/serve.ts', "import { loadModel } from '../web/load.js';\n"],
  ]);
  const found = describe(layeringViolations(files));
  assert.match(found, /ops\/conv\.ts: import '\.\.\/naflow\/cascade\.js' imports upward: 'ops' \(layer 5\) from 'naflow'/);
  assert.match(found, /ir\/graph\.ts: import '\.\.\/engine\/model\.js' imports upward/);
  assert.match(found, /ir\/graph\.ts: import '\.\.\/ops\/conv\.js' imports upward/);
  assert.match(found, /folder cycle (naflow -> baselines -> naflow|baselines -> naflow -> baselines)/);
  assert.match(found, /'newfolder' has no layer/);
  assert.match(found, /cli\/serve\.ts: import '\.\.\/web\/load\.js' imports 'web', which nothing in src\/ may import/);
  assert.doesNotMatch(found, /cli\/main|engine\/model\.ts:/);
});
