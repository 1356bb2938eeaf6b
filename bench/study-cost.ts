/**
 * The faithfulness study's cost measure (docs/faithfulness-study.md, the tie-break): paper mode's
 * median seconds per image for each configuration, on the first images of a labels JSON, every
 * configuration in this one process and interleaved image by image (so a slow phase of the machine
 * hits all alike), after one warm-up explanation each.
 * Usage: node dist/bench/study-cost.js <model> <labels.json> <images> <method id>… [--card CARD]
 * Method ids as in naflow eval: naflow:<changes to the spec>, naflow:spec, naflow-ref.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/node/load.js';
import { prepareImage } from '../src/image/preprocess.js';
import { runCascade } from '../src/naflow/cascade.js';
import { resolveVariant } from '../src/naflow/variant.js';

const args = process.argv.slice(2);
const cardAt = args.indexOf('--card');
const card = cardAt >= 0 ? args.splice(cardAt, 2)[1] : undefined;
const [modelFile, labels, count, ...methods] = args;
await initBackend({ backend: 'wasm', threads: 1 });
const model = await loadModel(modelFile, { card, sigmaCache: false });
const list = JSON.parse(fs.readFileSync(labels, 'utf8')) as Array<{ file: string }>;
const files = list.slice(0, Number(count)).map((it) => path.resolve(path.dirname(labels), it.file));
const run = (method: string, x: Parameters<typeof runCascade>[1]) =>
  method === 'naflow-ref'
    ? runCascade(model, x, { mode: 'reference' })
    : runCascade(model, x, { mode: 'paper', variant: resolveVariant(method.replace(/^naflow:?/, '') || 'default') });
const times = new Map(methods.map((m) => [m, [] as number[]]));
for (const [k, file] of files.entries()) {
  const { tensor } = await prepareImage(model, file);
  for (const m of methods) {
    if (k === 0) run(m, tensor); // warm-up: σ_max, native sessions
    const t0 = performance.now();
    run(m, tensor);
    times.get(m)!.push(performance.now() - t0);
  }
  tensor.dispose();
}
for (const [m, t] of times) {
  t.sort((a, b) => a - b);
  console.log(JSON.stringify({ method: m, images: t.length, median_s: Number((t[Math.floor(t.length / 2)] / 1000).toFixed(3)) }));
}
model.dispose();
