/**
 * Fixtures of the tfjs layers importer tests (tfjs-layers.test.ts, tfjs-layers-variants.test.ts): random
 * weights, a model.json with its weight shards written to a temp dir, Keras inbound nodes and Conv2D layer
 * configs, and the float32-vs-float64 closeness check.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface W {
  name: string;
  shape: number[];
  data: Float32Array;
}

export function randW(name: string, shape: number[], r: () => number, lo = -1, hi = 1): W {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + ((r() + 1) / 2) * (hi - lo);
  return { name, shape, data };
}

/** Write model.json + one or two shards into a fresh temp dir; returns the model.json path. */
export function writeLayersModel(topology: object, weights: W[], shards = 1): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-tfjs-layers-'));
  const total = weights.reduce((a, w) => a + w.data.byteLength, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const w of weights) {
    all.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), o);
    o += w.data.byteLength;
  }
  const paths: string[] = [];
  const cut = shards === 1 ? [total] : [Math.ceil(total / 2), total];
  let start = 0;
  cut.forEach((end, k) => {
    const p = `group1-shard${k + 1}of${cut.length}.bin`;
    fs.writeFileSync(path.join(dir, p), all.subarray(start, end));
    paths.push(p);
    start = end;
  });
  const json = {
    format: 'layers-model',
    modelTopology: topology,
    weightsManifest: [{ paths, weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

export const inb = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];

export function conv2d(name: string, filters: number, k: number, stride: number, padding: string, activation: string, useBias: boolean, input: string) {
  return {
    name,
    class_name: 'Conv2D',
    config: {
      name,
      filters,
      kernel_size: [k, k],
      strides: [stride, stride],
      padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      activation,
      use_bias: useBias,
    },
    inbound_nodes: inb(input),
  };
}

/** |got − want| ≤ tol · max(1, |want|) elementwise (float32 vs float64 reference). */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}
