/**
 * The page's side of naflow's Web Worker (src/web/worker.ts, dist/web/naflow-worker.js): a typed client
 * whose calls return a promise and a `cancel()`. Cancelling terminates the worker (the cascade runs
 * synchronously in it and cannot be interrupted otherwise); the next call starts a fresh worker and
 * sends the model again, so the client keeps the model's files (File objects are read anew each time).
 * This file needs no engine: the app's bundle (dist/web/naflow-client.js) is small.
 */
import type { NaflowMode } from '../naflow/cascade.js';
import type { Prediction } from '../predict.js';
import type { WebFile } from './dom.js';
import type { WorkerExplainResult, WorkerModelInfo, WorkerReply, WorkerRequest } from './worker-protocol.js';

export type { WorkerExplainResult, WorkerLayer, WorkerModelInfo } from './worker-protocol.js';

/** A call running in the worker: its answer, and a way to stop it. */
export interface WorkerTask<T> {
  promise: Promise<T>;
  /** stop now: the worker is terminated; the promise rejects with a CancelledError */
  cancel(): void;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** The model's files: File objects (a file input or a drop) or name → bytes. */
export type WorkerModelSource = WebFile | ArrayLike<WebFile> | Iterable<WebFile> | Record<string, Uint8Array | ArrayBuffer>;
/** An image: a File or encoded bytes. */
export type WorkerImage = WebFile | Uint8Array | ArrayBuffer;

export interface WorkerExplainOptions {
  mode?: NaflowMode;
  /** the explained class (default: the predicted one) */
  classIndex?: number;
  /** called after each layer of the cascade */
  onProgress?: (done: number, total: number, layer: string) => void;
}

interface WorkerLike {
  onmessage: ((ev: { data: WorkerReply }) => void) | null;
  onerror: ((ev: { message?: string }) => void) | null;
  postMessage(message: WorkerRequest, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}
type WorkerCtor = new (url: string | URL, options?: { type?: 'module' | 'classic'; name?: string }) => WorkerLike;

const isFile = (x: unknown): x is WebFile => typeof x === 'object' && x !== null && typeof (x as WebFile).arrayBuffer === 'function';

/** Fresh ArrayBuffers for the files (transferred to the worker, so the caller's bytes stay theirs). */
async function modelBuffers(source: WorkerModelSource): Promise<[string, ArrayBuffer][]> {
  if (isFile(source)) return [[source.name, await source.arrayBuffer()]];
  const files =
    Symbol.iterator in Object(source) ? [...(source as Iterable<WebFile>)] : 'length' in Object(source) ? Array.from(source as ArrayLike<WebFile>) : null;
  if (files) return Promise.all(files.map(async (f): Promise<[string, ArrayBuffer]> => [f.name, await f.arrayBuffer()]));
  return Object.entries(source as Record<string, Uint8Array | ArrayBuffer>).map(([n, b]) => [
    n,
    (b instanceof ArrayBuffer ? new Uint8Array(b) : b).slice().buffer,
  ]);
}

async function imageBuffer(image: WorkerImage): Promise<ArrayBuffer> {
  if (isFile(image)) return image.arrayBuffer();
  return (image instanceof ArrayBuffer ? new Uint8Array(image) : image).slice().buffer;
}

/** The worker bundle beside this one (dist/web/naflow-worker.js). */
export function defaultWorkerUrl(): URL {
  return new URL('./naflow-worker.js', import.meta.url);
}

/**
 * One model in a Web Worker. `setModel` then `predict`/`explain`, each cancellable; a cancelled or
 * failed worker is replaced on the next call.
 */
export class NaflowWorker {
  private worker: WorkerLike | undefined;
  private loaded: Promise<WorkerModelInfo> | undefined;
  private model: { source: WorkerModelSource; main?: string } | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; progress?: WorkerExplainOptions['onProgress'] }>();

  constructor(private readonly url: string | URL = defaultWorkerUrl()) {}

  /** The model to use from now on (loaded in the worker at the next call, or now with `load()`). */
  setModel(source: WorkerModelSource, main?: string): void {
    this.model = { source, main };
    this.loaded = undefined;
  }

  /** Load the model in the worker now; resolves to its facts. */
  load(): Promise<WorkerModelInfo> {
    if (!this.model) return Promise.reject(new Error('NaflowWorker: no model set (call setModel first)'));
    if (!this.loaded) {
      const { source, main } = this.model;
      this.loaded = modelBuffers(source).then((files) =>
        this.call<WorkerModelInfo>(
          { id: 0, type: 'load', files, main },
          files.map(([, b]) => b),
        ),
      );
      this.loaded.catch(() => (this.loaded = undefined));
    }
    return this.loaded;
  }

  /** The model's top `top` classes for an image. */
  predict(image: WorkerImage, top = 5): WorkerTask<Prediction[]> {
    return this.task(async () => {
      const bytes = await imageBuffer(image);
      return this.call<Prediction[]>({ id: 0, type: 'predict', image: bytes, top }, [bytes]);
    });
  }

  /** NAFlow's maps of an image at every layer (the maps' buffers are transferred from the worker). */
  explain(image: WorkerImage, options: WorkerExplainOptions = {}): WorkerTask<WorkerExplainResult> {
    return this.task(async () => {
      const bytes = await imageBuffer(image);
      const req: WorkerRequest = { id: 0, type: 'explain', image: bytes, mode: options.mode ?? 'reference', classIndex: options.classIndex };
      return this.call<WorkerExplainResult>(req, [bytes], options.onProgress);
    });
  }

  /** Terminate the worker: every pending call rejects with a CancelledError. */
  cancel(): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.loaded = undefined;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(new CancelledError());
  }

  private task<T>(run: () => Promise<T>): WorkerTask<T> {
    return { promise: this.load().then(run), cancel: () => this.cancel() };
  }

  private start(): WorkerLike {
    if (this.worker) return this.worker;
    const Ctor = (globalThis as unknown as { Worker?: WorkerCtor }).Worker;
    if (!Ctor) throw new Error('this environment has no Web Worker');
    const w = new Ctor(this.url, { type: 'module', name: 'naflow' });
    w.onmessage = (ev) => {
      const m = ev.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') p.progress?.(m.done, m.total, m.layer);
      else {
        this.pending.delete(m.id);
        if (m.type === 'done') p.resolve(m.value);
        else p.reject(Object.assign(new Error(m.message), { name: m.name }));
      }
    };
    w.onerror = (ev) => {
      // a worker that fails to start or throws outside a request: every pending call fails with it
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p.reject(new Error(`naflow worker: ${ev.message ?? 'failed'}`));
    };
    this.worker = w;
    return w;
  }

  private call<T>(req: WorkerRequest, transfer: ArrayBuffer[], progress?: WorkerExplainOptions['onProgress']): Promise<T> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, progress });
      w.postMessage({ ...req, id }, transfer);
    });
  }
}

/**
 * Explain an image in a fresh Web Worker: `const { promise, cancel } = explainInWorker(files, photo,
 * { mode: 'paper', onProgress })`. The worker is terminated when the task ends or is cancelled.
 */
export function explainInWorker(
  model: WorkerModelSource,
  image: WorkerImage,
  options: WorkerExplainOptions & { workerUrl?: string | URL } = {},
): WorkerTask<WorkerExplainResult> {
  const w = new NaflowWorker(options.workerUrl);
  w.setModel(model);
  const task = w.explain(image, options);
  const promise = task.promise.finally(() => w.cancel());
  return { promise, cancel: () => w.cancel() };
}
