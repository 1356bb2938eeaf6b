/**
 * The `naflow serve` worker thread: starts its own tensor backend, loads models on first use (kept for
 * later jobs), runs one explanation at a time (./job.ts) and posts progress, the result or the error to
 * the server thread. The cascade is synchronous, so running it here keeps the HTTP server and the
 * progress stream live.
 */
import { parentPort, workerData } from 'node:worker_threads';
import '../node/register.js';
import { initBackendInfo, type BackendName } from '../engine/backend.js';
import { loadModel } from '../node/load.js';
import type { Model } from '../engine/model.js';
import { isInputError } from '../util/errors.js';
import { runExplainJob, liveTensors, type JobRequest } from './job.js';
import type { ModelCard } from '../model/card.js';

export interface WorkerInit {
  backend?: BackendName;
  threads?: number;
}

export type ToWorker = { type: 'job'; id: string; modelFile: string; modelName: string; card?: string; cardFields?: Partial<ModelCard>; request: JobRequest };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: string; stage: string; done: number; total: number; layer?: string }
  | { type: 'done'; id: string; data: unknown; zip: Uint8Array; tensors: number }
  | { type: 'error'; id: string; message: string; input: boolean };

const port = parentPort!;
const init = (workerData ?? {}) as WorkerInit;
const models = new Map<string, Promise<Model>>();
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

const ready = initBackendInfo({ backend: init.backend, threads: init.threads ?? 1 });

port.on('message', async (m: ToWorker) => {
  if (m.type !== 'job') return;
  try {
    await ready;
    let model = models.get(m.modelFile);
    if (!model) {
      model = loadModel(m.modelFile, { card: m.card, cardFields: m.cardFields });
      models.set(m.modelFile, model);
      model.catch(() => models.delete(m.modelFile));
    }
    const out = await runExplainJob(await model, m.modelName, m.request, (p) => post({ type: 'progress', id: m.id, ...p }));
    post({ type: 'done', id: m.id, data: out.data, zip: out.zip, tensors: liveTensors() }, [out.zip.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', id: m.id, message: e instanceof Error ? e.message : String(e), input: isInputError(e) });
  }
});

ready.then(
  () => post({ type: 'ready' }),
  (e) => post({ type: 'error', id: '', message: `backend: ${(e as Error).message}`, input: false }),
);
