/**
 * `naflow eval --out`: the folder is both the checkpoint (eval-config.json, progress.jsonl) and the
 * results. eval writes into it, so it must be new, empty or an earlier eval's folder: any other folder
 * (or a file) is refused before any work, as `explain` refuses a folder it did not write.
 */
import fs from 'node:fs';
import { outputWriteError } from '../util/errors.js';

/** What eval writes into --out: a folder holding eval-config.json and nothing but these is an eval folder. */
const EVAL_ENTRY = /^(?:eval-config\.json|progress\.jsonl|results\.(?:json|csv|md)|report\.html|plot-[A-Za-z0-9_-]+\.svg)$/;

/** Why eval may not write into `out`, or null when it may (missing, empty, or an earlier eval's folder). */
export function evalOutProblem(out: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    return null;
  }
  if (!st.isDirectory()) return `${out}: exists and is not a folder; choose another output folder (--out)`;
  const entries = fs.readdirSync(out).sort();
  if (!entries.length) return null;
  const foreign = entries.filter((e) => !EVAL_ENTRY.test(e));
  if (entries.includes('eval-config.json') && !foreign.length) return null;
  const shown = foreign.length ? foreign : entries;
  const list =
    shown
      .slice(0, 3)
      .map((e) => `'${e}'`)
      .join(', ') + (shown.length > 3 ? ', …' : '');
  return `${out}: exists and is not a naflow eval folder (it holds ${list}); eval writes only into a new or empty folder or an earlier eval's (to resume it): choose another output folder (--out)`;
}

/** What `eval merge` writes: a folder holding only these (no checkpoint) is an earlier merge's. */
const MERGED_ENTRY = /^(?:results\.(?:json|csv|md)|report\.html|plot-[A-Za-z0-9_-]+\.svg)$/;

/** Why `eval merge` may not write into `out`, or null (missing, empty, or holding only an earlier merge's results). */
export function mergeOutProblem(out: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    return null;
  }
  if (!st.isDirectory()) return `${out}: exists and is not a folder; choose another output folder (--out)`;
  const foreign = fs
    .readdirSync(out)
    .sort()
    .filter((e) => !MERGED_ENTRY.test(e));
  if (!foreign.length) return null;
  const list =
    foreign
      .slice(0, 3)
      .map((e) => `'${e}'`)
      .join(', ') + (foreign.length > 3 ? ', …' : '');
  return `${out}: holds files that are not merged eval results (${list}); eval merge writes only into a new or empty folder or an earlier merge's: choose another output folder (--out)`;
}

/** Run a write into the eval folder `out`; a read-only or full disk becomes an input error naming it. */
export function writingTo<T>(out: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw outputWriteError(e, out, '--out');
  }
}
