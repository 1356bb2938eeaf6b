/**
 * XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM"), as pytorch-grad-cam's XGradCAM computes it:
 *   w_c = Σ_hw G_c ⊙ A_c / (Σ_hw A_c + 1e-7);  map = ReLU(Σ_c w_c A_c).
 * Added as the worked example of docs/architecture.md: a CAM method is its formula and one line in
 * src/methods/index.ts; the shared pipeline does the rest.
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';
import { camMethod } from './pipeline.js';

const EPS = 1e-7;

export const xGradCamMap: CamMethod = (a, g) => {
  const weights = tf.div(tf.sum(tf.mul(g, a), [1, 2], true), tf.add(tf.sum(a, [1, 2], true), EPS)); // [1, 1, 1, C]
  return tf.relu(channelSum(tf.mul(a, weights)));
};

export const xGradCam = camMethod({
  id: 'xgradcam',
  label: 'XGrad-CAM',
  description: 'Fu et al. 2020: channel weights = Σ G⊙A / Σ A (gradients weighted by the normalised activation)',
  map: xGradCamMap,
});
