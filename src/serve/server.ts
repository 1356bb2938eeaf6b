/**
 * `naflow serve`: a local web app over Node's `http` module. Upload an image, pick a model, mode and
 * baselines, watch the progress live (server-sent events) and see the same viewer as report.html; download
 * the report and the raw maps.
 *
 * Routes (nothing else; every other path is 404, a path with `..`, a backslash or an encoded `.`, `/` or
 * `\` is 400 before any routing):
 *   GET  /                           the app (one page: inline style and script, the report's viewer)
 *   GET  /api/models                 [{ id, name, kind }]
 *   POST /api/explain?model=&mode=&compare=&class=   raw image body (PNG, JPEG or WebP) → 202 { id, position }
 *   GET  /api/jobs/:id               the job's state
 *   GET  /api/jobs/:id/events        server-sent events: the state on every change until done or error
 *   GET  /api/jobs/:id/data.json     the viewer's data
 *   GET  /api/jobs/:id/report.html   the self-contained report (download)
 *   GET  /api/jobs/:id/maps.zip      flow.json and the raw .npy maps (download)
 *
 * Limits: uploads over `maxUploadBytes` → 413; a body that is not a PNG, JPEG or WebP (by its magic bytes,
 * and decodable) → 415; more than `maxQueue` waiting jobs → 503. Explanations run in `concurrency` worker
 * threads (default 1), the others wait in a FIFO queue and see their position. Bound to loopback, requests
 * whose Host header is not a loopback name are refused (403: DNS rebinding).
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import type { NaflowMode } from '../naflow/cascade.js';
import { listMethods } from '../methods/index.js';
import type { BackendName } from '../engine/backend.js';
import type { ViewerData } from '../viewer/data.js';
import { renderReport } from '../viewer/report.js';
import type { JobRequest } from './job.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker.js';
import { appHtml, APP_CSP } from './app.js';
import { isInputError } from '../util/errors.js';

export interface ServeModel {
  /** URL-safe id */
  id: string;
  name: string;
  file: string;
  card?: string;
  kind: 'bundled' | 'registered';
}

export interface ServeOptions {
  port?: number;
  host?: string;
  models: ServeModel[];
  /** default 10 MB */
  maxUploadBytes?: number;
  /** largest decoded image, pixels (default 40 M) */
  maxPixels?: number;
  /** explanations at once (worker threads; default 1) */
  concurrency?: number;
  /** jobs allowed to wait (default 8) */
  maxQueue?: number;
  /** finished jobs kept for download (default 32; older ones are forgotten) */
  keepJobs?: number;
  backend?: BackendName;
  threads?: number;
  /** log lines (default: none) */
  log?: (line: string) => void;
}

type Status = 'queued' | 'running' | 'done' | 'error';

interface Job {
  id: string;
  status: Status;
  position: number;
  model: ServeModel;
  request: JobRequest;
  progress: { stage: string; done: number; total: number; layer?: string } | null;
  message?: string;
  data?: string;
  zip?: Uint8Array;
  title?: string;
  listeners: Set<http.ServerResponse>;
  created: number;
}

export interface RunningServer {
  url: string;
  port: number;
  server: http.Server;
  /** stop accepting, end the event streams, stop the workers */
  close(): Promise<void>;
  /** live tensors in each worker after its last job (for leak checks) */
  workerTensors(): number[];
}

const MODES: readonly NaflowMode[] = ['paper', 'reference'];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** What the first bytes say the upload is (PNG, JPEG, WebP) or null. */
export function sniffImage(b: Uint8Array): 'image/png' | 'image/jpeg' | 'image/webp' | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') return 'image/webp';
  return null;
}

/**
 * Why a raw request path is refused (400), or null: `..` or `.` segments, backslashes, NUL, or percent-
 * encoded dots, slashes and backslashes (so no decoding can make a traversal out of it).
 */
export function badPath(rawPath: string): string | null {
  if (!rawPath.startsWith('/')) return 'the path must start with /';
  if (/%(2e|2f|5c|00)/i.test(rawPath)) return 'encoded dots, slashes and NUL are not allowed in paths';
  if (/[\\\0]/.test(rawPath)) return 'backslashes are not allowed in paths';
  if (rawPath.split('/').some((s) => s === '..' || s === '.')) return "'.' and '..' are not allowed in paths";
  return null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message, status }, headers);
}

/** Start the server; resolves once it listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const maxUpload = options.maxUploadBytes ?? 10 * 1024 * 1024;
  const maxPixels = options.maxPixels ?? 40_000_000;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const maxQueue = Math.max(0, options.maxQueue ?? 8);
  const keepJobs = Math.max(1, options.keepJobs ?? 32);
  const log = options.log ?? (() => {});
  const loopback = LOOPBACK_HOSTS.has(host);
  if (!options.models.length) throw new Error('naflow serve: no model to serve');

  const jobs = new Map<string, Job>();
  const waiting: Job[] = [];
  const idle: WorkerSlot[] = [];
  const slots: WorkerSlot[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let closing = false;

  // ---- worker threads ----
  interface WorkerSlot {
    worker: Worker;
    job: Job | null;
    tensors: number;
  }
  const workerInit: WorkerInit = { backend: options.backend, threads: options.threads };
  function spawn(): WorkerSlot {
    const slot: WorkerSlot = { worker: new Worker(new URL('./worker.js', import.meta.url), { workerData: workerInit }), job: null, tensors: 0 };
    slot.worker.on('message', (m: FromWorker) => onWorkerMessage(slot, m));
    slot.worker.on('error', (e) => {
      log(`worker error: ${e.message}`);
      if (slot.job) finish(slot.job, 'error', `the explanation failed: ${e.message}`);
      slot.job = null;
    });
    slot.worker.on('exit', (code) => {
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      const k = idle.indexOf(slot);
      if (k >= 0) idle.splice(k, 1);
      if (slot.job) finish(slot.job, 'error', `the explanation stopped (worker exit ${code}; out of memory?)`);
      slot.job = null;
      if (!closing) {
        // replace it
        const fresh = spawn();
        slots.push(fresh);
        idle.push(fresh);
        pump();
      }
    });
    return slot;
  }
  for (let i = 0; i < concurrency; i++) {
    const s = spawn();
    slots.push(s);
    idle.push(s);
  }

  function onWorkerMessage(slot: WorkerSlot, m: FromWorker): void {
    if (m.type === 'ready') return;
    if (m.type === 'error' && !m.id) {
      log(`worker: ${m.message}`);
      return;
    }
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    if (m.type === 'progress') {
      job.progress = { stage: m.stage, done: m.done, total: m.total, layer: m.layer };
      broadcast(job);
      return;
    }
    slot.job = null;
    idle.push(slot);
    if (m.type === 'done') {
      slot.tensors = m.tensors;
      job.data = JSON.stringify(m.data);
      job.title = (m.data as ViewerData).title;
      job.zip = m.zip;
      finish(job, 'done');
    } else finish(job, 'error', m.input ? m.message : `internal error: ${m.message}`); // the user's input (4xx-like) or a naflow bug
    pump();
  }

  function finish(job: Job, status: 'done' | 'error', message?: string): void {
    job.status = status;
    job.position = 0;
    if (message) job.message = message;
    log(`job ${job.id}: ${status}${message ? ` (${message})` : ''}`);
    broadcast(job);
    for (const res of job.listeners) res.end();
    job.listeners.clear();
    // forget the oldest finished jobs beyond keepJobs
    const finished = [...jobs.values()].filter((j) => j.status === 'done' || j.status === 'error');
    for (const j of finished.slice(0, Math.max(0, finished.length - keepJobs))) jobs.delete(j.id);
  }

  function pump(): void {
    while (idle.length && waiting.length && !closing) {
      const slot = idle.shift()!;
      const job = waiting.shift()!;
      job.status = 'running';
      job.position = 0;
      slot.job = job;
      const msg: ToWorker = { type: 'job', id: job.id, modelFile: job.model.file, modelName: job.model.name, card: job.model.card, request: job.request };
      slot.worker.postMessage(msg);
      broadcast(job);
    }
    waiting.forEach((j, i) => {
      if (j.position !== i + 1) {
        j.position = i + 1;
        broadcast(j);
      }
    });
  }

  const stateOf = (j: Job) => ({
    id: j.id,
    status: j.status,
    position: j.position,
    model: j.model.id,
    progress: j.progress,
    ...(j.message ? { message: j.message } : {}),
    ...(j.status === 'done' ? { links: { data: `/api/jobs/${j.id}/data.json`, report: `/api/jobs/${j.id}/report.html`, maps: `/api/jobs/${j.id}/maps.zip` } } : {}),
  });

  function broadcast(job: Job): void {
    const line = `data: ${JSON.stringify(stateOf(job))}\n\n`;
    for (const res of job.listeners) res.write(line);
  }

  // ---- request handling ----
  function readBody(req: http.IncomingMessage): Promise<Uint8Array> {
    const declared = Number(req.headers['content-length']);
    const tooBig = () => new HttpError(413, `the upload is over the limit of ${(maxUpload / 1024 / 1024).toFixed(1)} MB`);
    if (Number.isFinite(declared) && declared > maxUpload) return Promise.reject(tooBig());
    // events rather than for-await: leaving a for-await loop early would destroy the socket before the 413
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      const onData = (c: Uint8Array) => {
        size += c.length;
        if (size > maxUpload) {
          req.off('data', onData);
          chunks.length = 0;
          reject(tooBig());
        } else chunks.push(c);
      };
      req.on('data', onData);
      req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
      req.on('error', reject);
    });
  }

  function parseExplainQuery(q: URLSearchParams): { model: ServeModel; mode: NaflowMode; compare: string[]; classIndex?: number; name: string } {
    const modelId = q.get('model') ?? options.models[0].id;
    const model = options.models.find((m) => m.id === modelId);
    if (!model) throw new HttpError(400, `unknown model '${modelId}' (known: ${options.models.map((m) => m.id).join(', ')})`);
    const mode = (q.get('mode') ?? 'paper') as NaflowMode;
    if (!MODES.includes(mode)) throw new HttpError(400, `mode must be 'paper' or 'reference', got '${mode}'`);
    const compare = (q.get('compare') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const known = listMethods({ comparable: true }).map((m) => m.id);
    const bad = compare.filter((c) => !known.includes(c));
    if (bad.length) throw new HttpError(400, `unknown compare method ${bad.map((b) => `'${b}'`).join(', ')} (known: ${known.join(', ')})`);
    const cls = q.get('class');
    let classIndex: number | undefined;
    if (cls !== null && cls !== '') {
      classIndex = Number(cls);
      if (!Number.isInteger(classIndex) || classIndex < 0) throw new HttpError(400, `class must be an integer ≥ 0, got '${cls}'`);
    }
    const name = (q.get('name') ?? 'upload').replace(/[^\w.\- ]+/g, '_').slice(0, 80) || 'upload';
    return { model, mode, compare: [...new Set(compare)], classIndex, name };
  }

  async function explainRoute(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): Promise<void> {
    // another site's page may post here (a "simple" cross-origin request) only with a form or text type,
    // or none: all refused. The image types need a CORS preflight, which this server never grants.
    const origin = req.headers.origin;
    if (origin && origin !== 'null' && new URL(origin).host !== req.headers.host) throw new HttpError(403, `cross-origin upload from ${origin} refused`);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!['image/png', 'image/jpeg', 'image/webp', 'application/octet-stream'].includes(type))
      throw new HttpError(415, `uploads must be PNG, JPEG or WebP images sent with their Content-Type (${type ? `${type} refused` : 'none given'})`);
    const params = parseExplainQuery(q);
    const body = await readBody(req);
    if (!body.length) throw new HttpError(400, 'empty upload: send the image as the request body');
    const kind = sniffImage(body);
    if (!kind) throw new HttpError(415, 'not a PNG, JPEG or WebP image (judged by its first bytes)');
    try {
      const meta = await sharp(body, { limitInputPixels: maxPixels }).metadata();
      if (!meta.width || !meta.height) throw new Error('no size');
      if (meta.width * meta.height > maxPixels) throw new HttpError(413, `the image has ${meta.width}×${meta.height} pixels, over the limit of ${maxPixels}`);
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(415, `cannot decode the ${kind.slice(6).toUpperCase()} image: ${(e as Error).message}`);
    }
    if (!idle.length && waiting.length >= maxQueue) throw new HttpError(503, `the queue is full (${waiting.length} explanations waiting): try again shortly`, { 'Retry-After': '10' });
    const job: Job = {
      id: crypto.randomBytes(8).toString('hex'),
      status: 'queued',
      position: waiting.length + 1,
      model: params.model,
      request: { image: body, imageName: params.name, mode: params.mode, compare: params.compare, classIndex: params.classIndex },
      progress: null,
      listeners: new Set(),
      created: Date.now(),
    };
    jobs.set(job.id, job);
    waiting.push(job);
    log(`job ${job.id}: ${params.model.id} ${params.mode}${params.compare.length ? ` + ${params.compare.join(',')}` : ''} on ${params.name} (${body.length} bytes)`);
    sendJson(res, 202, { ...stateOf(job), events: `/api/jobs/${job.id}/events` }, { Location: `/api/jobs/${job.id}` });
    pump();
  }

  function jobRoute(req: http.IncomingMessage, res: http.ServerResponse, id: string, what: string): void {
    const job = jobs.get(id);
    if (!job) throw new HttpError(404, `no job '${id}' (finished jobs are kept for the last ${keepJobs} explanations)`);
    if (what === '') return sendJson(res, 200, stateOf(job));
    if (what === 'events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.write(`retry: 2000\ndata: ${JSON.stringify(stateOf(job))}\n\n`);
      if (job.status === 'done' || job.status === 'error') return void res.end();
      job.listeners.add(res);
      res.on('close', () => job.listeners.delete(res));
      return;
    }
    if (job.status !== 'done') throw new HttpError(409, `job '${id}' is ${job.status}${job.message ? `: ${job.message}` : ''}`);
    const stem = `naflow-${job.request.imageName.replace(/\.[^.]+$/, '').replace(/[^\w.-]+/g, '_')}`;
    if (what === 'data.json') {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(job.data!), 'Cache-Control': 'no-store' });
      return void res.end(job.data);
    }
    if (what === 'report.html') {
      const html = renderReport(JSON.parse(job.data!) as ViewerData);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html), 'Content-Disposition': `attachment; filename="${stem}.html"`, 'Cache-Control': 'no-store' });
      return void res.end(html);
    }
    if (what === 'maps.zip') {
      res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': job.zip!.length, 'Content-Disposition': `attachment; filename="${stem}-maps.zip"`, 'Cache-Control': 'no-store' });
      return void res.end(job.zip);
    }
    throw new HttpError(404, 'not found');
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const problem = badPath(rawPath);
    if (problem) throw new HttpError(400, problem);
    if (loopback) {
      const h = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      if (!LOOPBACK_HOSTS.has(h)) throw new HttpError(403, `this server answers only requests for the loopback host (Host: ${req.headers.host ?? 'none'})`);
    }
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';
    const only = (...m: string[]) => {
      if (!m.includes(method)) throw new HttpError(405, `${method} is not allowed here`, { Allow: m.join(', ') });
    };
    if (rawPath === '/' || rawPath === '/index.html') {
      only('GET', 'HEAD');
      const html = appHtml();
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html), 'Content-Security-Policy': APP_CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
      return void res.end(method === 'HEAD' ? undefined : html);
    }
    if (rawPath === '/api/models') {
      only('GET');
      return sendJson(res, 200, options.models.map((m) => ({ id: m.id, name: m.name, kind: m.kind })));
    }
    if (rawPath === '/api/explain') {
      only('POST');
      return explainRoute(req, res, query);
    }
    const m = /^\/api\/jobs\/([0-9a-f]{16})(?:\/(events|data\.json|report\.html|maps\.zip))?$/.exec(rawPath);
    if (m) {
      only('GET');
      return jobRoute(req, res, m[1], m[2] ?? '');
    }
    throw new HttpError(404, 'not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // the status follows from the error: a refused request, the user's input (400) or a naflow bug (500)
      const status = e instanceof HttpError ? e.status : isInputError(e) ? 400 : 500;
      const message = status === 500 ? `internal error: ${(e as Error).message}` : (e as Error).message;
      if (status === 500) log(`error on ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      if (res.headersSent) return void res.end();
      // a refused upload: answer, then stop reading it (drain a little so the client sees the answer)
      const uploading = req.method === 'POST' && !req.readableEnded;
      sendError(res, status, message, { ...(e instanceof HttpError ? e.headers : {}), ...(uploading ? { Connection: 'close' } : {}) });
      if (uploading) {
        let drained = 0;
        req.on('data', (c: Buffer) => {
          drained += c.length;
          if (drained > 2 * maxUpload) req.destroy();
        });
        req.resume();
      }
    });
  });
  server.requestTimeout = 120_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as import('node:net').AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${addr.port}/`,
    port: addr.port,
    server,
    workerTensors: () => slots.map((s) => s.tensors),
    close: async () => {
      closing = true;
      for (const j of jobs.values()) {
        for (const res of j.listeners) res.end();
        j.listeners.clear();
      }
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await Promise.all(slots.map((s) => s.worker.terminate()));
      await closed;
    },
  };
}
