/**
 * The file-system side of writing an output naflow owns (an explanation folder, a bank file): check the
 * location can be written before any work, build the output in a temporary sibling, swap it in without a
 * moment where neither the old nor the new output exists, remove the temporary one when the run is
 * interrupted (SIGINT, SIGTERM), and sweep what earlier interrupted runs left.
 *
 * Temporary siblings are named `.<name>.partial-<pid>-<random>` (the new output being built) and
 * `.<name>.old-<pid>-<random>` (the old output moved aside during the swap), so that a later run can tell
 * naflow's own leftovers from anything else and whether the run that made them is still alive.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, outputWriteError } from '../util/errors.js';

/**
 * Why naflow may not write into the output folder `dir`, or null when it may: it does not exist, is
 * empty, or holds only entries that are naflow's own (`own`) — with `marker`, including that entry, the
 * proof of an earlier run. A file in its place, or a folder holding anything else, is never written
 * into; `refusal` words the message from the entries shown (up to three, quoted).
 */
export function foreignOutputProblem(dir: string, own: (entry: string) => boolean, refusal: (holds: string) => string, marker?: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return null;
  }
  if (!st.isDirectory()) return `${dir}: exists and is not a folder; choose another output folder (--out)`;
  const entries = fs.readdirSync(dir).sort();
  const foreign = entries.filter((e) => !own(e));
  if (!entries.length || (!foreign.length && (marker === undefined || entries.includes(marker)))) return null;
  const shown = foreign.length ? foreign : entries;
  return refusal(
    shown
      .slice(0, 3)
      .map((e) => `'${e}'`)
      .join(', ') + (shown.length > 3 ? ', …' : ''),
  );
}

/** Leftovers named the way naflow named them before the pid was part of the name count as stale after this long. */
const UNNAMED_STALE_MS = 60 * 60 * 1000;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The mkdtemp prefix of `target`'s temporary sibling while it is being built. */
export function partialPrefix(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.partial-${process.pid}-`);
}

/**
 * Check before any work that `target` (a folder or file naflow will create, given with `option`; with
 * `into`, a folder naflow writes into) can be written: its nearest existing ancestor (with `into`, itself
 * when it exists) must be a folder in which naflow may create entries. Throws an
 * InputError naming `target` and what to do (read-only or full disk, no permission, a file in the way).
 */
export function checkWritable(target: string, option: string, { into = false } = {}): void {
  const abs = path.resolve(target);
  let dir = into ? abs : path.dirname(abs);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  if (!fs.statSync(dir).isDirectory())
    throw new InputError(`${target}: cannot write the output (${option}): ${dir} is a file, not a folder; choose another location`);
  try {
    // creating (and removing) an entry is the only check that sees a read-only mount, permissions and ACLs alike
    fs.rmdirSync(fs.mkdtempSync(path.join(dir, '.naflow-write-check-')));
  } catch (e) {
    throw outputWriteError(e, target, option);
  }
}

/** Whether a process with this id is running (EPERM: it is, as another user). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporary siblings of `target` that interrupted runs left: `.<name>.partial-…` and
 * `.<name>.old-…` folders or files whose run is no longer alive (or, named without a pid, older than an
 * hour). An old output moved aside by a run killed mid-swap is put back when `target` is missing. Best
 * effort: a sweep that fails never fails the run.
 */
export function sweepStale(target: string, now = Date.now()): void {
  const abs = path.resolve(target);
  const parent = path.dirname(abs);
  const pattern = new RegExp(`^\\.${escapeRegExp(path.basename(abs))}\\.(partial|old)-(?:(\\d+)-)?[A-Za-z0-9]+$`);
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return;
  }
  const stale = entries
    .map((name) => ({ name, m: pattern.exec(name) }))
    .filter(({ name, m }) => {
      if (!m) return false;
      if (m[2] !== undefined) return !processAlive(Number(m[2]));
      try {
        return now - fs.statSync(path.join(parent, name)).mtimeMs > UNNAMED_STALE_MS;
      } catch {
        return false;
      }
    });
  for (const { name, m } of stale) {
    const file = path.join(parent, name);
    try {
      if (m![1] === 'old' && !fs.existsSync(abs)) fs.renameSync(file, abs);
      else fs.rmSync(file, { recursive: true, force: true });
    } catch {
      // another run may be sweeping too; what is left is swept next time
    }
  }
}

/**
 * Move the finished `built` (a temporary sibling) to `target`, replacing what is there: the old output is
 * renamed aside first, the new one renamed in, and only then the old one deleted, so a kill at any point
 * leaves the old output or the new one (a leftover aside is put back by the next run's sweep).
 */
export function swapIn(built: string, target: string): void {
  const abs = path.resolve(target);
  if (!fs.existsSync(abs)) {
    fs.renameSync(built, abs);
    return;
  }
  const aside = path.join(path.dirname(abs), `.${path.basename(abs)}.old-${process.pid}-${Date.now().toString(36)}`);
  fs.renameSync(abs, aside);
  try {
    fs.renameSync(built, abs);
  } catch (e) {
    fs.renameSync(aside, abs);
    throw e;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

const onSignal = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAllAndDie(signal: NodeJS.Signals): void {
  for (const p of onSignal) fs.rmSync(p, { recursive: true, force: true });
  onSignal.clear();
  for (const s of SIGNALS) process.removeListener(s, removeAllAndDie);
  // the default action now: the process ends as killed by the signal, as it would have without us
  process.kill(process.pid, signal);
}

/**
 * Remove `temp` (a partial output) if the process is interrupted by SIGINT, SIGTERM or SIGHUP before the
 * returned release is called; the process then ends by that signal as it otherwise would.
 */
export function removeOnSignal(temp: string): () => void {
  if (onSignal.size === 0) for (const s of SIGNALS) process.on(s, removeAllAndDie);
  onSignal.add(temp);
  return () => {
    onSignal.delete(temp);
    if (onSignal.size === 0) for (const s of SIGNALS) process.removeListener(s, removeAllAndDie);
  };
}
