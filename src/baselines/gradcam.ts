/** Grad-CAM (Selvaraju et al. 2017): w_c = mean_hw G_c; map = ReLU(Σ_c w_c A_c). */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';
import { camMethod } from './pipeline.js';

export const gradCamMap: CamMethod = (a, g) => {
  const weights = tf.mean(g, [1, 2], true); // [1, 1, 1, C]
  return tf.relu(channelSum(tf.mul(a, weights)));
};

export const gradCam = camMethod({
  id: 'gradcam',
  label: 'Grad-CAM',
  description: 'Selvaraju et al. 2017: channel weights = the spatial mean of the gradient',
  map: gradCamMap,
});
