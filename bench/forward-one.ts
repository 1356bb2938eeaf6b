/**
 * One benchmark cell in its own process (so peak RSS is this cell's): load a model, run the forward
 * pass 2 + N times, print one JSON line {model, backend, threads, median_ms, load_ms, peak_rss_mb}.
 * Usage: node dist/bench/forward-one.js <model> <wasm|cpu> <threads> [runs]
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, shutdownBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { forward } from '../src/engine/execute.js';

const [file, backend = 'wasm', threadsArg = '1', runsArg = '7'] = process.argv.slice(2);
const threads = Number(threadsArg);
const runs = Number(runsArg);
await initBackend({ backend: backend as 'wasm' | 'cpu', threads });
const t0 = performance.now();
const model = await loadModel(file);
model.prepareAll();
const loadMs = performance.now() - t0;
const shape = model.inputs[0].shape.map((d) => (d < 0 ? 1 : d));
const x = tf.randomUniform(shape, 0, 1, 'float32', 1);
const times: number[] = [];
for (let i = 0; i < runs + 2; i++) {
  const s = performance.now();
  const rec = forward(model, x);
  rec.outputs.forEach((o) => o.dataSync());
  rec.dispose();
  if (i >= 2) times.push(performance.now() - s);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  JSON.stringify({
    model: file,
    backend,
    threads,
    median_ms: Math.round(median * 10) / 10,
    load_ms: Math.round(loadMs),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
x.dispose();
model.dispose();
await shutdownBackend();
process.exit(0);
