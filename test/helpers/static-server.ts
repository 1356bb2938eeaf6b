/**
 * A static file server on 127.0.0.1 (port 0) for the browser tests: URL prefixes mapped to folders,
 * every request recorded. Nothing but GET of files under the mapped folders is answered.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface StaticServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  /** every path requested, in order */
  requested: string[];
  close(): Promise<void>;
}

/** Serve `routes` (URL prefix ending in '/' → folder); `headers` are added to every answer. */
export async function serveStatic(routes: Record<string, string>, headers: Record<string, string> = {}): Promise<StaticServer> {
  const requested: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requested.push(url.pathname);
    const prefix = Object.keys(routes)
      .filter((p) => url.pathname.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    const root = prefix === undefined ? undefined : path.resolve(routes[prefix]);
    const file = root && path.resolve(root, decodeURIComponent(url.pathname.slice(prefix!.length)));
    if (req.method !== 'GET' || !root || !file || !file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...headers });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requested,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
