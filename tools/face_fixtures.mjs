#!/usr/bin/env node
/**
 * Reference descriptors of face-api's own FaceRecognitionNet (its bundled tfjs, cpu backend) for
 * naflow's rebuilt graph (src/import/face-api.ts). Writes test/fixtures/similarity/face-api/:
 * <name>.npy (the 150×150×3 RGB input, float32 0..255, HWC) and descriptors.json (face-api's 128-D
 * descriptors). Inputs: face crops of the bundled photos (the boxes face-api's own detector finds), resized with sharp.
 *
 * face-api's Node build needs the full @tensorflow/tfjs package, which naflow does not depend on, so
 * this runs from a scratch folder:
 *   mkdir /tmp/faceref && cd /tmp/faceref && npm init -y && npm install --legacy-peer-deps \
 *     @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 @vladmandic/face-api@1.7.15 sharp
 *   NODE_PATH=/tmp/faceref/node_modules node --experimental-detect-module tools/face_fixtures.mjs /tmp/faceref
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const scratch = process.argv[2] ?? '/tmp/faceref';
const require = createRequire(path.join(scratch, 'index.js'));
const sharp = require('sharp');
const tfjs = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = path.join(root, 'test/fixtures/similarity/face-api');
const modelDir = path.join(root, 'node_modules/@vladmandic/face-api/model');
export const FACES = {
  // left, top, width, height: the boxes face-api's SSD-MobileNetV1 detector finds (scores 0.96, 1.00)
  astronaut: { file: 'assets/photos/astronaut.png', box: [181, 73, 83, 102] },
  grace_hopper: { file: 'assets/photos/grace_hopper.jpg', box: [169, 123, 183, 205] },
};

function npy(data, shape) {
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(`${header + ' '.repeat(pad % 64)}\n`, 'latin1');
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  return Buffer.concat([pre, h, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

await tfjs.setBackend('cpu');
await tfjs.ready();
const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
const bin = fs.readFileSync(path.join(modelDir, manifest[0].paths[0]));
const weightMap = tfjs.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest[0].weights);
const net = new faceapi.FaceRecognitionNet();
net.loadFromWeightMap(weightMap);
fs.mkdirSync(out, { recursive: true });
const descriptors = {};
for (const [name, f] of Object.entries(FACES)) {
  const [left, top, width, height] = f.box;
  const { data } = await sharp(path.join(root, f.file))
    .removeAlpha()
    .extract({ left, top, width, height })
    .resize(150, 150, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = Float32Array.from(data);
  fs.writeFileSync(path.join(out, `${name}.npy`), npy(pixels, [150, 150, 3]));
  const d = await net.computeFaceDescriptor(tfjs.tensor3d(pixels, [150, 150, 3]));
  descriptors[name] = { file: f.file, box: f.box, descriptor: Array.from(d) };
}
fs.writeFileSync(path.join(out, 'descriptors.json'), `${JSON.stringify({ faceApi: '1.7.15', descriptors }, null, 1)}\n`);
console.log('wrote', out, Object.keys(descriptors));
