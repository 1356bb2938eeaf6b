/**
 * The input-error tests' one check, shared by test/input-errors*.test.ts: a user's mistake, run as a
 * user would run it, exits 1 with a message naming the file or option, never "internal error" and
 * never a stack trace, and writes nothing it was refused.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { naflow } from './run-cli.js';

export interface Case {
  what: string;
  args: () => string[];
  /** NAFLOW_* variables for this run (the helper clears the caller's) */
  env?: Record<string, string>;
  /** the message must name this (a file, an option, a node) */
  names: RegExp;
}

/** One test per case; an argument containing 'out-' names an output that must not exist afterwards. */
export function inputErrorTests(cases: Case[]): void {
  for (const c of cases) {
    test(`input error: ${c.what} → exit 1, names it, no stack`, async () => {
      const r = await naflow(c.args(), c.env);
      assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, /^naflow: /m);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.match(r.stderr, c.names);
      // nothing was written for a mistake caught before the output
      for (const arg of c.args().filter((a) => a.includes('out-'))) assert.equal(fs.existsSync(arg), false, `${arg} was written`);
    });
  }
}
