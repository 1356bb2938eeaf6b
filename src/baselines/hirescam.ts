/** HiResCAM (Draelos & Carin 2020): map = ReLU(Σ_c G_c ⊙ A_c), per position. */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';
import { camMethod } from './pipeline.js';

export const hiResCamMap: CamMethod = (a, g) => tf.relu(channelSum(tf.mul(g, a)));

export const hiResCam = camMethod({
  id: 'hirescam',
  label: 'HiResCAM',
  description: 'Draelos & Carin 2020: the gradient times the activation, per position',
  map: hiResCamMap,
});
