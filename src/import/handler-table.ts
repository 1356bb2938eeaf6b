/** Shared by the importers: merging per-family handler tables into one lookup. */

/**
 * One map from source op type to handler. A source op claimed by two families is a programming
 * error (the second would silently win), so it throws at module load.
 */
export function mergeHandlerTables<H>(format: string, families: Record<string, Readonly<Record<string, H>>>): Map<string, H> {
  const merged = new Map<string, H>();
  const owner = new Map<string, string>();
  for (const [family, table] of Object.entries(families))
    for (const [op, handler] of Object.entries(table)) {
      const prev = owner.get(op);
      if (prev) throw new Error(`${format} importer: op '${op}' has handlers in both '${prev}' and '${family}'`);
      owner.set(op, family);
      merged.set(op, handler);
    }
  return merged;
}
