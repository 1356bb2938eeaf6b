/**
 * The file-system hard edges of writing outputs (issue 15): the strict numeric-option parser, the
 * classification of operating-system errors (read-only or full disk, no permission) as input errors
 * naming the path, the writability check before any work, the swap that never loses the old output, the
 * removal of the partial output on SIGINT, the sweep of what interrupted runs left, and which existing
 * folders and files eval and bank build may write over.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeRange, parseNumberIn, strictNumber } from '../src/util/number.js';
import { numberOption } from '../src/cli/common.js';
import { InputError, UsageError, isInputError, outputWriteError, pathProblem } from '../src/util/errors.js';
import { checkWritable, partialPrefix, swapIn, sweepStale } from '../src/node/out-dir.js';
import { evalOutProblem } from '../src/eval/out-folder.js';
import { bankFileProblem } from '../src/similarity/bank.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-output-files-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A process id that no process has (above Linux's largest pid_max): a dead run. */
const DEAD_PID = 99_999_999;

/** An errno error as Node's fs raises it. */
const errno = (code: string, syscall: string, file?: string) =>
  Object.assign(new Error(`${code}: raw text, ${syscall}${file ? ` '${file}'` : ''}`), { code, syscall, ...(file ? { path: file } : {}) });

test('numbers: only finite decimals pass; empty, Infinity, hex and padded text are NaN', () => {
  for (const [text, n] of [
    ['3', 3],
    ['-2.5', -2.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['+7', 7],
  ] as const)
    assert.equal(strictNumber(text), n, text);
  for (const text of ['', ' ', ' 3', '3 ', 'Infinity', '-Infinity', 'NaN', '0x10', '1e400', 'abc', '1,5', '1_000'])
    assert.ok(Number.isNaN(strictNumber(text)), text);
  assert.equal(parseNumberIn('2.5', { integer: true, min: 1 }), undefined);
  assert.equal(parseNumberIn('0', { min: 0, minExclusive: true }), undefined);
  assert.equal(parseNumberIn('65536', { integer: true, min: 0, max: 65535 }), undefined);
  assert.equal(parseNumberIn('65535', { integer: true, min: 0, max: 65535 }), 65535);
  assert.equal(describeRange({ integer: true, min: 1 }), 'a positive integer');
  assert.equal(describeRange({ integer: true, min: 0, max: 65535 }), 'an integer from 0 to 65535');
  assert.equal(describeRange({ min: 0 }), 'a finite number ≥ 0');
  assert.equal(describeRange({ min: 0, minExclusive: true, max: 10 }), 'a finite number > 0 and ≤ 10');
});

test('numberOption: a usage error naming the option, the range and the value given', () => {
  assert.equal(numberOption('0.25', '--rho', { min: 0 }), 0.25);
  for (const v of ['', 'Infinity', 'abc', '-1'])
    assert.throws(
      () => numberOption(v, '--rho', { min: 0 }),
      (e: unknown) => e instanceof UsageError && e.message === `--rho must be a finite number ≥ 0, got '${v}'`,
    );
  assert.throws(() => numberOption(undefined, '--k', { integer: true, min: 1 }), /--k must be a positive integer, got 'undefined'/);
});

test('operating-system errors: read-only and full disks are input errors naming the path and what to do', () => {
  const rofs = errno('EROFS', 'mkdir', '/mnt/ro/out');
  assert.ok(isInputError(rofs));
  assert.equal(pathProblem(rofs), '/mnt/ro/out: read-only file system; choose a location on a writable disk');
  const full = errno('ENOSPC', 'write');
  assert.ok(isInputError(full));
  // a write error carries no path: the output it was writing names it
  const wrapped = outputWriteError(full, 'out/cat', '--out');
  assert.ok(wrapped instanceof InputError);
  assert.equal((wrapped as Error).message, 'out/cat: cannot write the output (--out): no space left on the device; free some space or choose another disk');
  assert.equal(((wrapped as Error).cause as Error).message, full.message);
  assert.match(pathProblem(errno('EACCES', 'open', '/root/x')) ?? '', /^\/root\/x: permission denied; check its permissions/);
  // a rename names its destination
  assert.match(pathProblem(Object.assign(errno('EXDEV', 'rename', '/a'), { dest: '/b' })) ?? 'none', /none/);
  assert.match(pathProblem(Object.assign(errno('EROFS', 'rename', '/a'), { dest: '/b' })) ?? '', /^\/b: read-only/);
  // anything else is not the user's: left as it is
  const bug = new TypeError('x is undefined');
  assert.equal(outputWriteError(bug, 'out', '--out'), bug);
  assert.equal(isInputError(errno('EBADF', 'write')), false);
});

test('checkWritable: a folder naflow may not create entries in is refused before any work (real permission error)', (t) => {
  // root ignores permission bits, but not sysfs, whose root folder takes no new entries
  let target: string;
  if (process.getuid?.() !== 0) {
    const locked = path.join(tmp, 'locked');
    fs.mkdirSync(locked, { mode: 0o555 });
    t.after(() => fs.chmodSync(locked, 0o755));
    target = path.join(locked, 'out');
  } else if (fs.existsSync('/sys/kernel')) target = '/sys/naflow-out';
  else return t.skip('running as root without sysfs: no folder refuses root');
  assert.throws(
    () => checkWritable(target, '--out'),
    (e: unknown) =>
      e instanceof InputError && e.message.startsWith(`${target}: cannot write the output (--out): `) && /permission denied|not permitted/.test(e.message),
  );
  assert.equal(fs.existsSync(target), false);
  // a writable location passes and leaves nothing behind
  const ok = path.join(tmp, 'writable', 'deep', 'out');
  checkWritable(ok, '--out');
  assert.deepEqual(
    fs.readdirSync(tmp).filter((e) => e.startsWith('.naflow-write-check-')),
    [],
  );
  assert.equal(fs.existsSync(path.join(tmp, 'writable')), false, 'the check creates no folders');
});

test('swapIn: the new output replaces the old one, and nothing is left beside it', () => {
  const out = path.join(tmp, 'swap', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'flow.json'), 'old');
  const built = fs.mkdtempSync(partialPrefix(out));
  fs.writeFileSync(path.join(built, 'flow.json'), 'new');
  swapIn(built, out);
  assert.equal(fs.readFileSync(path.join(out, 'flow.json'), 'utf8'), 'new');
  assert.deepEqual(fs.readdirSync(path.dirname(out)), ['out']);
});

test('sweepStale: removes the leftovers of dead runs only, and puts back an old output a kill left aside', () => {
  const parent = path.join(tmp, 'sweep');
  fs.mkdirSync(parent);
  const make = (name: string, ageMs = 0) => {
    const p = path.join(parent, name);
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'flow.json'), name);
    if (ageMs) fs.utimesSync(p, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
  };
  make(`.cat.partial-${DEAD_PID}-abc123`); // a dead run's: swept
  make(`.cat.partial-${process.pid}-abc123`); // a live run's (this one): kept
  make('.cat.partial-Xy12Zq', 2 * 3600_000); // named before the pid was in the name, 2 h old: swept
  make('.cat.partial-Ab34Cd'); // the same, fresh: kept (its run may be writing it)
  make(`.cat.old-${DEAD_PID}-lz1k2`); // the old output of a run killed mid-swap: put back as cat
  make(`.dog.partial-${DEAD_PID}-abc123`); // another output's: not this sweep's
  make('.cat.partial-notes'); // not naflow's naming: kept
  fs.writeFileSync(path.join(parent, 'cat.partial-1-x'), 'a file of the user');
  sweepStale(path.join(parent, 'cat'));
  assert.deepEqual(fs.readdirSync(parent).sort(), [
    `.cat.partial-${process.pid}-abc123`,
    '.cat.partial-Ab34Cd',
    '.cat.partial-notes',
    `.dog.partial-${DEAD_PID}-abc123`,
    'cat',
    'cat.partial-1-x',
  ]);
  assert.equal(fs.readFileSync(path.join(parent, 'cat', 'flow.json'), 'utf8'), `.cat.old-${DEAD_PID}-lz1k2`);
});

test('writeFlow interrupted by SIGINT: the partial folder is removed, the old output is kept, the process ends by the signal', () => {
  const out = path.join(tmp, 'interrupted', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'flow.json'), '{"old": true}');
  // the compiled module beside this compiled test
  const writeFlowUrl = new URL('../src/node/write-flow.js', import.meta.url).href;
  const script = `
    const { writeFlow } = await import(${JSON.stringify(writeFlowUrl)});
    const layer = { name: 't', node: 'n', op: 'Relu', sourceOp: 'Relu', shape: [2, 2], kept: 1, map: new Float32Array(4) };
    const result = { layers: [layer], mode: 'reference', engine: 'per-op', decision: { classIndex: 0, score: 1 }, scoreTensor: 's', trunkEnd: 't', elapsedMs: 1 };
    await writeFlow(result, ${JSON.stringify(out)}, { noImages: true }, async () => {
      process.kill(process.pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 10000));
    });
    console.log('not interrupted');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, 'SIGINT', `ended by SIGINT (status ${r.status}, stderr ${r.stderr})`);
  assert.doesNotMatch(r.stdout, /not interrupted/);
  assert.deepEqual(fs.readdirSync(path.dirname(out)), ['out'], 'no .partial folder left');
  assert.equal(fs.readFileSync(path.join(out, 'flow.json'), 'utf8'), '{"old": true}');
});

test('eval --out: new, empty or an earlier eval folder may be written; a folder or file eval did not write may not', () => {
  const dir = path.join(tmp, 'eval-out');
  assert.equal(evalOutProblem(dir), null, 'missing');
  fs.mkdirSync(dir);
  assert.equal(evalOutProblem(dir), null, 'empty');
  for (const f of ['eval-config.json', 'progress.jsonl', 'results.json', 'results.csv', 'results.md', 'plot-deletion.svg', 'report.html'])
    fs.writeFileSync(path.join(dir, f), '');
  assert.equal(evalOutProblem(dir), null, 'an earlier eval (resumed)');
  fs.writeFileSync(path.join(dir, 'thesis.tex'), '');
  assert.match(evalOutProblem(dir) ?? '', /eval-out: exists and is not a naflow eval folder \(it holds 'thesis\.tex'\)/);
  const results = path.join(tmp, 'results-only');
  fs.mkdirSync(results);
  fs.writeFileSync(path.join(results, 'results.json'), '{}');
  assert.match(evalOutProblem(results) ?? '', /not a naflow eval folder \(it holds 'results\.json'\)/, 'results.* without eval-config.json');
});

test('bank build -o: a missing file or an earlier bank may be written; anything else may not', () => {
  const bank = path.join(tmp, 'bank.json');
  assert.equal(bankFileProblem(bank), null);
  fs.writeFileSync(bank, JSON.stringify({ format: 'naflow-bank/1', model: {} }));
  assert.equal(bankFileProblem(bank), null);
  fs.writeFileSync(bank, JSON.stringify({ model: {}, format: 'naflow-bank/1' }));
  assert.match(bankFileProblem(bank) ?? '', /bank\.json: exists and is not a naflow bank/, 'naflow writes format first');
  assert.match(bankFileProblem(tmp) ?? '', /exists and is not a regular file/);
  assert.match(bankFileProblem('/dev/null') ?? '', /\/dev\/null: exists and is not a regular file/);
});
