/**
 * One explain benchmark cell in its own process: load a model, run the NAFlow cascade in the given
 * mode (1 warm-up + N timed runs), print one JSON line with the median time, peak RSS and the LSMR
 * statistics (mean iterations, median and max relative residual).
 * Usage: node dist/bench/explain-one.js <model> <image.png|input.npy (NCHW)> <paper|reference> [threads] [runs]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, shutdownBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/import/load.js';
import { runCascade } from '../src/naflow/cascade.js';
import { prepareImage } from '../src/image/preprocess.js';
import { readNpy, npyToFloat32 } from '../src/util/npy.js';

const [file, inputFile, mode = 'paper', threadsArg = '1', runsArg = '3'] = process.argv.slice(2);
await initBackend({ backend: 'wasm', threads: Number(threadsArg) });
const model = await loadModel(file);
let x: tf.Tensor;
if (inputFile.endsWith('.npy')) {
  const a = readNpy(inputFile);
  x = tf.tidy(() => tf.transpose(tf.tensor4d(npyToFloat32(a), a.shape as [number, number, number, number]), [0, 2, 3, 1]));
} else x = (await prepareImage(model, inputFile)).tensor;
const runs = Number(runsArg);
const times: number[] = [];
let last: ReturnType<typeof runCascade> | undefined;
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  last = runCascade(model, x, { mode: mode as 'paper' | 'reference' });
  if (i > 0 || runs === 0) times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const solves = last!.layers.flatMap((l) => l.solver ?? []).filter((s) => s.method === 'lsmr' && s.iterations > 0);
const res = solves.map((s) => s.relResidual).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    model: file,
    mode,
    layers: last!.layers.length,
    median_ms: Math.round(times[Math.floor(times.length / 2)]),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    lsmr_solves: solves.length,
    lsmr_mean_iterations: solves.length ? Math.round((solves.reduce((s, v) => s + v.iterations, 0) / solves.length) * 10) / 10 : 0,
    lsmr_max_iterations: solves.length ? Math.max(...solves.map((s) => s.iterations)) : 0,
    residual_median: res.length ? Number(res[Math.floor(res.length / 2)].toFixed(3)) : null,
    residual_max: res.length ? Number(res[res.length - 1].toFixed(3)) : null,
  }),
);
x.dispose();
model.dispose();
await shutdownBackend();
process.exit(0);
