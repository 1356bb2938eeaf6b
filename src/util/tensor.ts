import * as tf from '@tensorflow/tfjs-core';

/**
 * The values of the tensor `build` makes (inside a tf.tidy) as a Float32Array of its own; nothing stays
 * allocated. Not `tf.tidy(() => new Float32Array(t.dataSync()))`: tidy walks a returned typed array
 * element by element looking for tensors (52 ms per VGG16 flow in the maps alone).
 */
export function valuesOf(build: () => tf.Tensor): Float32Array {
  const t = tf.tidy(build);
  try {
    return new Float32Array(t.dataSync());
  } finally {
    t.dispose();
  }
}
