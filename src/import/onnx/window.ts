/** Convolution and pooling windows: 2-D attribute pairs and ONNX padding (explicit or auto_pad). */
import { attrInts, attrStr } from './attributes.js';
import type { OnnxImporter } from './importer.js';
import type { OnnxNode } from './layout.js';

export function spatialPads(
  im: OnnxImporter,
  n: OnnxNode,
  inHW: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dil: [number, number],
): [number, number, number, number] {
  const autoPad = attrStr(n, 'auto_pad', 'NOTSET');
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const p: number[] = [0, 0, 0, 0];
    for (let k = 0; k < 2; k++) {
      const out = Math.ceil(inHW[k] / strides[k]);
      const total = Math.max(0, (out - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - inHW[k]);
      const small = Math.floor(total / 2);
      const big = total - small;
      p[k] = autoPad === 'SAME_UPPER' ? small : big;
      p[k + 2] = autoPad === 'SAME_UPPER' ? big : small;
    }
    return p as [number, number, number, number];
  }
  if (autoPad !== 'NOTSET' && autoPad !== '') im.fail(`unknown auto_pad '${autoPad}'`);
  const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
  if (pads.length !== 4) im.fail(`pads [${pads}] is not 2-D`);
  return [pads[0], pads[1], pads[2], pads[3]];
}

export function pair(im: OnnxImporter, n: OnnxNode, k: string, d: number): [number, number] {
  const v = attrInts(n, k);
  if (!v) return [d, d];
  if (v.length !== 2) im.fail(`${k} [${v}] is not 2-D (naflow supports 2-D convolutions and pools only)`);
  return [v[0], v[1]];
}
