/**
 * naflow's Web Worker (bundled by `npm run build:web` into dist/web/naflow-worker.js): loads a model from
 * the bytes a page sends, predicts and explains there, so the page never freezes. It holds one model at
 * a time. The cascade runs synchronously, so a request cannot be interrupted from inside: to cancel, the
 * page terminates the worker and starts a new one (src/web/client.ts does), the only reliable way.
 */
import './backend.js';
import './decode-image.js';
import type { Model } from '../engine/model.js';
import { explain } from '../naflow/explain.js';
import { predict } from '../predict.js';
import { loadModel } from './load.js';
import type { WorkerExplainResult, WorkerModelInfo, WorkerReply, WorkerRequest } from './worker-protocol.js';

interface WorkerScope {
  onmessage: ((ev: { data: WorkerRequest }) => void) | null;
  postMessage(message: WorkerReply, transfer?: ArrayBuffer[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let model: Model | undefined;

/** A map's own buffer (a view into a larger one is copied), so it can be transferred. */
function ownBuffer(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

function loaded(): Model {
  if (!model) throw new Error('no model loaded in the worker: send the model files first');
  return model;
}

async function load(files: [string, ArrayBuffer][], main?: string): Promise<WorkerModelInfo> {
  model = undefined;
  model = await loadModel(Object.fromEntries(files), { main });
  const inputShape = model.graph.inputs[0]?.shape ?? null;
  return { name: main ?? files.find(([n]) => /\.onnx$|model\.json$/i.test(n))?.[0] ?? files[0][0], inputShape, hasLabels: !!model.card.labelList };
}

async function explainHere(req: Extract<WorkerRequest, { type: 'explain' }>): Promise<[WorkerExplainResult, ArrayBuffer[]]> {
  const r = await explain(loaded(), new Uint8Array(req.image), {
    mode: req.mode,
    classIndex: req.classIndex,
    onLayer: (done, total, layer) => scope.postMessage({ id: req.id, type: 'progress', done, total, layer }),
  });
  const layers = r.layers.map((l) => ({
    name: l.name,
    node: l.node,
    op: l.op,
    ...(l.sourceOp ? { sourceOp: l.sourceOp } : {}),
    shape: l.shape,
    kept: l.kept,
    solver: l.solver ?? null,
    map: ownBuffer(l.map),
  }));
  const image = r.image ? { data: Uint8Array.from(r.image.data), width: r.image.width, height: r.image.height } : null;
  const transfer = [...layers.map((l) => l.map.buffer as ArrayBuffer), ...(image ? [image.data.buffer as ArrayBuffer] : [])];
  return [{ mode: r.mode, decision: r.decision, elapsedMs: r.elapsedMs, layers, image }, transfer];
}

async function handle(req: WorkerRequest): Promise<void> {
  try {
    if (req.type === 'load') scope.postMessage({ id: req.id, type: 'done', value: await load(req.files, req.main) });
    else if (req.type === 'predict') {
      const p = await predict(loaded(), new Uint8Array(req.image), { top: req.top });
      scope.postMessage({ id: req.id, type: 'done', value: p.top });
    } else {
      const [value, transfer] = await explainHere(req);
      scope.postMessage({ id: req.id, type: 'done', value }, transfer);
    }
  } catch (e) {
    const err = e as Error;
    scope.postMessage({ id: req.id, type: 'error', name: err?.name ?? 'Error', message: err?.message ?? String(e) });
  }
}

// requests run one after another, in the order they came
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (ev) => {
  queue = queue.then(() => handle(ev.data));
};
