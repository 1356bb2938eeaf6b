/**
 * One explain benchmark cell in its own process: load a model, run the NAFlow cascade in the given
 * mode (the first run, which also estimates σ_max and builds the native sessions, is timed apart; then
 * N timed runs), print one JSON line with the median time, the first run's time, peak RSS and the LSMR
 * statistics (mean iterations, median and max relative residual). With a reference cap (paper mode),
 * one more run at that cap gives the largest relative L2 difference of any layer's map to it.
 * Usage: node dist/bench/explain-one.js <model> <image.png|input.npy (NCHW)> <paper|reference> [threads] [runs] [refCap] [variant] [sigmaCache]
 * (variant: a preset or key=value changes as `--variant` takes them; default: the default preset; refCap
 * 0: none; sigmaCache 'on' reads and writes the σ_max cache in NAFLOW_CACHE_DIR, 'off' (default) leaves
 * it alone, so the first run includes σ_max's estimation). NAFLOW_NATIVE=0 in the environment measures
 * the tfjs-only path.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, shutdownBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { runCascade } from '../src/naflow/cascade.js';
import { resolveVariant } from '../src/naflow/variant.js';
import { prepareImage } from '../src/image/preprocess.js';
import { readNpy, npyToFloat32 } from '../src/node/npy-file.js';

const [file, inputFile, mode = 'paper', threadsArg = '1', runsArg = '3', refCapArg = '0', variantArg = 'default', cacheArg = 'off'] = process.argv.slice(2);
const variant = resolveVariant(variantArg);
await initBackend({ backend: 'wasm', threads: Number(threadsArg) });
const model = await loadModel(file, { sigmaCache: cacheArg === 'on' });
let x: tf.Tensor;
if (inputFile.endsWith('.npy')) {
  const a = readNpy(inputFile);
  x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(a), a.shape as [number, number, number, number]), [0, 2, 3, 1]));
} else x = (await prepareImage(model, inputFile)).tensor;
const runs = Number(runsArg);
const times: number[] = [];
let first = 0;
let last: ReturnType<typeof runCascade> | undefined;
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  last = runCascade(model, x, { mode: mode as 'paper' | 'reference', variant });
  if (i === 0) first = performance.now() - t0;
  if (i > 0 || runs === 0) times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const solves = last!.layers.flatMap((l) => l.solver ?? []).filter((s) => s.method === 'lsmr' && s.iterations > 0);
const res = solves.map((s) => s.relResidual).sort((a, b) => a - b);
let maxMapDiff: number | null = null;
if (Number(refCapArg) > 0 && mode === 'paper') {
  const ref = runCascade(model, x, { mode: 'paper', variant: { ...variant, maxIter: Number(refCapArg) } });
  maxMapDiff = 0;
  ref.layers.forEach((l, i) => {
    const m = last!.layers[i].map;
    let num = 0;
    let den = 0;
    for (let k = 0; k < m.length; k++) {
      num += (m[k] - l.map[k]) ** 2;
      den += l.map[k] ** 2;
    }
    if (den > 0) maxMapDiff = Math.max(maxMapDiff!, Math.sqrt(num / den));
  });
}
console.log(
  JSON.stringify({
    model: file,
    mode,
    variant: variantArg,
    layers: last!.layers.length,
    engine: last!.engine,
    median_ms: Math.round(times[Math.floor(times.length / 2)]),
    first_ms: Math.round(first),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    lsmr_solves: solves.length,
    lsmr_mean_iterations: solves.length ? Math.round((solves.reduce((s, v) => s + v.iterations, 0) / solves.length) * 10) / 10 : 0,
    lsmr_max_iterations: solves.length ? Math.max(...solves.map((s) => s.iterations)) : 0,
    residual_median: res.length ? Number(res[Math.floor(res.length / 2)].toFixed(3)) : null,
    residual_max: res.length ? Number(res[res.length - 1].toFixed(3)) : null,
    max_map_diff_to_ref_cap: maxMapDiff,
  }),
);
x.dispose();
model.dispose();
await shutdownBackend();
process.exit(0);
