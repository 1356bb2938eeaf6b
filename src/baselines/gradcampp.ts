/**
 * Grad-CAM++ (Chattopadhay et al. 2018, eq. 19 with the exponential-score trick), computed as
 * pytorch-grad-cam's GradCAMPlusPlus.get_cam_weights does:
 *   α = G² / (2G² + (Σ_hw A)·G³ + 1e-6), α = 0 where G = 0;  w_c = Σ_hw max(G, 0)·α;  map = ReLU(Σ_c w_c A_c).
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';
import { camMethod } from './pipeline.js';

const EPS = 1e-6;

export const gradCamPlusPlusMap: CamMethod = (a, g) => {
  const g2 = tf.square(g);
  const g3 = tf.mul(g2, g);
  const sumA = tf.sum(a, [1, 2], true); // [1, 1, 1, C]
  const alpha = tf.div(g2, tf.add(tf.add(tf.mul(g2, 2), tf.mul(sumA, g3)), EPS));
  const alphaKept = tf.where(tf.notEqual(g, 0), alpha, tf.zerosLike(alpha));
  const weights = tf.sum(tf.mul(tf.relu(g), alphaKept), [1, 2], true);
  return tf.relu(channelSum(tf.mul(a, weights)));
};

export const gradCamPlusPlus = camMethod({
  id: 'gradcampp',
  label: 'Grad-CAM++',
  description: 'Chattopadhay et al. 2018: channel weights from the positive gradients, α-weighted',
  map: gradCamPlusPlusMap,
});
