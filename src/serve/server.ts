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
 * Limits: uploads over `maxUploadBytes` or `maxPixels` → 413; a body that is not a PNG, JPEG or WebP (by its
 * magic bytes and header) → 415, one whose pixels do not decode (truncated) → 400; more than `maxQueue`
 * waiting jobs → 503. Explanations run in `concurrency` worker
 * threads (default 1), the others wait in a FIFO queue and see their position. Requests whose Host header
 * is not on the allow-list are refused (403: DNS rebinding), and with a token set, requests without it
 * (401); see ./access.ts.
 */
import { DEFAULT_WEB_DIR } from './web-app.js';
import http from 'node:http';
import type { BackendName } from '../engine/backend.js';
import { JobQueue } from './job-queue.js';
import { answerFailure, handleRequest, type RouteContext } from './routes.js';
import { TOKEN_PATTERN, hostAllowList } from './access.js';
import type { ModelCard } from '../model/card.js';

export { badPath } from './http-util.js';
export { sniffImage } from './routes.js';

export interface ServeModel {
  /** URL-safe id */
  id: string;
  name: string;
  file: string;
  card?: string;
  /** card fields given on the command line (--preprocess, --input-size, --layout) */
  cardFields?: Partial<ModelCard>;
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
  /** Host names answered beside the loopback names and the bound address (./access.ts) */
  allowHosts?: string[];
  /** require this token on every request (the CLI sets one whenever it listens off loopback) */
  token?: string;
  /** log lines (default: none) */
  log?: (line: string) => void;
  /** the in-browser app served under /web/ (default: dist/web, written by npm run build:web) */
  webDir?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  server: http.Server;
  /** stop accepting, end the event streams, stop the workers */
  close(): Promise<void>;
  /** live tensors in each worker after its last job (for leak checks) */
  workerTensors(): number[];
  /** uploaded bytes held: waiting jobs' images only (for the memory checks) */
  uploadBytesHeld(): number;
}

/** Start the server; resolves once it listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const keepJobs = Math.max(1, options.keepJobs ?? 32);
  const log = options.log ?? (() => {});
  if (!options.models.length) throw new Error('naflow serve: no model to serve');
  if (options.token !== undefined && !TOKEN_PATTERN.test(options.token)) throw new Error('naflow serve: the token must be 16 to 256 of A-Z a-z 0-9 . _ ~ -');

  const concurrency = Math.max(1, options.concurrency ?? 1);
  const maxQueue = Math.max(0, options.maxQueue ?? 8);
  const queue = new JobQueue({ concurrency, maxQueue, keepJobs, backend: options.backend, threads: options.threads, log });
  const ctx: RouteContext = {
    models: options.models,
    maxUpload: options.maxUploadBytes ?? 10 * 1024 * 1024,
    maxPixels: options.maxPixels ?? 40_000_000,
    keepJobs,
    allowedHosts: hostAllowList(host, options.allowHosts),
    auth: options.token === undefined ? undefined : { token: options.token, cookie: 'naflow-token' },
    queue,
    log,
    webDir: options.webDir ?? DEFAULT_WEB_DIR,
  };
  const server = http.createServer((req, res) => {
    handleRequest(ctx, req, res).catch((e: unknown) => answerFailure(ctx, req, res, e));
  });
  server.requestTimeout = 120_000;
  const sockets = new Set<import('node:net').Socket>();
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
  // the cookie is named by port once it is known: a browser shares a host's cookies between its ports
  if (ctx.auth) ctx.auth = { ...ctx.auth, cookie: `naflow-token-${addr.port}` };
  const urlHost = host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${addr.port}/`,
    port: addr.port,
    server,
    workerTensors: () => queue.workerTensors(),
    uploadBytesHeld: () => queue.uploadBytesHeld(),
    close: async () => {
      queue.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await queue.terminateWorkers();
      await closed;
    },
  };
}
