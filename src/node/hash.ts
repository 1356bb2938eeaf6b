/**
 * sha256 of a model: the file itself (ONNX), or for a TensorFlow.js model its model.json plus every
 * weight file its manifest names (so re-trained weights under the same model.json change the hash).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function modelSha256(file: string): string {
  const h = crypto.createHash('sha256');
  const main = fs.statSync(file).isDirectory() ? path.join(file, 'model.json') : file;
  const bytes = fs.readFileSync(main);
  h.update(viewOf(bytes));
  if (main.endsWith('.json')) {
    try {
      const manifest = JSON.parse(bytes.toString('utf8')) as { weightsManifest?: { paths?: string[] }[] };
      for (const group of manifest.weightsManifest ?? [])
        for (const p of group.paths ?? []) {
          const f = path.join(path.dirname(main), p);
          if (fs.existsSync(f)) h.update(viewOf(fs.readFileSync(f)));
        }
    } catch {
      // not a tfjs manifest: the file's own bytes are the hash
    }
  }
  return h.digest('hex');
}

/** A Uint8Array view of a Buffer's bytes: `new Uint8Array(buffer)` would copy them (1.9 s for VGG16's 528 MB). */
const viewOf = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
