/**
 * The README's Quick start, run as written (each `npx naflow …` line as `node bin/naflow.js …`, from a
 * folder laid out like a clone: `assets/` beside it). The torchvision example runs on a stand-in for
 * `resnet18.onnx`: a small torchvision ConvNeXt exported the ordinary way (tools/convnext_fixture.py).
 * Skipped: lines that name a placeholder (`path/to/…`) and `serve` (it runs until stopped; test/serve.test.ts).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/defaults.js';
import { BIN } from './helpers/run-cli.js';

const README = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-quickstart-'));
fs.symlinkSync(path.join(PACKAGE_ROOT, 'assets'), path.join(cwd, 'assets'));
test.after(() => fs.rmSync(cwd, { recursive: true, force: true }));

/** The lines of the first ```bash block after `marker`, comments removed. */
function bashBlockAfter(marker: string): string[] {
  const from = README.indexOf(marker);
  assert.ok(from >= 0, `README has '${marker}'`);
  const block = /```bash\n([\s\S]*?)```/.exec(README.slice(from));
  assert.ok(block, `a bash block after '${marker}'`);
  return block[1]
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

/** Shell words (the README's commands use plain words and single quotes only). */
const words = (line: string) => [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NAFLOW_') && v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`naflow ${args.join(' ')}: no exit within 240 s`));
    }, 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('Quick start: every npx naflow line runs as written on the bundled model and photos', async () => {
  const lines = bashBlockAfter('## Quick start');
  const runnable = lines.filter((l) => l.startsWith('npx naflow ') && !l.includes('path/to/') && !/^npx naflow serve\b/.test(l));
  assert.ok(runnable.length >= 5, `runnable lines: ${runnable.join(' | ')}`);
  for (const line of runnable) {
    const r = await run(words(line).slice(2));
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
  }
  // what the lines promise: the cat's maps and the report, the butterfly's folder
  assert.ok(fs.existsSync(path.join(cwd, 'naflow-out', 'chelsea', 'flow.json')));
  assert.ok(fs.existsSync(path.join(cwd, 'naflow-out', 'chelsea', 'report.html')));
  assert.ok(fs.existsSync(path.join(cwd, 'out', 'butterfly', 'flow-strip.png')));
});

test('Quick start: the torchvision model with its one-line card (a stand-in model for resnet18.onnx)', async () => {
  const lines = bashBlockAfter('A model you exported from torchvision');
  const [echo, explain] = lines;
  const card = /^echo '(.*)' > (\S+)$/.exec(echo);
  assert.ok(card, `the card line: ${echo}`);
  fs.writeFileSync(path.join(cwd, card[2]), `${card[1]}\n`);
  fs.copyFileSync(path.join(PACKAGE_ROOT, 'test', 'fixtures', 'convnext', 'model-opset13.onnx'), path.join(cwd, 'resnet18.onnx'));
  fs.copyFileSync(path.join(PACKAGE_ROOT, 'assets', 'photos', 'butterfly.jpg'), path.join(cwd, 'photo.jpg'));
  const r = await run(words(explain).slice(2));
  assert.equal(r.code, 0, `${explain}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /no model card/, 'the card is found');
  const flow = JSON.parse(fs.readFileSync(path.join(cwd, 'naflow-out', 'photo', 'flow.json'), 'utf8')) as { preprocessing: { preprocess?: string } };
  assert.match(JSON.stringify(flow.preprocessing), /imagenet/);
  assert.ok(fs.existsSync(path.join(cwd, 'naflow-out', 'photo', 'report.html')));
});
