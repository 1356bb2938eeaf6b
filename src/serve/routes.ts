/**
 * The routes of `naflow serve` (listed in ./server.ts): the request checks (path, Host header, method),
 * the upload route that queues an explanation, the job routes (state, event stream, downloads), and the
 * answer to a failed request.
 */
import type http from 'node:http';
import crypto from 'node:crypto';
import sharp from 'sharp';
import type { NaflowMode } from '../naflow/cascade.js';
import { listMethods } from '../methods/index.js';
import type { ViewerData } from '../viewer/data.js';
import { renderReport } from '../viewer/report.js';
import { isInputError } from '../util/errors.js';
import { appHtml, APP_CSP } from './app.js';
import { HttpError, badPath, readBody, sendError, sendJson } from './http-util.js';
import { jobState, type Job, type JobQueue } from './job-queue.js';
import type { ServeModel } from './server.js';
import { checkHost, checkToken, redactPaths, tokenCookie, type TokenCheck } from './access.js';
import { webAppFile } from './web-app.js';

const MODES: readonly NaflowMode[] = ['paper', 'reference'];

/** What the routes need from the running server. */
export interface RouteContext {
  models: ServeModel[];
  maxUpload: number;
  maxPixels: number;
  keepJobs: number;
  /** the Host names answered (./access.ts); requests for any other are refused (DNS rebinding) */
  allowedHosts: ReadonlySet<string>;
  /** when set, every request must carry this token */
  auth?: TokenCheck;
  queue: JobQueue;
  log: (line: string) => void;
  /** the in-browser app's folder (dist/web), served under /web/ */
  webDir: string;
}

/** What the first bytes say the upload is (PNG, JPEG, WebP) or null. */
export function sniffImage(b: Uint8Array): 'image/png' | 'image/jpeg' | 'image/webp' | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a)
    return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') return 'image/webp';
  return null;
}

/** Route one request; a refusal is thrown (an HttpError, or an input error for 400). */
export async function handleRequest(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const problem = badPath(rawPath);
  if (problem) throw new HttpError(400, problem);
  checkHost(ctx.allowedHosts, req.headers.host);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const method = req.method ?? 'GET';
  if (ctx.auth && checkToken(ctx.auth, req, rawPath, query)) {
    // the page opened with its token: keep it in a cookie and drop it from the address bar
    res.writeHead(303, { Location: '/', 'Set-Cookie': tokenCookie(ctx.auth), 'Cache-Control': 'no-store', 'Content-Length': 0 });
    return void res.end();
  }
  const only = (...m: string[]) => {
    if (!m.includes(method)) throw new HttpError(405, `${method} is not allowed here`, { Allow: m.join(', ') });
  };
  if (rawPath === '/' || rawPath === '/index.html') {
    only('GET', 'HEAD');
    const html = appHtml();
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(html),
      'Content-Security-Policy': APP_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    return void res.end(method === 'HEAD' ? undefined : html);
  }
  if (rawPath === '/web') {
    only('GET', 'HEAD');
    res.writeHead(301, { Location: '/web/', 'Content-Length': 0 });
    return void res.end();
  }
  if (rawPath.startsWith('/web/')) {
    only('GET', 'HEAD');
    const { body, type } = webAppFile(ctx.webDir, rawPath.slice('/web/'.length));
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': body.length,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    return void res.end(method === 'HEAD' ? undefined : body);
  }
  if (rawPath === '/api/models') {
    only('GET');
    return sendJson(
      res,
      200,
      ctx.models.map((m) => ({ id: m.id, name: m.name, kind: m.kind })),
    );
  }
  if (rawPath === '/api/explain') {
    only('POST');
    return explainRoute(ctx, req, res, query);
  }
  const m = /^\/api\/jobs\/([0-9a-f]{16})(?:\/(events|data\.json|report\.html|maps\.zip))?$/.exec(rawPath);
  if (m) {
    only('GET');
    return jobRoute(ctx, res, m[1], m[2] ?? '');
  }
  throw new HttpError(404, 'not found');
}

/** Answer a request that `handleRequest` refused or failed on. */
export function answerFailure(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse, e: unknown): void {
  // the status follows from the error: a refused request, the user's input (400) or a naflow bug (500)
  const status = e instanceof HttpError ? e.status : isInputError(e) ? 400 : 500;
  // the client sees no server path (the log keeps the full message)
  const message = redactPaths(status === 500 ? `internal error: ${(e as Error).message}` : (e as Error).message);
  if (status === 500) ctx.log(`error on ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
  if (res.headersSent) return void res.end();
  // a refused upload: answer, then stop reading it (drain a little so the client sees the answer)
  const uploading = req.method === 'POST' && !req.readableEnded;
  sendError(res, status, message, { ...(e instanceof HttpError ? e.headers : {}), ...(uploading ? { Connection: 'close' } : {}) });
  if (uploading) {
    let drained = 0;
    req.on('data', (c: Buffer) => {
      drained += c.length;
      if (drained > 2 * ctx.maxUpload) req.destroy();
    });
    req.resume();
  }
}

function parseExplainQuery(
  models: ServeModel[],
  q: URLSearchParams,
): { model: ServeModel; mode: NaflowMode; compare: string[]; classIndex?: number; name: string } {
  const modelId = q.get('model') ?? models[0].id;
  const model = models.find((m) => m.id === modelId);
  if (!model) throw new HttpError(400, `unknown model '${modelId}' (known: ${models.map((m) => m.id).join(', ')})`);
  const mode = (q.get('mode') ?? 'paper') as NaflowMode;
  if (!MODES.includes(mode)) throw new HttpError(400, `mode must be 'paper' or 'reference', got '${mode}'`);
  const compare = (q.get('compare') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
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

/**
 * Refuse an image whose header does not parse (415), one over `maxPixels` (413, read from the header
 * before any decoding) or one whose pixels do not decode, e.g. a truncated file (400). The pixels are
 * decoded here, at upload, with the job's strictness (failOn 'error'), shrunk on the fly so that the check
 * holds no full-size copy.
 */
async function checkDecodes(body: Uint8Array, kind: string, maxPixels: number): Promise<void> {
  const format = kind.slice(6).toUpperCase();
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = await sharp(body, { failOn: 'error', limitInputPixels: false }).metadata());
  } catch (e) {
    throw new HttpError(415, `cannot decode the ${format} image: ${(e as Error).message}`);
  }
  if (!width || !height) throw new HttpError(415, `cannot decode the ${format} image: it gives no size`);
  if (width * height > maxPixels) throw new HttpError(413, `the image has ${width}×${height} pixels, over the limit of ${maxPixels}`);
  try {
    await sharp(body, { failOn: 'error', limitInputPixels: maxPixels }).resize(16, 16, { fit: 'fill' }).raw().toBuffer();
  } catch (e) {
    throw new HttpError(400, `the ${format} image is truncated or damaged (${(e as Error).message.split('\n')[0]}): send the whole file`);
  }
}

/** The host[:port] of an Origin header, or null when it is not a URL (refused like a foreign origin). */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

async function explainRoute(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): Promise<void> {
  // another site's page may post here (a "simple" cross-origin request) only with a form or text type,
  // or none: all refused. The image types need a CORS preflight, which this server never grants.
  const origin = req.headers.origin;
  if (origin && origin !== 'null' && originHost(origin) !== req.headers.host)
    throw new HttpError(403, `cross-origin upload from ${origin.slice(0, 100)} refused`);
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!['image/png', 'image/jpeg', 'image/webp', 'application/octet-stream'].includes(type))
    throw new HttpError(415, `uploads must be PNG, JPEG or WebP images sent with their Content-Type (${type ? `${type} refused` : 'none given'})`);
  const params = parseExplainQuery(ctx.models, q);
  const body = await readBody(req, ctx.maxUpload);
  if (!body.length) throw new HttpError(400, 'empty upload: send the image as the request body');
  const kind = sniffImage(body);
  if (!kind) throw new HttpError(415, 'not a PNG, JPEG or WebP image (judged by its first bytes)');
  await checkDecodes(body, kind, ctx.maxPixels);
  const { queue } = ctx;
  if (queue.isFull()) throw new HttpError(503, `the queue is full (${queue.waitingCount} explanations waiting): try again shortly`, { 'Retry-After': '10' });
  const job: Job = {
    id: crypto.randomBytes(8).toString('hex'),
    status: 'queued',
    position: queue.waitingCount + 1,
    model: params.model,
    request: { image: body, imageName: params.name, mode: params.mode, compare: params.compare, classIndex: params.classIndex },
    progress: null,
    listeners: new Set(),
    created: Date.now(),
  };
  queue.enqueue(job);
  ctx.log(
    `job ${job.id}: ${params.model.id} ${params.mode}${params.compare.length ? ` + ${params.compare.join(',')}` : ''} on ${params.name} (${body.length} bytes)`,
  );
  // answer before dispatching, so the 202 shows the job queued
  sendJson(res, 202, { ...jobState(job), events: `/api/jobs/${job.id}/events` }, { Location: `/api/jobs/${job.id}` });
  queue.dispatch();
}

function jobRoute(ctx: RouteContext, res: http.ServerResponse, id: string, what: string): void {
  const job = ctx.queue.get(id);
  if (!job) throw new HttpError(404, `no job '${id}' (finished jobs are kept for the last ${ctx.keepJobs} explanations)`);
  if (what === '') return sendJson(res, 200, jobState(job));
  if (what === 'events') {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: 2000\ndata: ${JSON.stringify(jobState(job))}\n\n`);
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
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(html),
      'Content-Disposition': `attachment; filename="${stem}.html"`,
      'Cache-Control': 'no-store',
    });
    return void res.end(html);
  }
  if (what === 'maps.zip') {
    res.writeHead(200, {
      'Content-Type': 'application/zip',
      'Content-Length': job.zip!.length,
      'Content-Disposition': `attachment; filename="${stem}-maps.zip"`,
      'Cache-Control': 'no-store',
    });
    return void res.end(job.zip);
  }
  throw new HttpError(404, 'not found');
}
