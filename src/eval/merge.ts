/**
 * `naflow eval merge`: the results of a run made in shards (`naflow eval --shard i/n`, one --out folder
 * each), aggregated from the shards' per-image records exactly as a local run aggregates its own, so the
 * merged results.json equals the unsharded run's. The shards must be of one run (the same identity in
 * their eval-config.json, all but the shard index), each image of the listing must have exactly one
 * record, and no model is needed (eval-config.json records the layers' places in the trunk).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../util/errors.js';
import { aggregateRecords, readRecords, type EvalIdentity, type EvalRecord, type EvalResults } from './results.js';
import { shardName, type ShardIdentity } from './shard.js';

export class MergeError extends InputError {}

interface ShardFolder {
  dir: string;
  config: EvalIdentity & { shard: ShardIdentity } & Record<string, unknown>;
  records: Map<number, EvalRecord>;
}

export interface Merged {
  results: EvalResults;
  /** the listing's first image (what `--html` shows), with its ground-truth class */
  first: EvalRecord | undefined;
  /** the shards' common identity (eval-config.json without the shard index) */
  config: ShardFolder['config'];
}

/** "images 2, 5, 8 and 3 more": which images, briefly. */
function someImages(ks: number[]): string {
  const shown = ks.slice(0, 8).join(', ');
  return `image${ks.length > 1 ? 's' : ''} ${shown}${ks.length > 8 ? ` and ${ks.length - 8} more` : ''}`;
}

function readShard(dir: string): ShardFolder {
  const configFile = path.join(dir, 'eval-config.json');
  if (!fs.existsSync(dir)) throw new MergeError(`eval merge: ${dir}: no such folder`);
  if (!fs.existsSync(configFile)) throw new MergeError(`eval merge: ${dir} has no eval-config.json: it is not an evaluation folder`);
  let config: ShardFolder['config'];
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new MergeError(`eval merge: ${configFile}: not valid JSON (${(e as Error).message})`);
  }
  const s = config?.shard;
  if (!s || typeof s !== 'object')
    throw new MergeError(`eval merge: ${dir} holds an evaluation that was not sharded (run each slice with naflow eval --shard i/n)`);
  if (!(Number.isInteger(s.index) && Number.isInteger(s.count) && s.index >= 0 && s.index < s.count && Number.isInteger(s.images) && Array.isArray(s.layers)))
    throw new MergeError(`eval merge: ${configFile}: its 'shard' entry is damaged (expected index, count, images, listing, layers)`);
  return { dir, config, records: readRecords(path.join(dir, 'progress.jsonl')) };
}

/** The identity's fields in which two shards' configs differ (the shard index aside). */
function differences(a: ShardFolder['config'], b: ShardFolder['config']): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const out = keys.filter((k) => k !== 'shard' && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  for (const k of ['count', 'images', 'listing', 'layers'] as const)
    if (JSON.stringify(a.shard[k]) !== JSON.stringify(b.shard[k])) out.push(k === 'listing' ? 'data listing' : `shard ${k}`);
  return out;
}

/** Each image of the listing has exactly one record, in the folder of the shard it belongs to. */
function checkCoverage(shards: ShardFolder[]): void {
  const { count, images } = shards[0].config.shard;
  const byIndex = new Map<number, ShardFolder>();
  for (const f of shards) {
    const s = f.config.shard;
    const twin = byIndex.get(s.index);
    if (twin)
      throw new MergeError(
        `eval merge: shard ${shardName(s)} is given twice (${twin.dir} and ${f.dir}): its images would count twice; give each shard's folder once`,
      );
    byIndex.set(s.index, f);
  }
  const absent = [...Array(count).keys()].filter((k) => !byIndex.has(k));
  if (absent.length) {
    const missing = [...Array(images).keys()].filter((k) => absent.includes(k % count));
    throw new MergeError(
      `eval merge: ${someImages(missing)} of ${images} are missing: no folder of shard ${absent.map((k) => `${k}/${count}`).join(', ')} was given`,
    );
  }
  for (const f of shards) {
    const s = f.config.shard;
    const stray = [...f.records.values()].find((r) => !(Number.isInteger(r.i) && r.i >= 0 && r.i < images && r.i % count === s.index));
    if (stray)
      throw new MergeError(
        `eval merge: ${f.dir} (shard ${shardName(s)}) has a record of image ${stray.i} (${stray.file}), which is not this shard's: the folder mixes runs; run that shard again in an empty folder`,
      );
    const todo = [...Array(images).keys()].filter((k) => k % count === s.index && !f.records.has(k));
    if (todo.length)
      throw new MergeError(
        `eval merge: ${f.dir} (shard ${shardName(s)}) is not finished: ${someImages(todo)} ${todo.length > 1 ? 'have' : 'has'} no record; run that shard's command again to complete it`,
      );
  }
}

/** The merged results of `dirs` (shard folders of one run, in any order). */
export function mergeShards(dirs: readonly string[]): Merged {
  if (!dirs.length) throw new MergeError('eval merge: give the shards’ --out folders');
  const shards = dirs.map(readShard);
  const [first] = shards;
  for (const f of shards.slice(1)) {
    const diff = differences(first.config, f.config);
    if (diff.length) throw new MergeError(`eval merge: ${first.dir} and ${f.dir} are shards of different runs: their ${diff.join(', ')} differ`);
  }
  checkCoverage(shards);
  const records = shards.flatMap((f) => [...f.records.values()]);
  const { images, layers } = first.config.shard;
  return {
    results: aggregateRecords(first.config, layers, records, images),
    first: records.find((r) => r.i === 0),
    config: first.config,
  };
}
