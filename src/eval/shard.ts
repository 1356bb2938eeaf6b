/**
 * `naflow eval --shard i/n`: a deterministic slice of a run's images for batch schedulers (Kubernetes
 * Indexed Jobs, Slurm arrays, `xargs -P`). The rule: image k of the data listing (after --every and
 * --limit) belongs to shard k mod n. Round-robin keeps the shards within one image of each other in size
 * and mixes the classes of a folder dataset (sorted by class) across them, and it depends on the listing
 * alone, so a resumed shard does the same images.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../util/errors.js';
import type { EvalItem } from './dataset.js';
import type { EvalLayer } from './results.js';

export interface Shard {
  /** 0 ≤ index < count */
  index: number;
  count: number;
}

/** What eval-config.json records of a sharded run, besides the run's identity: all `eval merge` needs. */
export interface ShardIdentity extends Shard {
  /** images in the whole run's listing (every shard's) */
  images: number;
  /** sha256 of the listing (files relative to the data, classes, boxes): the shards of one run share it */
  listing: string;
  /** the chosen layers' places in the trunk (merging needs no model) */
  layers: EvalLayer[];
}

/** `--shard i/n`, strictly: two decimal integers, n ≥ 1 and 0 ≤ i < n. */
export function parseShard(spec: string, option = '--shard'): Shard {
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(spec);
  if (!m) throw new UsageError(`${option} takes i/n (this shard's index i of n shards, 0 ≤ i < n: e.g. 0/4 … 3/4), got '${spec}'`);
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1) throw new UsageError(`${option} ${spec}: there must be at least one shard (n ≥ 1)`);
  if (index >= count) throw new UsageError(`${option} ${spec}: the index counts from 0, so it must be below ${count} (0 … ${count - 1})`);
  return { index, count };
}

export const shardName = (s: Shard) => `${s.index}/${s.count}`;

/** Whether image k of the listing is this shard's. */
export const inShard = (k: number, shard: Shard | undefined) => !shard || k % shard.count === shard.index;

/** The listing's fingerprint: two shards of one run must have read the same images in the same order. */
export function listingSha256(items: readonly EvalItem[], data: string): string {
  const root = path.resolve(data);
  const dir = fs.statSync(root).isDirectory() ? root : path.dirname(root);
  const rows = items.map((it) => [path.relative(dir, it.file).split(path.sep).join('/'), it.classIndex, it.boxes ?? null, it.boxSize ?? null]);
  return crypto.createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}
