/** LayerCAM (Jiang et al. 2021): map = ReLU(Σ_c ReLU(G_c) ⊙ A_c), per position. */
import * as tf from '@tensorflow/tfjs-core';
import { channelSum, type CamMethod } from './core.js';

export const layerCamMap: CamMethod = (a, g) => tf.relu(channelSum(tf.mul(tf.relu(g), a)));
