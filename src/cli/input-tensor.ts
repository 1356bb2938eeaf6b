/**
 * `--input-tensor x.npy`: a preprocessed input in the model's own layout, for `explain` and `predict`
 * (to compare naflow with another framework on exactly the same numbers).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import { readNpy, npyToFloat32 } from '../node/npy-file.js';
import { UsageError } from './common.js';

export /** A preprocessed tensor from .npy, converted to NHWC when the model's own layout is NCHW. */
function tensorFromNpy(file: string, model: Model): tf.Tensor {
  let arr: ReturnType<typeof readNpy>;
  try {
    arr = readNpy(file);
  } catch (e) {
    // a missing, unreadable or malformed .npy is bad input (exit 1), not an internal error
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${file}: no such file`);
    throw new UsageError(code ? `${file}: cannot read it (${code})` : (e as Error).message);
  }
  const data = npyToFloat32(arr);
  // NaN or ±Infinity would make every map NaN: say which value, not only that the score is not a number
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new UsageError(`${file}: holds non-finite values (the first, ${data[bad]}, at flat index ${bad}); an input tensor must hold finite numbers`);
  const layout = model.card.layout ?? (model.graph.format === 'onnx' ? 'NCHW' : 'NHWC');
  const want = model.inputs[0].shape;
  let shape = arr.shape.slice();
  if (shape.length === 3) shape = [1, ...shape];
  if (shape.length !== 4) throw new UsageError(`${file}: expected a rank-3 or rank-4 tensor, got shape [${arr.shape.join(', ')}]`);
  const t = tf.tensor4d(data, shape as [number, number, number, number]);
  const nhwc = layout === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t;
  if (nhwc !== t) t.dispose();
  const ok = want.every((d, i) => d < 0 || d === nhwc.shape[i]);
  if (!ok) {
    const got = nhwc.shape.join(', ');
    nhwc.dispose();
    throw new UsageError(
      `${file}: the model expects an input of shape [${want.join(', ')}] (NHWC; the file is read as ${layout}), got [${got}] after conversion`,
    );
  }
  return nhwc;
}
