/**
 * The job queue and worker pool of `naflow serve`: explanations run in `concurrency` worker threads
 * (./worker.ts), the others wait in a FIFO queue and see their position. Each job's state goes to its
 * event-stream listeners on every change; finished jobs are kept for download up to `keepJobs`.
 */
import type http from 'node:http';
import { Worker } from 'node:worker_threads';
import type { BackendName } from '../engine/backend.js';
import type { ViewerData } from '../viewer/data.js';
import type { JobRequest } from './job.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker.js';
import type { ServeModel } from './server.js';
import { redactPaths } from './access.js';

const NO_BYTES = new Uint8Array(0);

export type JobStatus = 'queued' | 'running' | 'done' | 'error';

export interface Job {
  id: string;
  status: JobStatus;
  /** place in the queue (1 = next), 0 once running or finished */
  position: number;
  model: ServeModel;
  request: JobRequest;
  progress: { stage: string; done: number; total: number; layer?: string } | null;
  message?: string;
  /** the viewer's data, as JSON */
  data?: string;
  zip?: Uint8Array;
  title?: string;
  /** open event streams */
  listeners: Set<http.ServerResponse>;
  created: number;
}

export interface JobQueueOptions {
  concurrency: number;
  maxQueue: number;
  keepJobs: number;
  backend?: BackendName;
  threads?: number;
  log: (line: string) => void;
}

interface WorkerSlot {
  worker: Worker;
  job: Job | null;
  /** live tensors in the worker after its last job */
  tensors: number;
}

/** The job's state as the API shows it. */
export function jobState(j: Job) {
  return {
    id: j.id,
    status: j.status,
    position: j.position,
    model: j.model.id,
    progress: j.progress,
    ...(j.message ? { message: j.message } : {}),
    ...(j.status === 'done'
      ? { links: { data: `/api/jobs/${j.id}/data.json`, report: `/api/jobs/${j.id}/report.html`, maps: `/api/jobs/${j.id}/maps.zip` } }
      : {}),
  };
}

export class JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private readonly idle: WorkerSlot[] = [];
  private readonly slots: WorkerSlot[] = [];
  private readonly workerInit: WorkerInit;
  private closing = false;

  constructor(private readonly options: JobQueueOptions) {
    this.workerInit = { backend: options.backend, threads: options.threads };
    for (let i = 0; i < options.concurrency; i++) this.addWorker();
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Uploaded bytes the server holds: only waiting jobs keep theirs (dropped once a worker has them). */
  uploadBytesHeld(): number {
    let n = 0;
    for (const j of this.jobs.values()) n += j.request.image.length;
    return n;
  }

  /** Jobs waiting for a worker. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Whether a new job must be refused: no worker is free and `maxQueue` jobs already wait. */
  isFull(): boolean {
    return !this.idle.length && this.waiting.length >= this.options.maxQueue;
  }

  /** Queue a job (last in line); it starts at the next `dispatch`. */
  enqueue(job: Job): void {
    this.jobs.set(job.id, job);
    this.waiting.push(job);
  }

  /** Hand waiting jobs to idle workers and tell the others their new place in the queue. */
  dispatch(): void {
    while (this.idle.length && this.waiting.length && !this.closing) {
      const slot = this.idle.shift()!;
      const job = this.waiting.shift()!;
      job.status = 'running';
      job.position = 0;
      slot.job = job;
      const msg: ToWorker = {
        type: 'job',
        id: job.id,
        modelFile: job.model.file,
        modelName: job.model.name,
        card: job.model.card,
        cardFields: job.model.cardFields,
        request: job.request,
      };
      slot.worker.postMessage(msg);
      // the worker has its copy: the upload is not kept here (finished jobs keep only their results)
      job.request = { ...job.request, image: NO_BYTES };
      this.broadcast(job);
    }
    this.waiting.forEach((j, i) => {
      if (j.position !== i + 1) {
        j.position = i + 1;
        this.broadcast(j);
      }
    });
  }

  workerTensors(): number[] {
    return this.slots.map((s) => s.tensors);
  }

  /** Start no more jobs and end every event stream. */
  stop(): void {
    this.closing = true;
    for (const j of this.jobs.values()) {
      for (const res of j.listeners) res.end();
      j.listeners.clear();
    }
  }

  /** Stop the worker threads. */
  async terminateWorkers(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private addWorker(): void {
    const slot = this.spawn();
    this.slots.push(slot);
    this.idle.push(slot);
  }

  private spawn(): WorkerSlot {
    const slot: WorkerSlot = { worker: new Worker(new URL('./worker.js', import.meta.url), { workerData: this.workerInit }), job: null, tensors: 0 };
    slot.worker.on('message', (m: FromWorker) => this.onWorkerMessage(slot, m));
    slot.worker.on('error', (e) => {
      this.options.log(`worker error: ${e.message}`);
      if (slot.job) this.finish(slot.job, 'error', `the explanation failed: ${e.message}`);
      slot.job = null;
    });
    slot.worker.on('exit', (code) => this.onWorkerExit(slot, code));
    return slot;
  }

  private onWorkerExit(slot: WorkerSlot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const k = this.idle.indexOf(slot);
    if (k >= 0) this.idle.splice(k, 1);
    if (slot.job) this.finish(slot.job, 'error', `the explanation stopped (worker exit ${code}; out of memory?)`);
    slot.job = null;
    if (!this.closing) {
      // replace it
      this.addWorker();
      this.dispatch();
    }
  }

  private onWorkerMessage(slot: WorkerSlot, m: FromWorker): void {
    if (m.type === 'ready') return;
    if (m.type === 'error' && !m.id) {
      this.options.log(`worker: ${m.message}`);
      return;
    }
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    if (m.type === 'progress') {
      job.progress = { stage: m.stage, done: m.done, total: m.total, layer: m.layer };
      this.broadcast(job);
      return;
    }
    slot.job = null;
    this.idle.push(slot);
    if (m.type === 'done') {
      slot.tensors = m.tensors;
      job.data = JSON.stringify(m.data);
      job.title = (m.data as ViewerData).title;
      job.zip = m.zip;
      this.finish(job, 'done');
    } else this.finish(job, 'error', m.input ? m.message : `internal error: ${m.message}`); // the user's input (4xx-like) or a naflow bug
    this.dispatch();
  }

  private finish(job: Job, status: 'done' | 'error', message?: string): void {
    job.status = status;
    job.position = 0;
    job.request = { ...job.request, image: NO_BYTES };
    // the client sees no server path (a model's folder, a temp file); the log keeps the full message
    if (message) job.message = redactPaths(message);
    this.options.log(`job ${job.id}: ${status}${message ? ` (${message})` : ''}`);
    this.broadcast(job);
    for (const res of job.listeners) res.end();
    job.listeners.clear();
    // forget the oldest finished jobs beyond keepJobs
    const finished = [...this.jobs.values()].filter((j) => j.status === 'done' || j.status === 'error');
    for (const j of finished.slice(0, Math.max(0, finished.length - this.options.keepJobs))) this.jobs.delete(j.id);
  }

  private broadcast(job: Job): void {
    const line = `data: ${JSON.stringify(jobState(job))}\n\n`;
    for (const res of job.listeners) res.write(line);
  }
}
