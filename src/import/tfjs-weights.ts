/**
 * Reading TensorFlow.js artifacts from local files: `model.json` plus the binary shards its
 * `weightsManifest` lists (paths relative to the JSON). Every weight is decoded by its spec
 * (float32 / int32 / bool, optionally quantized as uint8 / uint16 affine or float16) into a named
 * tf tensor on the current backend. The caller (an importer) owns the returned tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '../ir/graph.js';
import { utf8, type ModelFiles } from './files.js';

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: {
    dtype: string;
    scale?: number;
    min?: number;
    original_dtype?: string;
  };
}

export interface TfjsWeightGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

export interface TfjsArtifacts {
  /** the parsed model.json, unvalidated: each importer validates the part it reads */
  modelJson: unknown;
  weights: Map<string, tf.Tensor>;
}

/** A GraphError, so `import/model.ts` passes the message (which already names the file) through unchanged. */
export class TfjsWeightsError extends GraphError {}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Stored byte length of one weight (quantized size where quantized). */
export function weightByteLength(spec: TfjsWeightSpec, file: string): number {
  const stored = spec.quantization ? spec.quantization.dtype : spec.dtype;
  const b = BYTES[stored];
  if (b === undefined)
    throw new TfjsWeightsError(
      `${file}: weight '${spec.name}' has ${spec.quantization ? 'quantization ' : ''}dtype '${stored}', which naflow cannot read (float32, int32, bool; quantized uint8, uint16, float16)`,
    );
  return elementCount(spec.shape) * b;
}

let f16Table: Float32Array | undefined;
function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) t[h] = sign * 2 ** -14 * (f / 1024);
    else if (e === 31) t[h] = f ? NaN : sign * Infinity;
    else t[h] = sign * 2 ** (e - 15) * (1 + f / 1024);
  }
  f16Table = t;
  return t;
}

/** Decode one weight from its bytes (a copy: aligned, exactly `weightByteLength` long). */
export function decodeWeight(spec: TfjsWeightSpec, bytes: Uint8Array, file: string): tf.Tensor {
  const n = elementCount(spec.shape);
  const q = spec.quantization;
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (q) {
    const target = spec.dtype ?? q.original_dtype ?? 'float32';
    if (target !== 'float32' && target !== 'int32')
      throw new TfjsWeightsError(`${file}: weight '${spec.name}' is quantized to ${q.dtype} but has dtype '${target}'`);
    if (q.dtype === 'float16') {
      if (target !== 'float32') throw new TfjsWeightsError(`${file}: weight '${spec.name}' is float16-quantized but has dtype '${target}'`);
      const h = new Uint16Array(buf);
      const table = float16Table();
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = table[h[i]];
      return tf.tensor(v, spec.shape, 'float32');
    }
    if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      if (typeof q.scale !== 'number') throw new TfjsWeightsError(`${file}: weight '${spec.name}' is ${q.dtype}-quantized but has no 'scale'`);
      const scale = q.scale;
      const min = typeof q.min === 'number' ? q.min : 0;
      const raw = q.dtype === 'uint8' ? new Uint8Array(buf) : new Uint16Array(buf);
      if (target === 'int32') {
        const v = new Int32Array(n);
        for (let i = 0; i < n; i++) v[i] = Math.round(raw[i] * scale + min);
        return tf.tensor(v, spec.shape, 'int32');
      }
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = raw[i] * scale + min;
      return tf.tensor(v, spec.shape, 'float32');
    }
    throw new TfjsWeightsError(`${file}: weight '${spec.name}' uses quantization dtype '${q.dtype}' (supported: uint8, uint16, float16)`);
  }
  switch (spec.dtype) {
    case 'float32':
      return tf.tensor(new Float32Array(buf), spec.shape, 'float32');
    case 'int32':
      return tf.tensor(new Int32Array(buf), spec.shape, 'int32');
    case 'bool':
      return tf.tensor(new Uint8Array(buf), spec.shape, 'bool');
    default:
      throw new TfjsWeightsError(`${file}: weight '${spec.name}' has dtype '${spec.dtype}', which naflow cannot read`);
  }
}

/**
 * Decode the weights of one manifest group from its concatenated shard bytes. `shardSizes` are the
 * byte lengths of the group's files (for naming the short one in errors).
 */
export function decodeWeightGroup(
  group: TfjsWeightGroup,
  data: Uint8Array,
  file: string,
  shardNames: string[] = group.paths,
  shardSizes: number[] = [data.byteLength],
): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  let offset = 0;
  try {
    for (const spec of group.weights) {
      if (!spec || typeof spec.name !== 'string' || !Array.isArray(spec.shape))
        throw new TfjsWeightsError(`${file}: malformed weight entry in weightsManifest: ${JSON.stringify(spec)}`);
      const len = weightByteLength(spec, file);
      if (offset + len > data.byteLength) {
        // Converter shards are equal-sized except the last: a non-last shard smaller than the largest
        // is the truncated one; otherwise the data ran out in the last shard.
        const need = group.weights.reduce((a, s) => a + weightByteLength(s, file), 0);
        const largest = Math.max(...shardSizes);
        let k = shardSizes.findIndex((sz, i) => i < shardSizes.length - 1 && sz < largest);
        if (k < 0) k = shardNames.length - 1;
        const shortShard = shardNames[k];
        throw new TfjsWeightsError(
          `${file}: weight shard '${shortShard}' is shorter than the manifest says: ` +
            `group [${shardNames.join(', ')}] has ${data.byteLength} bytes but its weights need ${need} ` +
            `(weight '${spec.name}' ends at byte ${offset + len})`,
        );
      }
      if (out.has(spec.name)) throw new TfjsWeightsError(`${file}: weight '${spec.name}' appears twice in weightsManifest`);
      out.set(spec.name, decodeWeight(spec, data.subarray(offset, offset + len), file));
      offset += len;
    }
    // bytes no weight uses: the shards belong to another model (or another version of this one)
    if (offset !== data.byteLength)
      throw new TfjsWeightsError(
        `${file}: weight shards [${shardNames.join(', ')}] are longer than the manifest says: ${data.byteLength} bytes, its weights use ${offset}; are they this model's weights?`,
      );
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}

/** Parse a model.json file with a message naming it on failure. */
export function readModelJson(files: ModelFiles): unknown {
  const modelJsonPath = files.name;
  let text: string;
  try {
    text = utf8(files.bytes());
  } catch (e) {
    throw new TfjsWeightsError(`${modelJsonPath}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TfjsWeightsError(`${modelJsonPath}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Read `model.json` and every weight its manifest lists. Shard paths are relative to the JSON file;
 * URLs are refused.
 */
export function readTfjsArtifacts(files: ModelFiles): TfjsArtifacts {
  const modelJsonPath = files.name;
  const modelJson = readModelJson(files);
  if (modelJson === null || typeof modelJson !== 'object' || Array.isArray(modelJson))
    throw new TfjsWeightsError(`${modelJsonPath}: JSON but not a TensorFlow.js model (not an object)`);
  const manifest: unknown = (modelJson as Record<string, unknown>).weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new TfjsWeightsError(`${modelJsonPath}: 'weightsManifest' is not a list`);
  const weights = new Map<string, tf.Tensor>();
  try {
    manifest.forEach((group: TfjsWeightGroup, gi: number) => {
      if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights))
        throw new TfjsWeightsError(`${modelJsonPath}: weightsManifest group ${gi} lacks 'paths' or 'weights'`);
      const parts: Uint8Array[] = [];
      for (const p of group.paths) {
        if (typeof p !== 'string' || /^[a-z][a-z0-9+.-]*:\/\//i.test(p))
          throw new TfjsWeightsError(`${modelJsonPath}: weight shard '${String(p)}' is not a local file path`);
        const shard = files.sibling(p);
        if (!shard.bytes) throw new TfjsWeightsError(`${modelJsonPath}: weight shard '${p}' is missing (expected at ${shard.location})`);
        parts.push(shard.bytes);
      }
      const total = parts.reduce((a, b) => a + b.byteLength, 0);
      const data = parts.length === 1 ? parts[0] : new Uint8Array(total);
      if (parts.length !== 1) {
        let o = 0;
        for (const b of parts) {
          data.set(b, o);
          o += b.byteLength;
        }
      }
      const decoded = decodeWeightGroup(
        group,
        data,
        modelJsonPath,
        group.paths,
        parts.map((b) => b.byteLength),
      );
      const dup = [...decoded.keys()].find((name) => weights.has(name));
      if (dup !== undefined) {
        for (const u of decoded.values()) u.dispose();
        throw new TfjsWeightsError(`${modelJsonPath}: weight '${dup}' appears twice in weightsManifest`);
      }
      for (const [name, t] of decoded) weights.set(name, t);
    });
  } catch (e) {
    for (const t of weights.values()) t.dispose();
    throw e;
  }
  return { modelJson, weights };
}
