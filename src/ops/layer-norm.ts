/**
 * LayerNormalization (Ba et al. 2016; ONNX LayerNormalization of opset 17, PyTorch nn.LayerNorm, Keras
 * LayerNormalization): over the trailing storage axes [axis, rank), per position,
 *   μ = mean(x), s = √(mean((x − μ)²) + ε), x̂ = (x − μ)/s, y = x̂·γ + β
 * with γ, β (optional) shaped as those trailing axes. On a naflow NHWC tensor with axis 3 this is
 * ConvNeXt's LayerNorm over channels at every pixel.
 *
 * VJP (γ, β are constants): with g = dy·γ, dx = (g − mean(g) − x̂·mean(g·x̂))/s. The Jacobian is
 * symmetric in x, so the JVP is the same formula applied to the tangent, then scaled by γ.
 *
 * Its place is 'head' (see the rule's roles); inside the trunk it is inverted as any layer.
 *
 * NAFlow inverse (docs/spec.md §5, as BatchNorm's): exact given the recorded per-position μ and s —
 * the layer is then a per-position affine map, inverted as B_in = A_in + (B_out − A_out)·s/γ
 * (= (B_out − β)/γ·s + μ, written as a correction so that B_out = A_out gives A_in bit for bit); an
 * element whose |γ| is below 1e-12 keeps its forward input.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerOp, type OpContext } from './registry.js';
import { hasInput, sameShape } from './util.js';

export interface LayerNormalizationAttrs {
  /** first normalised storage axis (≥ 0): statistics over [axis, rank) */
  axis: number;
  epsilon: number;
}

declare module '../ir/graph.js' {
  interface OpAttrMap {
    LayerNormalization: LayerNormalizationAttrs;
  }
}

/** A γ below this keeps the forward input in the inverse. */
const MIN_SCALE = 1e-12;

/** The trailing axes the statistics run over. */
function axesOf(x: tf.Tensor, ctx: OpContext<'LayerNormalization'>): number[] {
  const a = ctx.node.attrs.axis;
  return Array.from({ length: x.rank - a }, (_, k) => a + k);
}

/** x̂ and s at the recorded point (call inside a tidy). */
function normalise(x: tf.Tensor, ctx: OpContext<'LayerNormalization'>): { xhat: tf.Tensor; s: tf.Tensor } {
  const axes = axesOf(x, ctx);
  const d = tf.sub(x, tf.mean(x, axes, true));
  const s = tf.sqrt(tf.add(tf.mean(tf.square(d), axes, true), ctx.node.attrs.epsilon));
  return { xhat: tf.div(d, s), s };
}

/** (v − mean(v) − x̂·mean(v·x̂))/s: the Jacobian of x̂ applied to v. */
function centredStep(v: tf.Tensor, xhat: tf.Tensor, s: tf.Tensor, axes: number[]): tf.Tensor {
  const centred = tf.sub(tf.sub(v, tf.mean(v, axes, true)), tf.mul(xhat, tf.mean(tf.mul(v, xhat), axes, true)));
  return tf.div(centred, s);
}

const scaleOf = (inputs: tf.Tensor[], ctx: OpContext<'LayerNormalization'>) => (hasInput(ctx, 1) ? inputs[1] : undefined);

registerOp({
  op: 'LayerNormalization',
  inverseRule: 'exact per-position affine inverse (recorded mean and deviation)',
  // ConvNeXt's classifier normalises the pooled 1×1 features before the Linear: the trunk-end search
  // walks back through it, as through the pooling (inside the trunk it is inverted like any trunk op)
  roles: { place: 'head' },
  activationInputs: () => [0],
  forward: (inputs, ctx) => [
    tf.tidy(() => {
      const { xhat } = normalise(inputs[0], ctx);
      const gamma = scaleOf(inputs, ctx);
      const scaled = gamma ? tf.mul(xhat, gamma) : xhat;
      return hasInput(ctx, 2) ? tf.add(scaled, inputs[2]) : scaled;
    }),
  ],
  vjp: ({ inputs, dys }, ctx) => {
    const dy = dys[0];
    const dx = dy
      ? tf.tidy(() => {
          const { xhat, s } = normalise(inputs[0], ctx);
          const gamma = scaleOf(inputs, ctx);
          return centredStep(gamma ? tf.mul(dy, gamma) : dy, xhat, s, axesOf(inputs[0], ctx));
        })
      : null;
    return [dx, ...inputs.slice(1).map(() => null)];
  },
  jvp: ({ inputs, outputs, tangents }, ctx) => [
    tf.tidy(() => {
      const t = tangents[0];
      if (!t) return tf.zeros(outputs[0].shape);
      const { xhat, s } = normalise(inputs[0], ctx);
      const gamma = scaleOf(inputs, ctx);
      const step = centredStep(t, xhat, s, axesOf(inputs[0], ctx));
      return gamma ? tf.mul(step, gamma) : step;
    }),
  ],
  inverse: ({ inputs, outputs, bOut }, ctx) => {
    const bo = bOut[0];
    const b: Array<tf.Tensor | null> = inputs.map(() => null);
    if (!bo) return { b };
    b[0] = tf.tidy(() => {
      const { s } = normalise(inputs[0], ctx);
      const gamma = scaleOf(inputs, ctx) ?? tf.scalar(1);
      const ok = tf.greaterEqual(tf.abs(gamma), MIN_SCALE);
      const safe = tf.where(ok, gamma, tf.onesLike(gamma));
      const step = tf.mul(tf.div(tf.sub(bo, outputs[0]), safe), s);
      return tf.add(inputs[0], tf.mul(step, tf.cast(ok, 'float32')));
    });
    return { b };
  },
  inferShape: sameShape,
});
