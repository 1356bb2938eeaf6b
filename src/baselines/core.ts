/** Shared pieces of the CAM methods. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * A CAM method: from a trunk activation A and its gradient G = ∂S/∂A (both NHWC [1, H, W, C]) the
 * raw map, H×W values (e.g. shape [H, W]). Called inside tf.tidy.
 */
export type CamMethod = (a: tf.Tensor4D, g: tf.Tensor4D) => tf.Tensor;

/** Σ_c over the channel axis of a batch-1 NHWC tensor, to [H, W]. */
export const channelSum = (t: tf.Tensor): tf.Tensor => tf.squeeze(tf.sum(t, -1), [0]);
