/**
 * A model's files as the importers read them, without a file system: the main file (ONNX bytes or a
 * model.json) and the files its manifest names beside it. The Node adapter (src/node/load.ts) reads
 * them from disk; a browser would fetch them.
 */
export interface ModelFiles {
  /** the main file's name in messages (a path in Node) */
  readonly name: string;
  /** the main file's bytes; throws with the reason when it cannot be read */
  bytes(): Uint8Array;
  /** a file beside the main one: where it is (for messages) and its bytes, undefined when missing */
  sibling(relativePath: string): { location: string; bytes: Uint8Array | undefined };
}

/** ModelFiles over bytes in memory (`siblings` by the relative paths the manifest uses). */
export function modelFilesFromBytes(name: string, main: Uint8Array, siblings: Record<string, Uint8Array> = {}): ModelFiles {
  return {
    name,
    bytes: () => main,
    sibling: (p) => ({ location: p, bytes: Object.hasOwn(siblings, p) ? siblings[p] : undefined }),
  };
}

/** A file's text as UTF-8 (a byte-order mark kept, as Node's readFileSync(…, 'utf8') keeps it). */
export function utf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}
