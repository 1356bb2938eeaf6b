/**
 * The HTTP plumbing of `naflow serve`: the refusal error (status, message, extra headers), JSON answers,
 * the request-path check and the size-limited body reader.
 */
import type http from 'node:http';

/** A refused request: answered with `status` and `{ error: message, status }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message, status }, headers);
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

/** The whole request body, refused with 413 once it (or its declared length) is over `maxUpload` bytes. */
export function readBody(req: http.IncomingMessage, maxUpload: number): Promise<Uint8Array> {
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
