/**
 * Test-only helper: nsfwjs ships its models as JS modules (`model.min.js` exporting the model JSON,
 * `group1-shardKofN.min.js` exporting each shard as a base64 string). This unpacks one model into a
 * temporary directory as a standard `model.json` + `.bin` shards, so naflow's ordinary tfjs loader
 * reads it. The product itself only reads standard tfjs artifacts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Directory of nsfwjs' bundled models, or undefined when the package is not installed. */
export function nsfwjsModelsDir(): string | undefined {
  // nsfwjs' export map hides package.json; walk up from here (and from the cwd) to node_modules.
  for (const start of [path.dirname(new URL(import.meta.url).pathname), process.cwd()]) {
    for (let d = start; ; d = path.dirname(d)) {
      const dir = path.join(d, 'node_modules', 'nsfwjs', 'dist', 'models');
      if (fs.existsSync(dir)) return dir;
      if (path.dirname(d) === d) break;
    }
  }
  return undefined;
}

/**
 * Unpack nsfwjs model `name` (e.g. 'mobilenet_v2', 'mobilenet_v2_mid') into `outDir` (default: a
 * fresh temp dir). Returns the path of the written model.json.
 */
export function unpackNsfwjsModel(name: string, outDir?: string): string {
  const models = nsfwjsModelsDir();
  if (!models) throw new Error('nsfwjs is not installed');
  const src = path.join(models, name);
  const modelJs = path.join(src, 'model.min.js');
  if (!fs.existsSync(modelJs)) throw new Error(`nsfwjs has no model '${name}' (${modelJs} missing)`);
  const dir = outDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `naflow-nsfwjs-${name}-`));
  fs.mkdirSync(dir, { recursive: true });
  const loaded = require(modelJs);
  const modelJson = structuredClone(loaded.default ?? loaded) as {
    weightsManifest: Array<{ paths: string[] }>;
  };
  for (const group of modelJson.weightsManifest) {
    group.paths = group.paths.map((p) => {
      const shardJs = path.join(src, `${p}.min.js`);
      const mod = require(shardJs);
      const b64: unknown = typeof mod === 'string' ? mod : mod.default;
      if (typeof b64 !== 'string') throw new Error(`${shardJs}: does not export a base64 string`);
      const out = `${path.basename(p)}.bin`;
      fs.writeFileSync(path.join(dir, out), new Uint8Array(Buffer.from(b64, 'base64')));
      return out;
    });
  }
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(modelJson));
  return file;
}
