/**
 * Score-CAM (Wang et al. 2020), as pytorch-grad-cam computes it: every channel A_c of a layer is
 * upsampled to the input (bilinear, align_corners = true), min–max normalised to a mask M_c, and the
 * input (the model's own, normalised tensor) multiplied by it; the class logits of those C masked
 * inputs (batched forward passes) are softmax-ed over the channels into weights w, and the map is
 * ReLU(Σ_c w_c A_c). No gradients. Cost: one forward pass per channel per layer, so it is slow on
 * every layer of a real model; pass `layers` to pick some. With a `target` (the callable NAFlow takes)
 * each masked input is scored by Σ score ⊙ seed, the seed taken at the unmasked input: exactly the
 * target for one linear in the score (a class logit, a similarity's Σ_d w_d q_d with w held fixed).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { forward } from '../engine/execute.js';
import { nativeForwardFor } from '../engine/native-graph.js';
import { seedFor } from '../structure/index.js';
import type { AttributionMaps, AttributionMethod, MethodRunOptions } from '../structure/method.js';
import { camLayers } from './pipeline.js';

export interface ScoreCamOptions extends MethodRunOptions {
  /** masked inputs per forward pass (default 16, as pytorch-grad-cam) */
  batch?: number;
}

export function scoreCamFlow(model: Model, input: tf.Tensor, options: ScoreCamOptions = {}): AttributionMaps {
  const graph = model.graph;
  const { scoreTensor, trunkEnd, names } = camLayers(model, options);
  // a model exported with a fixed batch size takes the masked inputs that many at a time
  const fixed = graph.inputs[0]?.shape[0];
  const batch = fixed && fixed > 0 ? fixed : (options.batch ?? 16);
  const wanted = new Set(names);
  const record = forward(model, input, { record: (t) => wanted.has(t), outputs: [scoreTensor, ...names] });
  try {
    const score = record.get(scoreTensor);
    const { seed, classIndex, value } = seedFor(score, options);
    // the explained scalar of a batch of masked inputs: Σ score ⊙ seed per input (a class logit for a one-hot)
    const seedValues = seed.dataSync() as Float32Array;
    seed.dispose();
    const explained = (s: ArrayLike<number>, n: number): number[] => {
      const per = s.length / n;
      return Array.from({ length: n }, (_, i) => {
        let v = 0;
        for (let j = 0; j < per; j++) v += s[i * per + j] * seedValues[j];
        return v;
      });
    };
    const [, H, W] = input.shape;
    const layers = names.map((name, li) => {
      const a = record.get(name) as tf.Tensor4D;
      const [, h, w, c] = a.shape;
      // masks [C, H, W, 1]: channel-major so a slice of channels is a batch of masks
      const masks = tf.tidy(() => {
        const up = tf.image.resizeBilinear(a, [H, W], true);
        const mn = tf.min(up, [1, 2], true),
          mx = tf.max(up, [1, 2], true);
        const norm = tf.div(tf.sub(up, mn), tf.add(tf.sub(mx, mn), 1e-8));
        return tf.expandDims(tf.squeeze(tf.transpose(norm, [3, 1, 2, 0]), [3]), 3);
      });
      const logits: number[] = [];
      try {
        for (let k = 0; k < c; k += batch) {
          const n = Math.min(batch, c - k);
          // one onnxruntime session for the whole forward pass where every op has an ONNX form
          const native = nativeForwardFor(model, [scoreTensor], [n, ...input.shape.slice(1)]);
          if (typeof native !== 'string') {
            const x = tf.tidy(() => tf.mul(input, tf.slice(masks, [k, 0, 0, 0], [n, H, W, 1])));
            const s = native.run(x.dataSync() as Float32Array)[0];
            x.dispose();
            logits.push(...explained(s, n));
            continue;
          }
          const out = tf.tidy(() => {
            const x = tf.mul(input, tf.slice(masks, [k, 0, 0, 0], [n, H, W, 1]));
            const rec = forward(model, x, { outputs: [scoreTensor] });
            try {
              return rec.get(scoreTensor).dataSync();
            } finally {
              rec.dispose();
            }
          });
          logits.push(...explained(out, n));
        }
      } finally {
        masks.dispose();
      }
      const map = tf.tidy(() => {
        const weights = tf.softmax(tf.tensor1d(logits));
        return new Float32Array(tf.relu(tf.sum(tf.mul(tf.reshape(a, [h, w, c]), weights), -1)).dataSync());
      });
      options.onLayer?.(li + 1, names.length, name);
      return { name, shape: [h, w, c] as [number, number, number], map };
    });
    return { scoreTensor, trunkEnd, classIndex, score: value, layers };
  } finally {
    record.dispose();
  }
}

export const scoreCam: AttributionMethod = {
  id: 'scorecam',
  label: 'Score-CAM',
  space: 'layer',
  description: 'Wang et al. 2020: channel weights from the scores of the input masked by each channel (forward passes only; slow on every layer)',
  // one forward pass per channel per layer: too slow to offer beside every explanation
  comparable: false,
  slow: true,
  run: (model, input, options) => scoreCamFlow(model, input, options),
};
