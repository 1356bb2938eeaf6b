/** LayerCAM (Jiang et al. 2021): map = ReLU(Σ_c ReLU(G_c) ⊙ A_c), per position. */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';
import { camMethod } from './pipeline.js';

export const layerCamMap: CamMethod = (a, g) => tf.relu(channelSum(tf.mul(tf.relu(g), a)));

export const layerCam = camMethod({
  id: 'layercam',
  label: 'LayerCAM',
  description: 'Jiang et al. 2021: the positive gradient times the activation, per position',
  map: layerCamMap,
});
