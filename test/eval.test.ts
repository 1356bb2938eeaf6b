/**
 * `naflow eval`: an interrupted-and-resumed run gives the same results.json as an uninterrupted one;
 * the sanity check's per-stage ρ equal the randomised models' maps compared directly; 200 images keep
 * the live tensor count flat; the CLI writes its files and refuses bad options, and a
 * run stopped with Ctrl-C (SIGINT) resumes with the same command.
 * Uses CIFAR ResNet-20 on ../shared/data/cifar10-test (skips with a message where it is absent).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { readDataset } from '../src/eval/dataset.js';
import { runEval, type EvalOptions } from '../src/eval/run.js';
import { toCsv, toMarkdown, plotSvg } from '../src/eval/report.js';
import { randomizedModel } from '../src/metrics/sanity.js';
import { spearman } from '../src/metrics/rank.js';
import { runMethod } from '../src/methods/index.js';
import { prepareImage } from '../src/image/preprocess.js';
import { spawn } from 'node:child_process';
import { BIN, naflow } from './helpers/run-cli.js';
import { PACKAGE_ROOT } from '../src/defaults.js';

const shared = path.resolve(PACKAGE_ROOT, '../shared/data');
const modelFile = path.join(shared, 'models/cifar-resnet/resnet20.onnx');
const data = path.join(shared, 'cifar10-test');
const card = path.join(PACKAGE_ROOT, 'models/cards/cifar10-resnet.naflow.json');
const skip = fs.existsSync(modelFile) && fs.existsSync(data) ? false : `${modelFile} or ${data} is absent (../shared/data)`;

test('eval resumes after a crash: the same results.json as an uninterrupted run', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(modelFile, { card });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-eval-'));
  try {
    const items = readDataset(data, model.card)
      .filter((_, i) => i % 100 === 0)
      .slice(0, 6);
    assert.deepEqual(
      items.map((i) => i.classIndex),
      [0, 1, 2, 3, 4, 5],
      'class sub-folders map to the card labels',
    );
    const base: Omit<EvalOptions, 'out'> = {
      methods: ['naflow', 'gradcam', 'guided-backprop'],
      metrics: ['deletion', 'insertion', 'drop'],
      layers: ['0'], // the first trunk layer: the most spatial detail
      steps: 4,
      modelFile,
      data,
    };
    const whole = await runEval(model, items, { ...base, out: path.join(tmp, 'a') });
    const out = path.join(tmp, 'b');
    await assert.rejects(
      runEval(model, items, {
        ...base,
        out,
        beforeImage: (i) => {
          if (i === 3) throw new Error('simulated crash');
        },
      }),
      /simulated crash/,
    );
    assert.equal(fs.readFileSync(path.join(out, 'progress.jsonl'), 'utf8').trim().split('\n').length, 3, 'three images checkpointed');
    fs.appendFileSync(path.join(out, 'progress.jsonl'), '{"i": 3, "file": "cut sho'); // a line cut short by the crash
    let redone = 0;
    const resumed = await runEval(model, items, { ...base, out, onImage: () => redone++ });
    assert.equal(redone, 3, 'only the missing images are done again');
    assert.deepEqual(resumed, whole);
    assert.ok(whole.rows.length === 3 && whole.rows.every((r) => r.n === 6));
    const csv = toCsv(whole);
    assert.equal(csv.trim().split('\n').length, 4);
    assert.match(toMarkdown(whole), /\| layer \| naflow \| gradcam \| guided-backprop \|/);
    assert.match(plotSvg(whole, 'insertion'), /<svg[\s\S]*naflow[\s\S]*<\/svg>/);
    await assert.rejects(runEval(model, items, { ...base, out, steps: 8 }), /holds an evaluation with other settings/);
    await assert.rejects(runEval(model, items.slice(1), { ...base, out }), /image 0 of the checkpoint is .*airplane.*the dataset or its sampling changed/);
    // paper-mode maps depend on the LSMR settings: a folder made under other solver defaults is refused
    const config = JSON.parse(fs.readFileSync(path.join(out, 'eval-config.json'), 'utf8'));
    assert.deepEqual(config.solver.spec, { rho: 0.1, maxIter: 30, abandon: 'zero', threshold: 0, map: 'relu-bg', merge: 'mean', unit: 'op' });
    assert.deepEqual(config.solver.default, { ...config.solver.spec, rho: 1, maxIter: 4 });
    assert.deepEqual([config.solver.atol, config.solver.btol], [1e-6, 1e-6]);
    fs.writeFileSync(
      path.join(out, 'eval-config.json'),
      JSON.stringify({ ...config, solver: { ...config.solver, default: { ...config.solver.default, maxIter: 100 } } }, null, 2),
    );
    await assert.rejects(runEval(model, items, { ...base, out }), /other settings \(.*solver settings\)/);
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('eval sanity: one Spearman ρ per randomisation stage, equal to the maps of randomizedModel compared directly', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(modelFile, { card });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-evalsanity-'));
  try {
    const items = readDataset(data, model.card)
      .filter((_, i) => i % 250 === 0)
      .slice(0, 2);
    const before = tf.memory().numTensors;
    const r = await runEval(model, items, {
      methods: ['gradcam', 'naflow-ref', 'guided-backprop'],
      metrics: ['sanity'],
      layers: ['0', '10'],
      sanityStages: 2,
      modelFile,
      data,
      out: tmp,
    });
    assert.equal(tf.memory().numTensors, before, 'the randomised models are freed');
    // ResNet-20: 19 convolutions + the linear head = 20 weight layers; stages: the top 10, all 20
    assert.deepEqual(r.settings.sanity, [
      { key: 'sanity-50', layers: 10, of: 20, seed: 1 },
      { key: 'sanity-100', layers: 20, of: 20, seed: 1 },
    ]);
    assert.deepEqual(Object.keys(r.rows[0].values), ['sanity-50', 'sanity-100']);
    // the same numbers, computed here without the eval
    const layerNames = r.layers.map((l) => l.name);
    for (const stage of r.settings.sanity!) {
      const random = randomizedModel(model, { layers: stage.layers, seed: stage.seed });
      try {
        const rho = new Map<string, number[]>();
        for (const item of items) {
          const { tensor } = await prepareImage(model, item.file);
          try {
            const [trained, randomised] = [model, random].map((m) => runMethod(m, tensor, 'gradcam', { classIndex: item.classIndex, layers: layerNames }));
            trained.layers.forEach((l, k) => rho.set(l.name, [...(rho.get(l.name) ?? []), spearman(l.map, randomised.layers[k].map)]));
          } finally {
            tensor.dispose();
          }
        }
        for (const [name, all] of rho) {
          const row = r.rows.find((row) => row.method === 'gradcam' && row.layer === name)!;
          const vs = all.filter(Number.isFinite); // a constant map (an all-zero Grad-CAM) has no rank order: left out
          if (!vs.length) assert.equal(row.values[stage.key], null);
          else {
            const want = vs.reduce((a, b) => a + b, 0) / vs.length;
            assert.ok(Math.abs(row.values[stage.key]! - want) <= 1e-9, `${stage.key} ${name}: ${row.values[stage.key]} vs ${want}`);
          }
        }
      } finally {
        random.dispose();
      }
    }
    for (const row of r.rows) for (const v of Object.values(row.values)) assert.ok(v === null || (v !== undefined && v >= -1 && v <= 1));
    assert.equal(r.rows.filter((row) => row.method === 'guided-backprop').length, 1, 'pixel space: one row');
    assert.match(toMarkdown(r), /## sanity: Spearman ρ with the top 20 of 20 weight layers randomised/);
    assert.match(toCsv(r).split('\n')[0], /,sanity-50,sanity-100$/);
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('eval over 200 images keeps the live tensor count flat', { skip }, async () => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(modelFile, { card });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-eval200-'));
  try {
    const items = readDataset(data, model.card).filter((_, i) => i % 5 === 0);
    assert.equal(items.length, 200);
    const counts: number[] = [];
    const r = await runEval(model, items, {
      methods: ['naflow-ref', 'layercam'],
      metrics: ['drop'],
      layers: 'last',
      modelFile,
      data,
      out: tmp,
      onImage: () => counts.push(tf.memory().numTensors),
    });
    assert.equal(counts.length, 200);
    assert.ok(
      counts.every((c) => c === counts[0]),
      `live tensors: first ${counts[0]}, max ${Math.max(...counts)}, last ${counts.at(-1)}`,
    );
    assert.equal(r.rows[0].n, 200);
  } finally {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('naflow eval writes results.json/csv/md and plots; bad options are usage errors', { skip }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-evalcli-'));
  try {
    const out = path.join(tmp, 'out');
    const r = await naflow([
      'eval',
      modelFile,
      '--card',
      card,
      '--data',
      data,
      '--every',
      '500',
      '--methods',
      'naflow-ref,hirescam',
      '--metrics',
      'insertion,drop',
      '--steps',
      '4',
      '--out',
      out,
      '--html',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^eval 1\/2 images .* s\/image {2}ETA 0h00m {2}.*\neval 2\/2 images /m, 'no terminal: a progress line per image');
    // --html: the metric-vs-depth plots and tables, and the viewer on the first image with the CAM method beside NAFlow
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.doesNotMatch(html, /https?:\/\//);
    const viewer = JSON.parse(/<script type="application\/json" id="naflow-data">([^<]*)<\/script>/.exec(html)![1]);
    assert.deepEqual(
      viewer.eval.plots.map((p: { key: string }) => p.key),
      ['insertion', 'drop', 'increase'],
    );
    assert.match(viewer.eval.plots[0].svg, /<polyline|<circle/);
    assert.deepEqual(viewer.eval.tables[0].columns, ['layer', 'naflow-ref', 'hirescam']);
    assert.deepEqual(
      viewer.flows.map((f: { method: string }) => f.method),
      ['naflow', 'hirescam'],
    );
    assert.equal(viewer.mode, 'reference');
    for (const f of ['results.json', 'results.csv', 'results.md', 'plot-insertion.svg', 'plot-drop.svg', 'plot-increase.svg', 'progress.jsonl'])
      assert.ok(fs.existsSync(path.join(out, f)), f);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    assert.equal(json.images, 2);
    const files = fs
      .readFileSync(path.join(out, 'progress.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => path.relative(data, JSON.parse(l).file));
    assert.deepEqual(files, [path.join('airplane', '0000.jpg'), path.join('dog', '0000.jpg')], '--every 500: images 0 and 500 of the 1000');
    assert.deepEqual(json.methods, ['naflow-ref', 'hirescam']);
    const bad = await naflow(['eval', modelFile, '--card', card, '--data', data, '--methods', 'naflow,nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--methods: unknown 'nope'/);
    const badVariant = await naflow(['eval', modelFile, '--card', card, '--data', data, '--methods', 'layercam,naflow:unit=block,rho=-1']);
    assert.equal(badVariant.code, 1);
    assert.match(badVariant.stderr, /method 'naflow:unit=block,rho=-1': rho must be a finite number ≥ 0, got '-1'/);
    const badStages = await naflow(['eval', modelFile, '--card', card, '--data', data, '--metrics', 'sanity', '--sanity-stages', '0']);
    assert.equal(badStages.code, 1);
    assert.match(badStages.stderr, /--sanity-stages must be a positive integer, got '0'/);
    const noData = await naflow(['eval', modelFile, '--data', path.join(tmp, 'missing')]);
    assert.equal(noData.code, 1);
    assert.match(noData.stderr, /--data .*missing: no such file or folder/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('naflow eval takes cascade variants as method ids (naflow:key=value,…): their maps are runCascade’s with that variant', { skip }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-evalvar-'));
  try {
    const out = path.join(tmp, 'out');
    const variantId = 'naflow:abandon=keep,unit=block';
    const r = await naflow([
      'eval',
      modelFile,
      '--card',
      card,
      '--data',
      data,
      '--every',
      '500',
      '--limit',
      '1',
      '--methods',
      `${variantId},naflow,layercam`,
      '--layers',
      '0',
      '--metrics',
      'insertion',
      '--steps',
      '4',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    assert.deepEqual(json.methods, [variantId, 'naflow', 'layercam'], 'a comma followed by key= continues the variant');
    await initBackend({ backend: 'wasm' });
    const model = await loadModel(modelFile, { card });
    try {
      const [item] = readDataset(data, model.card);
      const { runCascade } = await import('../src/naflow/cascade.js');
      const { makeScorer, deletionInsertion } = await import('../src/metrics/faithfulness.js');
      const prepared = await prepareImage(model, item.file);
      const x = prepared.tensor;
      const scorer = makeScorer(model, prepared.rgb, prepared.spec, { classIndex: item.classIndex });
      const insertion = (variant: object) => {
        const l = runCascade(model, x, { classIndex: item.classIndex, variant }).layers[0];
        return deletionInsertion(scorer, { map: l.map, height: l.shape[0], width: l.shape[1] }, 'insertion', { steps: 4 }).auc;
      };
      const row = (m: string) => json.rows.find((w: { method: string }) => w.method === m).values.insertion;
      assert.ok(Math.abs(row(variantId) - insertion({ abandon: 'keep', unit: 'block' })) < 1e-6);
      assert.ok(Math.abs(row('naflow') - insertion({})) < 1e-6);
      assert.notEqual(row(variantId), row('naflow'), 'the variant changes the map');
      x.dispose();
    } finally {
      model.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('naflow eval stopped by Ctrl-C (SIGINT) resumes with the same command to the results of an uninterrupted run', { skip }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-evalint-'));
  const args = (out: string) => [
    'eval',
    modelFile,
    '--card',
    card,
    '--data',
    data,
    '--limit',
    '10',
    '--methods',
    'naflow,hirescam',
    '--metrics',
    'insertion,drop',
    '--steps',
    '4',
    '--out',
    out,
  ];
  try {
    const whole = await naflow(args(path.join(tmp, 'whole')));
    assert.equal(whole.code, 0, whole.stderr);
    const out = path.join(tmp, 'stopped');
    const progress = path.join(out, 'progress.jsonl');
    const lines = () =>
      fs.existsSync(progress)
        ? fs
            .readFileSync(progress, 'utf8')
            .split('\n')
            .filter((l) => l.trim()).length
        : 0;
    const child = spawn(process.execPath, [BIN, ...args(out)], { cwd: PACKAGE_ROOT, stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    // Ctrl-C once two images are checkpointed
    const start = Date.now();
    while (lines() < 2 && Date.now() - start < 120_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const stop = await exited;
    assert.ok(stop.signal === 'SIGINT' || stop.code === 130, `stopped by SIGINT (code ${stop.code}, signal ${stop.signal})`);
    const done = lines();
    assert.ok(done >= 2 && done < 10, `interrupted after ${done} of 10 images`);
    assert.ok(!fs.existsSync(path.join(out, 'results.json')), 'no results.json from the interrupted run');
    const resumed = await naflow(args(out));
    assert.equal(resumed.code, 0, resumed.stderr);
    const read = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    assert.deepEqual(read(out), read(path.join(tmp, 'whole')));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
