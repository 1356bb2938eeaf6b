/**
 * The cascade on real models and real images from ../shared/data (skips with a message where the
 * folder is absent), wasm backend:
 *
 * * CIFAR ResNet-20, paper mode: at every trunk tensor the final BPFM is zero wherever the importance
 *   is zero (B = B̃ ⊙ [G ≠ 0], docs/spec.md §4), every map finite, no tensor leaked;
 * * CIFAR ResNet-56 (27 residual blocks): `explain` in both modes; in paper mode every residual
 *   block's conv reports its LSMR solve (iterations ≥ 1, finite residual), and every residual join
 *   (Add) has a map;
 * * Tiny Darknet pointing game on imagenet-val1300, explaining the ground-truth class: the arg-max of
 *   the deepest map (cell centre scaled to the 227×227 image) against the ground-truth boxes, next to
 *   the centre-point baseline. The first 200 images with NAFLOW_LONG=1 (11–16 min on one core,
 *   3.3–4.8 s per image; naflow must hit at least as often as the centre point — measured: naflow
 *   187/200 = 93.5 %, centre 177/200 = 88.5 %); by default a smoke run on the first 4 images (every
 *   map finite and non-constant; the hit rates go to the diagnostics only).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_ROOT, DEFAULT_MODEL } from '../src/defaults.js';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage } from '../src/image/preprocess.js';
import { runCascade, type LayerFlow } from '../src/naflow/cascade.js';
import { explain } from '../src/naflow/explain.js';
import '../src/ops/index.js';

const DATA = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data');
const LONG = process.env.NAFLOW_LONG === '1';
const CIFAR = path.join(DATA, 'models', 'cifar-resnet');
const RESNET20 = path.join(CIFAR, 'resnet20.onnx');
const RESNET56 = path.join(CIFAR, 'resnet56.onnx');
const CAT_DIR = path.join(DATA, 'cifar10-test', 'cat');
const VAL = path.join(DATA, 'imagenet-val1300');
const DARKNET_WNIDS = path.join(path.dirname(DEFAULT_MODEL), 'darknet1k_wnids.txt');

const missing = (...files: string[]): string | undefined => {
  const gone = files.filter((f) => !fs.existsSync(f));
  return gone.length ? `shared data not found (${gone.join(', ')}): these tests need ../shared/data beside the repository` : undefined;
};

/** CIFAR preprocessing: 32×32, x/255 then ImageNet mean/std. */
const CIFAR_IMAGE = { size: [32, 32] as [number, number], preprocess: 'imagenet' as const };

const firstCat = (): string =>
  path.join(
    CAT_DIR,
    fs
      .readdirSync(CAT_DIR)
      .filter((f) => !f.startsWith('.'))
      .sort()[0],
  );

function assertFiniteMaps(what: string, layers: LayerFlow[]): void {
  for (const l of layers) {
    assert.equal(l.map.length, l.shape[0] * l.shape[1], `${what} ${l.name}: map is H×W`);
    const bad = l.map.findIndex((v) => !Number.isFinite(v));
    assert.equal(bad, -1, `${what} ${l.name}: map finite (entry ${bad} is ${l.map[bad]})`);
  }
}

test('ResNet-20, paper mode: B = 0 wherever G = 0 at every trunk layer; every map finite', { skip: missing(RESNET20, CAT_DIR) }, async (t) => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(RESNET20);
  const image = firstCat();
  const { tensor } = await prepareImage(model, image, CIFAR_IMAGE);
  try {
    assert.deepEqual(tensor.shape, [1, 32, 32, 3]);
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    let violations = 0;
    let abandoned = 0;
    let neurons = 0;
    const flow = runCascade(model, tensor, {
      mode: 'paper',
      inspectTensors: (name, { a, b, g }) => {
        assert.ok(g, `${name}: has an importance tensor`);
        assert.deepEqual(b.shape, a.shape, `${name}: B has A's shape`);
        const bv = b.dataSync();
        const gv = g.dataSync();
        let v = 0;
        let z = 0;
        for (let i = 0; i < gv.length; i++)
          if (gv[i] === 0) {
            z++;
            if (bv[i] !== 0) v++;
          }
        assert.ok(bv.every(Number.isFinite), `${name}: B finite`);
        assert.ok(gv.every(Number.isFinite), `${name}: G finite`);
        if (v) t.diagnostic(`${name}: ${v} of ${z} abandoned neurons have B ≠ 0`);
        violations += v;
        abandoned += z;
        neurons += gv.length;
        seen.push(name);
      },
    });
    assert.equal(tf.memory().numTensors, before, 'the cascade frees what it allocates');
    assert.equal(seen.length, flow.layers.length, 'inspectTensors saw every trunk layer');
    assert.deepEqual(new Set(seen), new Set(flow.layers.map((l) => l.name)));
    assert.ok(abandoned > 0, 'some neurons are abandoned (otherwise the check is vacuous)');
    assert.equal(violations, 0, `${violations} abandoned neurons (G = 0) with B ≠ 0`);
    assertFiniteMaps('resnet20', flow.layers);
    t.diagnostic(
      `resnet20 on ${path.basename(image)}: class ${flow.classIndex}, ${flow.layers.length} layers, ` +
        `${abandoned} of ${neurons} neurons abandoned (${((100 * abandoned) / neurons).toFixed(1)} %), 0 with B ≠ 0`,
    );
  } finally {
    tensor.dispose();
    model.dispose();
  }
});

test('ResNet-56 explains in both modes; LSMR statistics for every residual block conv; the Add joins have maps', {
  skip: missing(RESNET56, CAT_DIR),
}, async (t) => {
  await initBackend({ backend: 'wasm' });
  const model = await loadModel(RESNET56);
  try {
    const image = firstCat();
    const graph = model.graph;
    const adds = graph.nodes.filter((n) => n.op === 'Add');
    const blockConvs = graph.nodes.filter((n) => n.op === 'Conv' && /^\/layer\d+\/layer\d+\.\d+\/conv\d+\/Conv$/.test(n.name));
    assert.equal(adds.length, 27, 'ResNet-56: 27 residual joins');
    assert.equal(blockConvs.length, 54, 'ResNet-56: 2 convs in each of 27 blocks');
    for (const mode of ['reference', 'paper'] as const) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      const flow = await explain(model, image, { mode, image: CIFAR_IMAGE });
      const ms = performance.now() - t0;
      assert.equal(tf.memory().numTensors, before, `${mode}: explain frees what it allocates`);
      assert.equal(flow.mode, mode);
      assert.ok(flow.decision.classIndex >= 0 && flow.decision.classIndex < 10);
      assert.ok(Number.isFinite(flow.decision.score));
      assertFiniteMaps(`resnet56 ${mode}`, flow.layers);
      const byName = new Map(flow.layers.map((l) => [l.name, l]));
      for (const n of adds) {
        const l = byName.get(n.outputs[0]);
        assert.ok(l, `${mode}: the residual join ${n.name} has a map`);
        assert.equal(l.op, 'Add');
      }
      let solves = 0;
      let iterations = 0;
      let worst = 0;
      for (const l of flow.layers)
        for (const s of l.solver ?? [])
          if (s.method === 'lsmr') {
            assert.ok(Number.isFinite(s.relResidual), `${mode} ${l.name}: LSMR residual ${s.relResidual} finite`);
            assert.ok(Number.isFinite(s.damping) && Number.isFinite(s.sigmaMax), `${mode} ${l.name}: λ and σ_max finite`);
            solves++;
            iterations += s.iterations;
            worst = Math.max(worst, s.relResidual);
          }
      if (mode === 'paper') {
        for (const n of blockConvs) {
          const input = byName.get(n.inputs[0]);
          assert.ok(input, `${n.name}: its input ${n.inputs[0]} has a map`);
          const lsmr = (input.solver ?? []).filter((s) => s.method === 'lsmr');
          assert.ok(lsmr.length >= 1, `${n.name}: LSMR statistics on its input ${input.name}`);
          for (const s of lsmr) {
            assert.ok(s.iterations >= 1, `${n.name}: ${s.iterations} LSMR iterations (stop: ${s.stop})`);
            assert.ok(Number.isFinite(s.relResidual), `${n.name}: residual ${s.relResidual}`);
          }
        }
        assert.ok(solves >= blockConvs.length, `${solves} LSMR solves for ${blockConvs.length} block convs`);
      } else assert.equal(solves, 0, 'reference mode solves nothing');
      t.diagnostic(
        `resnet56 ${mode}: class ${flow.decision.classIndex}, ${flow.layers.length} layers in ${ms.toFixed(0)} ms` +
          (solves ? `, ${solves} LSMR solves, mean ${(iterations / solves).toFixed(1)} iterations, max rel. residual ${worst.toExponential(2)}` : ''),
      );
    }
  } finally {
    model.dispose();
  }
});

/* ---- pointing game: Tiny Darknet on imagenet-val1300 ---- */

interface ValEntry {
  file: string;
  label: number;
  wnid: string;
  name: string;
  boxes_227: Array<[number, number, number, number]>;
}

const VAL_SIZE = 227;
const inBox = (x: number, y: number, boxes: ValEntry['boxes_227']) => boxes.some(([x0, y0, x1, y1]) => x >= x0 && x <= x1 && y >= y0 && y <= y1);

/** The arg-max cell of an H×W map, its centre scaled to the 227×227 image: [x, y]. */
export function argmaxPixel(map: Float32Array, h: number, w: number, size = VAL_SIZE): [number, number] {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  const row = Math.floor(best / w);
  const col = best % w;
  return [((col + 0.5) * size) / w, ((row + 0.5) * size) / h];
}

test('argmaxPixel maps a cell centre to image pixels', () => {
  const m = new Float32Array(14 * 14);
  m[0] = 1;
  assert.deepEqual(argmaxPixel(m, 14, 14), [(0.5 * 227) / 14, (0.5 * 227) / 14]);
  m[14 * 13 + 13] = 2;
  assert.deepEqual(argmaxPixel(m, 14, 14), [(13.5 * 227) / 14, (13.5 * 227) / 14]);
  assert.ok(inBox(113.5, 113.5, [[100, 100, 120, 120]]) && !inBox(99, 113.5, [[100, 100, 120, 120]]));
});

const POINTING_LONG_N = 200;
// about 1 s per image with native convolutions (4–5 s on tfjs alone): the default smoke run stays short (the whole file adds < 60 s to `npm test`)
const POINTING_SMOKE_N = 4;

test(`Tiny Darknet pointing game on imagenet-val1300 (ground-truth class, paper mode): ${LONG ? `first ${POINTING_LONG_N} images` : `smoke run on the first ${POINTING_SMOKE_N}`}`, {
  skip: missing(DEFAULT_MODEL, path.join(VAL, 'labels-boxes.json')),
}, async (t) => {
  if (!LONG)
    t.diagnostic(
      `the ${POINTING_LONG_N}-image pointing game runs with NAFLOW_LONG=1 (about 1 s per image; 4–5 s without native convolutions); this is the ${POINTING_SMOKE_N}-image smoke run`,
    );
  await initBackend({ backend: 'wasm' });
  const entries = JSON.parse(fs.readFileSync(path.join(VAL, 'labels-boxes.json'), 'utf8')) as ValEntry[];
  const wnids = fs
    .readFileSync(DARKNET_WNIDS, 'utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  assert.equal(wnids.length, 1000, 'darknet1k_wnids.txt has 1000 ids');
  const n = LONG ? POINTING_LONG_N : POINTING_SMOKE_N;
  const model = await loadModel(DEFAULT_MODEL);
  try {
    let hits = 0;
    let centre = 0;
    const t0 = performance.now();
    for (const [k, e] of entries.slice(0, n).entries()) {
      const classIndex = wnids.indexOf(e.wnid);
      assert.ok(classIndex >= 0, `${e.file}: ${e.wnid} is a Darknet class`);
      assert.ok(e.boxes_227.length > 0, `${e.file}: has boxes`);
      const flow = await explain(model, path.join(VAL, e.file), { mode: 'paper', classIndex });
      assert.equal(flow.decision.classIndex, classIndex);
      assert.equal(flow.decision.id, e.wnid);
      for (const l of flow.layers) {
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of l.map) {
          assert.ok(Number.isFinite(v), `${e.file} ${l.name}: map finite`);
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        assert.ok(hi > lo, `${e.file} ${l.name}: map not constant (${lo} … ${hi})`);
      }
      const deepest = flow.layers[flow.layers.length - 1];
      assert.equal(deepest.name, flow.trunkEnd);
      const [x, y] = argmaxPixel(deepest.map, deepest.shape[0], deepest.shape[1]);
      if (inBox(x, y, e.boxes_227)) hits++;
      if (inBox(VAL_SIZE / 2, VAL_SIZE / 2, e.boxes_227)) centre++;
      if ((k + 1) % 25 === 0) t.diagnostic(`${k + 1}/${n}: naflow ${hits}, centre ${centre}`);
    }
    const secs = (performance.now() - t0) / 1000;
    const pct = (h: number) => `${((100 * h) / n).toFixed(1)} % (${h}/${n})`;
    const line = `pointing game, Tiny Darknet, first ${n} of imagenet-val1300, ground-truth class, paper mode: naflow ${pct(hits)}, centre point ${pct(centre)}; ${secs.toFixed(1)} s (${(secs / n).toFixed(2)} s/image)`;
    t.diagnostic(line);
    console.log(line);
    if (LONG) assert.ok(hits >= centre, `naflow's arg-max hits a box ${hits} times, the centre point ${centre} times`);
  } finally {
    model.dispose();
  }
});
