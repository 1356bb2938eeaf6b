/**
 * The baselines' maps beside NAFlow's in an output folder (`--compare`): compare/<method>/<stem>.npy
 * under the same file stems as maps/ (layers aligned by tensor name), and flow.json's `compare` entry.
 * Shared by `naflow explain` and `naflow explain-similarity`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExplainResult } from '../naflow/explain.js';
import { flowJson } from '../node/write-flow.js';
import { encodeNpy } from '../util/npy.js';
import { parseMethodList, type Comparison, type ResolvedMethod } from '../methods/index.js';

export interface CompareOutput {
  /** flow.json's extra fields (undefined without baselines) */
  extra: { compare: unknown[] } | undefined;
  /** write the .npy maps into the (temporary) output folder */
  write(dir: string): void;
}

export function compareOutput(result: ExplainResult, flows: Comparison[], classIndex: number): CompareOutput {
  const stems = new Map(flowJson(result).layers.map((l) => [l.name, path.basename(l.npy)]));
  const file = (k: number, name: string) => `compare/${flows[k].method}/${stems.get(name) ?? `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.npy`}`;
  return {
    extra: flows.length
      ? {
          compare: flows.map((c, k) => ({
            method: c.method,
            classIndex,
            layers: c.layers.map((l) => ({ name: l.name, shape: l.shape, npy: file(k, l.name) })),
          })),
        }
      : undefined,
    write(dir) {
      flows.forEach((c, k) => {
        fs.mkdirSync(path.join(dir, 'compare', c.method), { recursive: true });
        for (const l of c.layers) fs.writeFileSync(path.join(dir, file(k, l.name)), encodeNpy(l.map, [l.shape[0], l.shape[1]]));
      });
    },
  };
}

/** --compare: baselines offered beside NAFlow (validated before any work; none without the option). */
export function parseCompare(v: string | undefined): ResolvedMethod[] {
  return v === undefined ? [] : parseMethodList(v, '--compare', { comparable: true });
}
