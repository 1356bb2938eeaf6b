/**
 * The host's environment without Node imports: `process` is read through globalThis, so core modules
 * that honour NAFLOW_* variables in Node still load in a browser (where there are none).
 */
interface ProcessLike {
  env?: Record<string, string | undefined>;
  stderr?: { write(s: string): unknown };
}

const host = (): ProcessLike | undefined => (globalThis as { process?: ProcessLike }).process;

/** An environment variable, or undefined where there is no process environment (a browser). */
export function envVar(name: string): string | undefined {
  return host()?.env?.[name];
}

/** Write a diagnostic line to stderr (Node) or the console (elsewhere). */
export function writeStderr(text: string): void {
  const stderr = host()?.stderr;
  if (stderr) stderr.write(text);
  else console.warn(text.replace(/\n$/, ''));
}
