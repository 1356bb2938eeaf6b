/**
 * σ_max of a model's least-squares operators, kept across processes: one JSON file per model, named
 * by the model's sha256, in NAFLOW_CACHE_DIR (default $XDG_CACHE_HOME/naflow, else ~/.cache/naflow).
 * NAFLOW_CACHE=0 turns it off. The power iterations cost ~¼ of a model's first paper-mode explanation;
 * with the file, later processes skip them. The file is read on the first σ_max the cascade asks for
 * (so commands that never solve never hash the model) and written when the model is disposed.
 * A file that cannot be read or written is ignored: this is a cache, never a source of errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Model } from '../engine/model.js';
import { setSigmaStore } from '../ops/least-squares.js';
import { modelSha256 } from './hash.js';

export function cacheDir(): string | undefined {
  if (process.env.NAFLOW_CACHE === '0') return undefined;
  if (process.env.NAFLOW_CACHE_DIR) return process.env.NAFLOW_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || (os.homedir() ? path.join(os.homedir(), '.cache') : undefined);
  return base ? path.join(base, 'naflow') : undefined;
}

/** Back `model`'s σ_max values with the cache file of `modelFile` (no-op when caching is off). */
export function persistSigma(model: Model, modelFile: string, dir = cacheDir()): void {
  if (!dir) return;
  let file: string | undefined;
  let values: Map<string, number> | undefined;
  let changed = false;
  const load = (): Map<string, number> => {
    if (values) return values;
    values = new Map();
    try {
      file = path.join(dir, `sigma-${modelSha256(modelFile)}.json`);
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(json)) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) values.set(k, v);
    } catch {
      // no file yet, or an unreadable one: it is rewritten
    }
    return values;
  };
  setSigmaStore(model.graph, {
    get: (key) => load().get(key),
    set: (key, sigma) => {
      load().set(key, sigma);
      changed = true;
    },
  });
  model.onDispose(() => {
    if (!changed || !file || !values) return;
    try {
      fs.mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(values))}\n`);
      fs.renameSync(tmp, file);
    } catch {
      // a read-only or full disk: the next process computes σ_max again
    }
  });
}
