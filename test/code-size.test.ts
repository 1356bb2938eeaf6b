/**
 * The code-size rule of issue 14, kept by a test: no .ts file under src/, test/, bench/ or tools/ over 500
 * lines, and no function (declaration, method, constructor, accessor, arrow, function expression) over
 * 100 lines in src/, bench/ or tools/ (tests may hold long table-driven cases). A failure names the file,
 * the line and the function. The scanner itself is checked first on synthetic sources, just over and at
 * the limits, so that the tree check cannot pass by scanning nothing.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { formatViolation, lineCount, scanSource, tsFilesUnder, type SizeViolation } from './helpers/code-size.js';

/**
 * Generated tables exempt from the rule, as "path" or "path:line" (a file, or one function) → why. None
 * today: the one generated table (docs/ops.md) is Markdown, written by tools/op-table.ts. An entry here
 * must say which tool generates the file.
 */
const ALLOWED = new Map<string, string>([]);

/** Folders outside the build (tsconfig.json excludes bench/work: scratch space of the benchmarks). */
const SKIP = ['bench/work'];

/** A function of `totalLines` lines, first to last, in one of the forms the rule covers. */
function fn(form: 'declaration' | 'arrow' | 'method' | 'expression', totalLines: number): string {
  const body = Array.from({ length: totalLines - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  if (form === 'declaration') return `export function big(): void {\n${body}\n}\n`;
  if (form === 'arrow') return `export const bigArrow = (): void => {\n${body}\n};\n`;
  if (form === 'expression') return `export const bigExpr = function (): void {\n${body}\n};\n`;
  return `export class Big {\n  run(): void {\n${body}\n  }\n}\n`;
}

test('scanner: a 101-line function is named with its line in every form; 100 lines pass', () => {
  const header = '// header\n\n';
  for (const form of ['declaration', 'arrow', 'method', 'expression'] as const) {
    const found = scanSource('x.ts', header + fn(form, 101), { checkFunctions: true });
    assert.equal(found.length, 1, `${form}: ${JSON.stringify(found)}`);
    assert.equal(found[0].lines, 101, form);
    assert.equal(found[0].line, form === 'method' ? 4 : 3, form);
    assert.deepEqual(scanSource('x.ts', header + fn(form, 100), { checkFunctions: true }), [], `${form} at the limit`);
  }
  assert.deepEqual(scanSource('x.ts', fn('declaration', 101), { checkFunctions: true }).map(formatViolation), ['x.ts:1 function big: 101 lines (limit 100)']);
  assert.equal(scanSource('x.ts', fn('method', 101), { checkFunctions: true })[0].what, 'method Big.run');
  assert.equal(scanSource('x.ts', fn('arrow', 101), { checkFunctions: true })[0].what, 'arrow bigArrow');
  // a long function inside a long function: both reported
  const nested = `function outer(): void {\n${fn('arrow', 101)}}\n`;
  assert.deepEqual(
    scanSource('n.ts', nested, { checkFunctions: true }).map((v) => [v.line, v.lines]),
    [
      [1, 103],
      [2, 101],
    ],
  );
  // functions are not checked where the rule does not ask it (test files)
  assert.deepEqual(scanSource('t.ts', fn('declaration', 101), { checkFunctions: false }), []);
});

test('scanner: a file over 500 lines is reported, 500 lines are not', () => {
  const text = (n: number) => `${Array.from({ length: n }, (_, i) => `export const c${i} = ${i};`).join('\n')}\n`;
  assert.equal(lineCount(text(500)), 500);
  assert.equal(lineCount('a\nb'), 2);
  assert.deepEqual(scanSource('f.ts', text(500), { checkFunctions: false }), []);
  assert.deepEqual(scanSource('f.ts', text(501), { checkFunctions: true }), [{ file: 'f.ts', line: 1, what: 'file', lines: 501 }]);
});

test('no .ts file over 500 lines, no function over 100 lines (src, bench, tools)', () => {
  const violations: SizeViolation[] = [];
  let scanned = 0;
  for (const dir of ['src', 'test', 'bench', 'tools']) {
    for (const file of tsFilesUnder(PACKAGE_ROOT, dir, SKIP)) {
      scanned++;
      const text = fs.readFileSync(path.join(PACKAGE_ROOT, file), 'utf8');
      for (const v of scanSource(file, text, { checkFunctions: dir !== 'test' }))
        if (!ALLOWED.has(file) && !ALLOWED.has(`${file}:${v.line}`)) violations.push(v);
    }
  }
  // the scan must have seen the tree (a wrong root would find nothing and pass)
  assert.ok(scanned > 100, `only ${scanned} .ts files found under ${PACKAGE_ROOT}`);
  assert.ok(tsFilesUnder(PACKAGE_ROOT, 'src').includes('src/solve/lsmr.ts'));
  assert.deepEqual(violations.map(formatViolation), [], 'split these (or, for a generated table, add it to ALLOWED with its generator)');
  // every exemption must still name a file of the tree
  for (const key of ALLOWED.keys()) assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, key.replace(/:\d+$/, ''))), `stale ALLOWED entry ${key}`);
});

test('no JavaScript file over 500 lines (the viewer scripts, bin, tools)', () => {
  const files = ['assets/viewer', 'bin', 'tools'].flatMap((dir) =>
    fs
      .readdirSync(path.join(PACKAGE_ROOT, dir))
      .filter((f) => f.endsWith('.js') || f.endsWith('.mjs'))
      .map((f) => `${dir}/${f}`),
  );
  assert.ok(files.includes('assets/viewer/viewer.js'), files.join(', '));
  const long = files.map((f) => ({ f, n: lineCount(fs.readFileSync(path.join(PACKAGE_ROOT, f), 'utf8')) })).filter(({ n }) => n > 500);
  assert.deepEqual(
    long.map(({ f, n }) => `${f}: ${n} lines (limit 500)`),
    [],
  );
});
