/**
 * One error hierarchy for everything a user can get wrong. Every error caused by the user's input — a
 * model, its weights, an image, a card, an option, a data folder — is an `InputError` (checked with
 * `instanceof`, never by name): the CLI exits 1 with its message, the server answers 4xx. Anything else
 * that escapes is a naflow bug: the CLI exits 2, the server answers 500.
 */

/** Base class of the errors the user's input causes; its message names the file, node, op or option and what to do. */
export class InputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // subclasses get their own name in stack traces without repeating this line
    this.name = new.target.name;
  }
}

/** An option or argument that is wrong as given (unknown option, a value out of range, a missing argument). */
export class UsageError extends InputError {}

/**
 * Operating-system errors that mean "the path the user gave is wrong" (missing, a folder where a file was
 * expected, no permission) or "the place the user chose cannot take the output" (a read-only or full
 * disk) rather than a bug, each with what to do. Read from the error's `code` so the core needs no Node types.
 */
const PATH_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or folder; check the path',
  EACCES: 'permission denied; check its permissions or choose another path',
  EPERM: 'operation not permitted; check its permissions or choose another path',
  EISDIR: 'is a folder, not a file; give a file',
  ENOTDIR: 'a part of the path is a file, not a folder; check the path',
  ENAMETOOLONG: 'the name is too long; choose a shorter path',
  ELOOP: 'too many levels of symbolic links; check the path',
  EROFS: 'read-only file system; choose a location on a writable disk',
  ENOSPC: 'no space left on the device; free some space or choose another disk',
  EDQUOT: 'disk quota exceeded; free some space or choose another disk',
  EEXIST: 'already exists; choose another path',
  ENOTEMPTY: 'a folder that is not empty; choose another path',
};

function errnoFields(e: unknown): { code?: string; path?: string; dest?: string } {
  if (!(e instanceof Error)) return {};
  const { code, path, dest } = e as { code?: unknown; path?: unknown; dest?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    path: typeof path === 'string' ? path : undefined,
    dest: typeof dest === 'string' ? dest : undefined,
  };
}

/**
 * An operating-system error in words: '<path>: read-only file system; choose a location on a writable
 * disk' instead of "EROFS: read-only file system, mkdir '<path>'"; undefined for anything else.
 */
export function pathProblem(e: unknown): string | undefined {
  const { code, path, dest } = errnoFields(e);
  const text = code === undefined ? undefined : PATH_PROBLEMS[code];
  if (!text) return undefined;
  const where = dest ?? path;
  return where ? `${where}: ${text}` : text;
}

/** Whether an error is the user's to fix (exit 1 / HTTP 4xx) rather than naflow's (exit 2 / HTTP 500). */
export function isInputError(e: unknown): boolean {
  if (e instanceof InputError) return true;
  return pathProblem(e) !== undefined;
}

/**
 * A failed write of an output the user placed (`target`, given with `option`) as an InputError naming it
 * and what to do (a read-only or full disk, no permission); any other error is returned as it is.
 */
export function outputWriteError(e: unknown, target: string, option: string): unknown {
  const { code } = errnoFields(e);
  const text = code === undefined ? undefined : PATH_PROBLEMS[code];
  if (!text || e instanceof InputError) return e;
  return new InputError(`${target}: cannot write the output (${option}): ${text}`, { cause: e });
}
