/**
 * Convergence study of the damped least-squares inverses (docs/spec.md §5): how much do paper-mode NAFlow maps
 * change with the LSMR iteration cap, for several damping factors ρ (λ = ρ·σ_max)?
 *
 * For each model and ρ the cascade is run once per iteration cap (atol = btol = 1e-6). The run with the
 * largest cap is taken as "converged"; for every other cap the per-layer relative L2 difference
 * ‖F_cap − F_conv‖ / ‖F_conv‖ is computed over all layers of the flow, and its max and median are
 * reported together with the mean LSMR iterations actually used and the wall time of the run.
 *
 * Models: the bundled Tiny Darknet on assets/photos/chelsea.png, and VGG16 — the full-width export
 * bench/work/vgg16.onnx (tools/make_bench_models.py) when present, else the reduced-width test fixture.
 *
 * Writes docs/convergence.md (table, machine, date, models), docs/convergence.png (plot, an SVG built
 * here and rasterised with sharp) and docs/convergence.json (the raw numbers). When the full-width
 * VGG16 is present, the reduced-width fixture also runs (a third panel) with the whole ρ × cap grid.
 *
 * Usage: node dist/bench/convergence.js [--quick] [--models tiny-darknet,vgg16,vgg16-fixture,resnet50] [--rhos 1,0.1] [--out DIR] [--replot]
 *   --quick    smoke test: Tiny Darknet only, caps {10, 30}, ρ {0.1} (under a minute); writes to
 *              bench/work/convergence-quick/ unless --out is given, so it never overwrites the study
 *   --models   run only these models (keys as listed)
 *   --out      output folder (default docs/)
 *   --rhos     run only these damping factors and merge their rows into DIR/convergence.json (the
 *              other rows are kept as they were measured; the report lists each update's date)
 *   --replot   re-render the .md and .png from DIR/convergence.json without running anything
 * The full study takes about a quarter of an hour on one core (see the plan below).
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { initBackendInfo, shutdownBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { runCascade } from '../src/naflow/cascade.js';
import { prepareImage } from '../src/image/preprocess.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';
import { maxCap, renderSvg, type ModelResult, type RunResult } from './convergence-plot.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rel = (p: string) => path.relative(root, p);

// ---------------------------------------------------------------- plan

interface RhoPlan {
  rho: number;
  caps: number[];
}
interface ModelPlan {
  key: string;
  label: string;
  file: string;
  input: string;
  note: string;
  plans: RhoPlan[];
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('--quick');
const outDir = path.resolve(root, option('--out') ?? (quick ? 'bench/work/convergence-quick' : 'docs'));
const onlyModels = option('--models')?.split(',');
const onlyRhos = option('--rhos')?.split(',').map(Number);

const ATOL = 1e-6;
const BTOL = 1e-6;
const POWER_ITERATIONS = 8;
const CAPS = [10, 15, 20, 25, 30, 100, 300];
/** the default configuration's damping (ρ = 1, docs/faithfulness-study.md) converges within ~10 iterations: small caps */
const DEFAULT_RHO_PLAN: RhoPlan = { rho: 1, caps: [2, 3, 4, 6, 10, 300] };

const darknet: ModelPlan = {
  key: 'tiny-darknet',
  label: 'Tiny Darknet (bundled)',
  file: path.join(root, 'models/tiny-darknet/model.json'),
  input: path.join(root, 'assets/photos/chelsea.png'),
  note: 'bundled tfjs model, assets/photos/chelsea.png',
  plans: quick
    ? [{ rho: 0.1, caps: [10, 30] }]
    : [{ rho: 0, caps: [...CAPS, 600] }, { rho: 0.01, caps: [...CAPS, 600] }, { rho: 0.1, caps: CAPS }, { rho: 0.3, caps: CAPS }, DEFAULT_RHO_PLAN],
};

const fullVgg = path.join(root, 'bench/work/vgg16.onnx');
const haveFullVgg = fs.existsSync(fullVgg) && fs.existsSync(path.join(root, 'bench/work/vgg16.input.npy'));
const fixtureVgg: ModelPlan = {
  key: 'vgg16-fixture',
  label: 'VGG16 (reduced-width fixture)',
  file: path.join(root, 'test/fixtures/onnx/vgg16/model.onnx'),
  input: path.join(root, 'test/fixtures/onnx/vgg16/input.npy'),
  note: 'test/fixtures/onnx/vgg16/model.onnx: the VGG16 topology (13 convs, 5 max-pools) at reduced width, seeded weights, 100 classes; input input.npy (NCHW → NHWC)',
  plans: [{ rho: 0, caps: [...CAPS, 600] }, { rho: 0.01, caps: [...CAPS, 600] }, { rho: 0.1, caps: CAPS }, { rho: 0.3, caps: CAPS }, DEFAULT_RHO_PLAN],
};
/*
 * Full-width VGG16 on one core costs about 15 s per cascade plus 1.8 s per LSMR iteration summed over
 * its 12 solved convs (measured on the 2-vCPU development machine), so the whole grid (ρ = 0 and 0.01
 * run every cap to the end: 440+ iterations each) would take about 45 minutes there. At full width the
 * study is therefore reduced to ρ = 0.1 (caps 10–300) and ρ = 0 (caps 10, 30, 100: the reference is the
 * 100-iteration run); the reduced-width fixture, same topology, runs the whole grid in about a minute.
 */
const fullVggPlan: ModelPlan = {
  key: 'vgg16',
  label: 'VGG16 (full width)',
  file: fullVgg,
  input: path.join(root, 'bench/work/vgg16.input.npy'),
  note: 'bench/work/vgg16.onnx: torchvision VGG16 at full width, seeded weights (tools/make_bench_models.py), input bench/work/vgg16.input.npy (NCHW → NHWC); reduced grid for time: ρ ∈ {0, 0.1}, and ρ = 0 only up to cap 100',
  plans: [
    { rho: 0.1, caps: CAPS },
    { rho: 0, caps: [10, 30, 100] }, // not converged at 100: the smaller caps say nothing more
    DEFAULT_RHO_PLAN,
  ],
};
const fullResnet = path.join(root, 'bench/work/resnet50.onnx');
const resnetPlan: ModelPlan = {
  key: 'resnet50',
  label: 'ResNet-50 (full width)',
  file: fullResnet,
  input: path.join(root, 'bench/work/resnet50.input.npy'),
  note: "bench/work/resnet50.onnx: torchvision ResNet-50, seeded weights (tools/make_bench_models.py), input bench/work/resnet50.input.npy (NCHW → NHWC); the default configuration's ρ only",
  plans: [DEFAULT_RHO_PLAN],
};
const haveResnet = fs.existsSync(fullResnet) && fs.existsSync(resnetPlan.input);

const models = (quick ? [darknet] : haveFullVgg && !flag('--no-full-vgg') ? [darknet, fullVggPlan, fixtureVgg] : [darknet, fixtureVgg])
  .concat(!quick && haveResnet ? [resnetPlan] : [])
  .filter((m) => !onlyModels || onlyModels.includes(m.key))
  .map((m) => (onlyRhos ? { ...m, plans: m.plans.filter((p) => onlyRhos.includes(p.rho)) } : m))
  .filter((m) => m.plans.length > 0);

// ---------------------------------------------------------------- runs

const l2 = (a: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};
const l2diff = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
};
const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function inputTensor(m: ModelPlan, model: Awaited<ReturnType<typeof loadModel>>): Promise<tf.Tensor> {
  if (m.input.endsWith('.npy')) {
    const a = readNpy(m.input);
    return tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(a), a.shape as [number, number, number, number]), [0, 2, 3, 1]));
  }
  return (await prepareImage(model, m.input)).tensor;
}

async function study(m: ModelPlan): Promise<ModelResult> {
  console.error(`${m.label}: loading ${rel(m.file)} …`);
  const model = await loadModel(m.file);
  const x = await inputTensor(m, model);
  const settings = (rho: number, maxIter: number) => ({ rho, maxIter, atol: ATOL, btol: BTOL, powerIterations: POWER_ITERATIONS });
  // Warm-up: the first cascade also estimates σ_max of every solved operator (cached per node), and
  // warms the kernels, so that the timed runs below all cost the same kind of work.
  let t0 = performance.now();
  const warm = runCascade(model, x, { mode: 'paper', settings: settings(0.1, 1) });
  const warmupS = (performance.now() - t0) / 1000;
  const layerNames = warm.layers.map((l) => l.name);
  console.error(`  warm-up (σ_max, cap 1): ${warmupS.toFixed(1)} s, ${layerNames.length} layers`);

  const runs: RunResult[] = [];
  for (const plan of m.plans) {
    const maps: Float32Array[][] = [];
    const planRuns: RunResult[] = [];
    for (const cap of plan.caps) {
      const prev = planRuns[planRuns.length - 1];
      if (prev && prev.atCap === 0) {
        // No solve of the previous run reached its cap, so a larger cap runs exactly the same
        // (deterministic) iterations: reuse it instead of recomputing.
        maps.push(maps[maps.length - 1]);
        planRuns.push({ ...prev, cap, sameAs: prev.sameAs ?? prev.cap });
        console.error(`  ρ=${plan.rho} cap ${cap}: identical to cap ${prev.sameAs ?? prev.cap} (no solve reached that cap), not rerun`);
        continue;
      }
      t0 = performance.now();
      const flow = runCascade(model, x, { mode: 'paper', settings: settings(plan.rho, cap) });
      const wallS = (performance.now() - t0) / 1000;
      const solves = flow.layers.flatMap((l) => l.solver ?? []).filter((s) => s.method === 'lsmr' && s.iterations > 0);
      const its = solves.map((s) => s.iterations);
      const r: RunResult = {
        rho: plan.rho,
        cap,
        wallS,
        solves: solves.length,
        meanIterations: its.length ? its.reduce((a, b) => a + b, 0) / its.length : 0,
        maxIterations: its.length ? Math.max(...its) : 0,
        atCap: solves.filter((s) => s.stop === 'iteration cap reached').length,
      };
      maps.push(flow.layers.map((l) => l.map));
      planRuns.push(r);
      console.error(
        `  ρ=${plan.rho} cap ${cap}: ${wallS.toFixed(1)} s, ${r.solves} solves, mean ${r.meanIterations.toFixed(1)} it. (max ${r.maxIterations}, ${r.atCap} at the cap)`,
      );
    }
    const conv = maps[maps.length - 1];
    const convNorms = conv.map(l2);
    planRuns.forEach((r, k) => {
      const diffs = maps[k].map((f, i) => (convNorms[i] === 0 ? (l2(f) === 0 ? 0 : Infinity) : l2diff(f, conv[i]) / convNorms[i]));
      let worst = 0;
      diffs.forEach((d, i) => (d > diffs[worst] ? (worst = i) : 0));
      // the difference split into scale and shape: ‖F_cap‖/‖F_conv‖ and the cosine of the two maps
      const ratios = maps[k].map((f, i) => (convNorms[i] === 0 ? 1 : l2(f) / convNorms[i]));
      const cosines = maps[k].map((f, i) => {
        const nf = l2(f);
        if (convNorms[i] === 0 || nf === 0) return convNorms[i] === nf ? 1 : 0;
        let dot = 0;
        for (let j = 0; j < f.length; j++) dot += f[j] * conv[i][j];
        return dot / (nf * convNorms[i]);
      });
      Object.assign(r, {
        diffs,
        maxDiff: Math.max(...diffs),
        medianDiff: median(diffs),
        worstLayer: layerNames[worst],
        normRatioMedian: median(ratios),
        normRatioMin: Math.min(...ratios),
        cosineMin: Math.min(...cosines),
      });
    });
    runs.push(...planRuns);
  }
  x.dispose();
  model.dispose();
  return { key: m.key, label: m.label, note: m.note, layers: layerNames.length, layerNames, warmupS, runs };
}

// ---------------------------------------------------------------- report

const pct = (v: number | undefined) => {
  if (v === undefined) return '–';
  if (!Number.isFinite(v)) return '∞';
  if (v === 0) return '0';
  const p = v * 100;
  return p >= 10 ? `${p.toFixed(0)} %` : p >= 0.1 ? `${p.toFixed(2)} %` : `${p.toExponential(1)} %`;
};

const num = (v: number) => (v >= 0.01 && v < 1000 ? v.toPrecision(3).replace(/\.?0+$/, '') : v.toExponential(1));

function markdown({ results, totalS, backend, date, cpu, cores, updates }: Saved): string {
  const L: string[] = [];
  L.push('# Convergence of the damped least-squares inverses (paper mode)');
  L.push('');
  L.push(
    `Generated by \`node dist/bench/convergence.js\` (bench/convergence.ts) on ${date.slice(0, 10)}. Machine: ${cores} × ${cpu?.trim() || 'unknown CPU'} (os.cpus()), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, tfjs backend ${backend}. Whole study: ${(totalS / 60).toFixed(1)} min.`,
  );
  for (const u of updates ?? [])
    L.push(
      '',
      `Rows of ρ = ${u.rhos.join(', ')} (${u.models.join(', ')}) measured again on ${u.date.slice(0, 10)} with \`--rhos ${u.rhos.join(',')}\` (${(u.totalS / 60).toFixed(1)} min); the other rows are the first run's.`,
    );
  L.push('');
  L.push(
    'For each damping factor ρ (λ = ρ·σ_max(J), docs/spec.md §5) the paper-mode cascade ran once per LSMR iteration cap, with atol = btol = 1e-6 and 8 power iterations for σ_max. The run with the **largest cap** for that ρ is the reference ("converged"; where solves of that run still stop at the cap it is only the longest run, not a converged one — see the "solves at cap" column). Per layer of the flow, the relative L2 difference ‖F_cap − F_conv‖ / ‖F_conv‖ of the raw map is computed; the table gives its max and median over all layers (the deepest layers above the first solve are identical by construction and count as 0), the difference split into scale and shape — the ratio of the map norms ‖F_cap‖/‖F_conv‖ (median and min over layers) and the smallest cosine similarity of F_cap and F_conv over layers —, the mean and max LSMR iterations per solve actually used, how many solves stopped at the cap, and the wall time of the run (one thread; σ_max is estimated once, in an untimed warm-up run). Where no solve of a run reached its cap, the runs with larger caps would repeat exactly the same iterations; they are not rerun ("= cap N run"), and their difference to the reference is 0 when the reference is such a run. Wall times are from a shared 2-vCPU machine with other work running, so they are indicative only.',
  );
  L.push('');
  L.push('![convergence plot](convergence.png)');
  L.push('');
  L.push('Models:');
  L.push('');
  for (const r of results)
    L.push(`* **${r.label}** — ${r.note}; ${r.layers} layers in the flow; warm-up run (σ_max estimation, cap 1) ${r.warmupS.toFixed(1)} s.`);
  L.push('');
  L.push('Summary (generated from the numbers below):');
  L.push('');
  for (const r of results) {
    const parts: string[] = [];
    for (const rho of [...new Set(r.runs.map((x) => x.rho))]) {
      const runs = r.runs.filter((x) => x.rho === rho);
      const ref = runs[runs.length - 1];
      const others = runs.filter((x) => x !== ref && !x.sameAs);
      const diffs = others.map((x) => `${x.cap} → ${pct(x.maxDiff)}`).join(', ');
      parts.push(
        ref.atCap === 0
          ? `ρ = ${rho}: converges in ${ref.meanIterations.toFixed(0)} iterations per solve on average (max ${ref.maxIterations}); max difference to the converged maps at cap ${diffs}`
          : `ρ = ${rho}: not converged at cap ${ref.cap} (${ref.atCap} of ${ref.solves} solves stop at the cap); max difference to the cap-${ref.cap} maps at cap ${diffs}`,
      );
    }
    L.push(`* **${r.label}** — ${parts.join('; ')}.`);
  }
  L.push('');
  for (const r of results) {
    L.push(`## ${r.label}`);
    L.push('');
    L.push(
      '| ρ | cap | max rel. L2 diff | median rel. L2 diff | worst layer | ‖F_cap‖/‖F_conv‖ median (min) | min cosine | LSMR it. mean (max) | solves at cap | wall time |',
    );
    L.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const x of r.runs) {
      const ref = x.cap === maxCap(r, x.rho);
      L.push(
        `| ${x.rho} | ${x.cap}${ref ? ' (ref.)' : ''} | ${ref ? '—' : pct(x.maxDiff)} | ${ref ? '—' : pct(x.medianDiff)} | ${ref || !x.maxDiff ? '' : x.worstLayer} | ${ref || x.normRatioMedian === undefined ? '—' : `${num(x.normRatioMedian)} (${num(x.normRatioMin!)})`} | ${ref || x.cosineMin === undefined ? '—' : x.cosineMin.toFixed(3)} | ${x.meanIterations.toFixed(1)} (${x.maxIterations}) | ${x.atCap} / ${x.solves} | ${x.sameAs ? `= cap ${x.sameAs} run` : `${x.wallS.toFixed(1)} s`} |`,
      );
    }
    L.push('');
  }
  return L.join('\n');
}

// ---------------------------------------------------------------- main

interface Saved {
  date: string;
  cpu?: string;
  cores: number;
  backend: string;
  totalS: number;
  atol: number;
  btol: number;
  results: ModelResult[];
  /** later runs with --rhos whose rows replaced or joined the first run's */
  updates?: Array<{ date: string; rhos: number[]; models: string[]; totalS: number }>;
}

/** `base` with the rows of `update` (the damping factors `rhos`) in place of its own; new models appended */
function mergeRows(base: Saved, update: Saved, rhos: number[]): Saved {
  const results = base.results.map((r) => ({ ...r, runs: [...r.runs] }));
  for (const u of update.results) {
    const r = results.find((x) => x.key === u.key);
    if (!r) results.push(u);
    else r.runs = [...r.runs.filter((x) => !rhos.includes(x.rho)), ...u.runs];
  }
  const updates = [...(base.updates ?? []), { date: update.date, rhos, models: update.results.map((u) => u.key), totalS: update.totalS }];
  return { ...base, results, updates };
}

let saved: Saved;
if (flag('--replot')) {
  // re-render the plot and the table from the numbers of a previous run (no model is run)
  saved = JSON.parse(fs.readFileSync(path.join(outDir, 'convergence.json'), 'utf8')) as Saved;
  for (const r of saved.results) for (const x of r.runs) for (const k of ['maxDiff', 'medianDiff'] as const) if (x[k] === null) x[k] = Infinity;
} else {
  const tStart = performance.now();
  const info = await initBackendInfo({ backend: 'wasm', threads: 1 });
  console.error(`backend ${info.backend}, ${info.threads} thread(s); ${models.map((m) => m.label).join(', ')}; writing to ${rel(outDir) || '.'}`);
  const results: ModelResult[] = [];
  for (const m of models) results.push(await study(m));
  const totalS = (performance.now() - tStart) / 1000;
  const backend = `${info.backend}, ${info.threads} thread`;
  saved = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, backend, totalS, atol: ATOL, btol: BTOL, results };
  const previous = path.join(outDir, 'convergence.json');
  if (onlyRhos && fs.existsSync(previous)) saved = mergeRows(JSON.parse(fs.readFileSync(previous, 'utf8')) as Saved, saved, onlyRhos);
  await shutdownBackend();
}

fs.mkdirSync(outDir, { recursive: true });
await sharp(Buffer.from(renderSvg(saved.results)), { density: 96 })
  .png()
  .toFile(path.join(outDir, 'convergence.png'));
fs.writeFileSync(path.join(outDir, 'convergence.md'), `${markdown(saved)}\n`);
if (!flag('--replot')) fs.writeFileSync(path.join(outDir, 'convergence.json'), `${JSON.stringify(saved, null, 1)}\n`);
console.error(
  `done in ${(saved.totalS / 60).toFixed(1)} min: ${['convergence.md', 'convergence.png', 'convergence.json'].map((f) => rel(path.join(outDir, f))).join(', ')}`,
);
process.exit(0);
