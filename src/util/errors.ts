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
 * expected, no permission) rather than a bug. Read from the error's `code` so the core needs no Node types.
 */
const PATH_ERROR_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EPERM', 'ENAMETOOLONG', 'ELOOP']);

/** Whether an error is the user's to fix (exit 1 / HTTP 4xx) rather than naflow's (exit 2 / HTTP 500). */
export function isInputError(e: unknown): boolean {
  if (e instanceof InputError) return true;
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && PATH_ERROR_CODES.has(code);
}
