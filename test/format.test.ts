/**
 * What the CLI prints for numbers and rankings: scores with significant digits (%g), never a
 * 0.0000 hiding a small value; top-k ties in probability broken by the logits.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatPercent, formatSignificant } from '../src/util/format.js';
import { topK, topPredictions } from '../src/predict.js';

test('formatSignificant is %g-like: 6 significant digits, trailing zeros dropped', () => {
  assert.equal(formatSignificant(20.191423), '20.1914');
  assert.equal(formatSignificant(0.0000123456789), '0.0000123457');
  assert.equal(formatSignificant(-3.5), '-3.5');
  assert.equal(formatSignificant(1.5e-9), '1.5e-9');
  assert.equal(formatSignificant(123456789), '123457000');
  assert.equal(formatSignificant(Number.NaN), 'NaN');
});

test('formatPercent: two decimals where they show the value, else three significant digits', () => {
  assert.equal(formatPercent(0.6507), '65.07%');
  assert.equal(formatPercent(0.0001), '0.01%');
  assert.equal(formatPercent(0.00000123), '0.000123%');
  assert.equal(formatPercent(0), '0.00%');
});

test('topK breaks ties by the tie-break values, then by index', () => {
  assert.deepEqual(topK([0, 0, 0.5, 0], 4), [2, 0, 1, 3]);
  assert.deepEqual(topK([0, 0, 0.5, 0], 4, [-800, -700, 1, -900]), [2, 1, 0, 3]);
  // softmax of logits ≥ 910 apart underflows to exactly 0 (exp(−745) is the last non-zero double): the logits order them
  const card = { card: {} };
  const logits = [-1000, -900, 10, -1100];
  const top = topPredictions(card, logits, 4);
  assert.deepEqual(
    top.map((p) => p.prob === 0),
    [false, true, true, true],
    'three probabilities underflow to 0',
  );
  assert.deepEqual(
    top.map((p) => p.index),
    [2, 1, 0, 3],
  );
});

test('predict --json --logits: every output value, whose softmax is the reported probabilities', async () => {
  const { naflow } = await import('./helpers/run-cli.js');
  const r = await naflow(['predict', '--json', '--logits', '--top', '3']);
  assert.equal(r.code, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim());
  assert.equal(line.logits.length, 1000, 'all 1000 ImageNet scores of the bundled model');
  const max = Math.max(...line.logits);
  const z = line.logits.reduce((s: number, v: number) => s + Math.exp(v - max), 0);
  for (const t of line.top) assert.ok(Math.abs(Math.exp(line.logits[t.index] - max) / z - t.prob) < 1e-6, `class ${t.index}`);
  assert.equal(line.logits.indexOf(max), line.top[0].index);
  const bad = await naflow(['predict', '--logits']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--logits goes with --json/);
});
