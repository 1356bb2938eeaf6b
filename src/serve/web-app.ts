/**
 * `naflow serve` also hands out the in-browser app (`npm run build:web` → dist/web/): `/web/` and the
 * files beside it, read from that folder by name only (no sub-folders), behind the same Host and token
 * checks as every route. The page computes in the visitor's browser; nothing it explains is uploaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../defaults.js';
import { HttpError } from './http-util.js';

/** Where `npm run build:web` writes the app. */
export const DEFAULT_WEB_DIR = path.join(PACKAGE_ROOT, 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.json': 'application/json',
};

/** One file of the app: its bytes and content type; 404 for any other name (or when the app is not built). */
export function webAppFile(webDir: string, name: string): { body: Buffer; type: string } {
  const file = name === '' ? 'index.html' : name;
  const type = TYPES[path.extname(file)];
  if (!/^[A-Za-z0-9_.-]+$/.test(file) || !type) throw new HttpError(404, 'not found');
  const location = path.join(webDir, file);
  let body: Buffer;
  try {
    if (!fs.statSync(location).isFile()) throw new Error('not a file');
    body = fs.readFileSync(location);
  } catch {
    throw new HttpError(404, file === 'index.html' ? 'the web app is not built here: run npm run build:web' : 'not found');
  }
  return { body, type };
}
