/** .npy files on disk (the format itself, from and to bytes, is util/npy.ts). */
import fs from 'node:fs';
import { encodeNpy, parseNpy, type NpyArray } from '../util/npy.js';

export { parseNpy, encodeNpy, npyToFloat32, type NpyArray, type NpyDType } from '../util/npy.js';

export function readNpy(file: string): NpyArray {
  return parseNpy(new Uint8Array(fs.readFileSync(file)), file);
}

export function writeNpy(file: string, data: Float32Array, shape: number[]): void {
  fs.writeFileSync(file, encodeNpy(data, shape));
}
