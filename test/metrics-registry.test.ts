/**
 * The metric registry (src/metrics/registry.ts): the metrics eval, its tables and its plots iterate —
 * keys, labels with which way is better, what each needs — and one map scored by hand-checked cases.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { getMetric, listMetrics, metricValues, registerMetric, type MetricInput } from '../src/metrics/index.js';
import { metricLabel, metricKeys } from '../src/eval/report.js';
import type { EvalResults } from '../src/eval/run.js';
import type { SanityStage } from '../src/metrics/sanity.js';
import { UsageError } from '../src/util/errors.js';
import type { Scorer } from '../src/metrics/faithfulness.js';

const stages: SanityStage[] = [
  { key: 'sanity-50', layers: 4, of: 8, seed: 1 },
  { key: 'sanity-100', layers: 8, of: 8, seed: 1 },
];

test('the built-in metrics, in order, with the labels the reports have always shown', () => {
  assert.deepEqual(
    listMetrics().map((m) => m.key),
    ['deletion', 'insertion', 'drop', 'pointing', 'energy', 'sanity'],
  );
  // the labels of results.md and the plots' axes before the registry existed (eval/report.ts's table)
  const labels = Object.fromEntries(metricValues(['deletion', 'insertion', 'drop', 'pointing', 'energy'], undefined).map((v) => [v.key, v.label]));
  assert.deepEqual(labels, {
    deletion: 'deletion AUC (lower is better)',
    insertion: 'insertion AUC (higher is better)',
    drop: 'average drop % (lower is better)',
    increase: 'increase in confidence % (higher is better)',
    pointing: 'pointing game % (higher is better)',
    energy: 'energy pointing % (higher is better)',
  });
  assert.deepEqual(
    metricValues(['drop', 'sanity'], stages).map((v) => [v.key, v.higherIsBetter]),
    [
      ['drop', false],
      ['increase', true],
      ['sanity-50', false],
      ['sanity-100', false],
    ],
  );
  assert.equal(metricValues(['sanity'], stages)[0].label, 'sanity: Spearman ρ with the top 4 of 8 weight layers randomised (lower is better)');
  assert.deepEqual(
    listMetrics()
      .filter((m) => m.needs.boxes)
      .map((m) => m.key),
    ['pointing', 'energy'],
  );
  assert.deepEqual(
    listMetrics()
      .filter((m) => m.needs.randomisedModels)
      .map((m) => m.key),
    ['sanity'],
  );
  assert.throws(
    () => getMetric('accuracy', '--metrics'),
    (e: unknown) => e instanceof UsageError && /--metrics: unknown metric 'accuracy'; choose from deletion, insertion/.test((e as Error).message),
  );
});

/** A 2×2 map over a 4×4 image; the scorer is not called by the metrics below. */
function input(map: number[], extra: Partial<MetricInput> = {}): MetricInput {
  return {
    map: Float32Array.from(map),
    height: 2,
    width: 2,
    scorer: {} as Scorer,
    steps: 4,
    substrate: 'blur',
    imageWidth: 4,
    imageHeight: 4,
    randomised: new Map(),
    ...extra,
  };
}

test('pointing and energy by hand; null without boxes', () => {
  // the maximum is the bottom-right cell, whose centre (3, 3) in image pixels lies in the box [2, 2, 3, 3]
  const boxes: Array<[number, number, number, number]> = [[2, 2, 3, 3]];
  assert.deepEqual(getMetric('pointing').compute(input([0, 0, 0, 1], { boxes })), { pointing: 100 });
  assert.deepEqual(getMetric('pointing').compute(input([1, 0, 0, 0], { boxes })), { pointing: 0 });
  assert.deepEqual(getMetric('pointing').compute(input([1, 0, 0, 0])), { pointing: null });
  assert.deepEqual(getMetric('energy').compute(input([0, 0, 0, 1])), { energy: null });
  // a map at the image's own size (no upsampling). A pixel counts when its centre (x + ½, y + ½) lies in
  // the box: only (2, 2) does. Mass 1 there, 1 at (3, 3) and 2 at (0, 0) outside: 1 / 4 = 25 %
  const full = new Array(16).fill(0);
  [full[15], full[10], full[0]] = [1, 1, 2];
  assert.equal(getMetric('energy').compute(input(full, { boxes, height: 4, width: 4 })).energy, 25);
});

test('sanity: Spearman ρ per stage against the randomised models’ maps', () => {
  const randomised = new Map([
    ['sanity-50', Float32Array.from([1, 2, 3, 4])],
    ['sanity-100', Float32Array.from([4, 3, 2, 1])],
  ]);
  assert.deepEqual(getMetric('sanity').compute(input([10, 20, 30, 40], { randomised })), { 'sanity-50': 1, 'sanity-100': -1 });
  // a constant map has no rank order: null, not NaN
  assert.deepEqual(getMetric('sanity').compute(input([5, 5, 5, 5], { randomised: new Map([['sanity-50', Float32Array.from([1, 2, 3, 4])]]) })), {
    'sanity-50': null,
  });
});

test('a metric registered from outside reaches the reports: keys and labels come from the registry', () => {
  registerMetric({
    key: 'test-peak',
    description: 'the map’s maximum (a test metric)',
    needs: {},
    values: () => [{ key: 'test-peak', label: 'peak value (higher is better)', higherIsBetter: true }],
    compute: ({ map }) => ({ 'test-peak': Math.max(...map) }),
  });
  assert.throws(() => registerMetric({ ...getMetric('test-peak') }), /registered twice/);
  const results = { metrics: ['deletion', 'test-peak'], settings: { steps: 4, substrate: 'blur' } } as unknown as EvalResults;
  assert.deepEqual(metricKeys(results), ['deletion', 'test-peak']);
  assert.equal(metricLabel(results, 'test-peak'), 'peak value (higher is better)');
  assert.deepEqual(getMetric('test-peak').compute(input([1, 7, 3, 2])), { 'test-peak': 7 });
});
