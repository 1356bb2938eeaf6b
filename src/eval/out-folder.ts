/**
 * `naflow eval --out`: the folder is both the checkpoint (eval-config.json, progress.jsonl) and the
 * results. eval writes into it, so it must be new, empty or an earlier eval's folder: any other folder
 * (or a file) is refused before any work, as `explain` refuses a folder it did not write.
 */
import { outputWriteError } from '../util/errors.js';
import { foreignOutputProblem } from '../node/out-dir.js';

/** What eval writes into --out: a folder holding eval-config.json and nothing but these is an eval folder. */
const EVAL_ENTRY = /^(?:eval-config\.json|progress\.jsonl|results\.(?:json|csv|md)|report\.html|plot-[A-Za-z0-9_-]+\.svg)$/;

/** Why eval may not write into `out`, or null when it may (missing, empty, or an earlier eval's folder). */
export function evalOutProblem(out: string): string | null {
  return foreignOutputProblem(
    out,
    (e) => EVAL_ENTRY.test(e),
    (holds) =>
      `${out}: exists and is not a naflow eval folder (it holds ${holds}); eval writes only into a new or empty folder or an earlier eval's (to resume it): choose another output folder (--out)`,
    'eval-config.json',
  );
}

/** What `eval merge` writes: a folder holding only these (no checkpoint) is an earlier merge's. */
const MERGED_ENTRY = /^(?:results\.(?:json|csv|md)|report\.html|plot-[A-Za-z0-9_-]+\.svg)$/;

/** Why `eval merge` may not write into `out`, or null (missing, empty, or holding only an earlier merge's results). */
export function mergeOutProblem(out: string): string | null {
  return foreignOutputProblem(
    out,
    (e) => MERGED_ENTRY.test(e),
    (holds) =>
      `${out}: holds files that are not merged eval results (${holds}); eval merge writes only into a new or empty folder or an earlier merge's: choose another output folder (--out)`,
  );
}

/** Run a write into the eval folder `out`; a read-only or full disk becomes an input error naming it. */
export function writingTo<T>(out: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw outputWriteError(e, out, '--out');
  }
}
