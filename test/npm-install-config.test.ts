/**
 * `npx naflow` in the project prints nothing of npm's own: npm 11 warns on every call about a project
 * `.npmrc` key it does not know ("Unknown project config"), which is why onnxruntime-node's install
 * switch moved from `.npmrc` to the `ONNXRUNTIME_NODE_INSTALL` variable (docs/runtime.md).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/defaults.js';

const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

test('npx naflow --version: the version on stdout and no npm warning on stderr', async () => {
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile('npx', ['--no-install', 'naflow', '--version'], { cwd: PACKAGE_ROOT, timeout: 60_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out, stderr: errOut }),
    );
  });
  assert.equal(stdout.trim(), pkg.version);
  assert.doesNotMatch(stderr, /npm warn/i, stderr);
});

test('the project .npmrc holds only settings npm knows', () => {
  const keys = fs
    .readFileSync(path.join(PACKAGE_ROOT, '.npmrc'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith(';'))
    .map((l) => l.split('=')[0].trim());
  assert.deepEqual(keys, ['legacy-peer-deps']);
});
