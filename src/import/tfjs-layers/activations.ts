/** Keras activations (as `activation=` of a layer, or Activation / ReLU / LeakyReLU / PReLU / Softmax layers). */
import { CLIP_INF, normAxis } from '../tfjs-common.js';
import { isObject } from '../json-check.js';
import type { Chain } from './chain.js';
import type { LayerHandlerTable } from './handler.js';
import type { LayersImporter } from './importer.js';

/** Keras' SELU constants (keras.activations.selu). */
const SELU_ALPHA = 1.6732632423543772;
const SELU_GAMMA = 1.0507009873554805;

/**
 * Emit the nodes of a Keras activation. `standalone`: an `Activation` layer (linear then becomes an
 * Identity node so the layer stays visible); otherwise linear emits nothing.
 */
export function activation(im: LayersImporter, c: Chain, x: string, act: unknown, standalone: boolean): string {
  const xs = im.shape(x);
  const named = isObject(act) ? ((isObject(act.config) ? act.config.name : undefined) ?? act.class_name) : undefined;
  const name = String(typeof act === 'string' ? act : (named ?? 'linear')).toLowerCase();
  // activations without an op rule in naflow are named in "unsupported op" messages by their Keras form
  const source = standalone ? `Activation('${name}')` : `${c.cls}(activation='${name}')`;
  switch (name) {
    case 'linear':
    case 'none':
      return standalone ? c.emit('identity', 'Identity', [x], {}, xs) : x;
    case 'relu':
      return c.emit('relu', 'Relu', [x], {}, xs);
    case 'relu6':
      return c.emit('relu6', 'Clip', [x], { min: 0, max: 6 }, xs);
    case 'sigmoid':
      return c.emit('sigmoid', 'Sigmoid', [x], {}, xs);
    case 'hard_sigmoid':
      // Keras 2: clip(0.2·x + 0.5, 0, 1)
      return c.emit('hard_sigmoid', 'HardSigmoid', [x], { alpha: 0.2, beta: 0.5 }, xs);
    case 'tanh':
      return c.emit('tanh', 'Tanh', [x], {}, xs);
    case 'softmax':
      return c.emit('softmax', 'Softmax', [x], { axis: xs ? xs.length - 1 : -1 }, xs);
    case 'swish':
    case 'silu': {
      const s = c.emit('sigmoid', 'Sigmoid', [x], {}, xs);
      return c.emit('swish', 'Mul', [x, s], {}, xs);
    }
    case 'hard_swish':
    case 'hard_silu':
      return c.emit('hard_swish', 'HardSwish', [x], {}, xs);
    case 'elu':
      return c.emit('elu', 'Elu', [x], { alpha: 1 }, xs, source);
    case 'selu':
      return c.emit('selu', 'Selu', [x], { alpha: SELU_ALPHA, gamma: SELU_GAMMA }, xs, source);
    case 'softplus':
      return c.emit('softplus', 'Softplus', [x], {}, xs, source);
    case 'gelu':
      // keras.activations.gelu(x, approximate=False), tfjs-layers' 'gelu'
      return c.emit('gelu', 'Gelu', [x], { approximate: 'none' }, xs, source);
    case 'gelu_new':
      // tfjs-layers' tanh approximation
      return c.emit('gelu', 'Gelu', [x], { approximate: 'tanh' }, xs, source);
    default: {
      // No canonical op: keep a node the engine reports as unsupported, naming the activation.
      const op = name.charAt(0).toUpperCase() + name.slice(1);
      return c.emit(name, op, [x], {}, xs, source);
    }
  }
}

export const ACTIVATION_HANDLERS: LayerHandlerTable = {
  Activation: ({ im, c, x, cfg }) => activation(im, c, x, cfg.get('activation'), true),
  ReLU: ({ im, c, cls, cfg, x, xs }) => {
    const thr = cfg.num('threshold', 0);
    if (thr !== 0) throw im.unsupported(c, cls, `threshold ${thr} (only 0 is supported)`);
    const slope = cfg.num('negative_slope', 0);
    const maxv = cfg.optNum('max_value');
    let y = x;
    if (slope !== 0) y = c.emit('leaky', 'LeakyRelu', [y], { alpha: slope }, xs);
    if (maxv !== undefined) y = c.emit('clip', 'Clip', [y], { min: slope !== 0 ? -CLIP_INF : 0, max: maxv }, xs);
    if (y === x) y = c.emit('relu', 'Relu', [x], {}, xs);
    return y;
  },
  LeakyReLU: ({ c, cfg, x, xs }) => c.emit('leaky', 'LeakyRelu', [x], { alpha: cfg.optNum('alpha') ?? cfg.num('negative_slope', 0.3) }, xs),
  PReLU: ({ im, c, layer, prefix, x, xs }) => c.emit('prelu', 'PRelu', [x, im.weight(layer, prefix, 'alpha', true)], {}, xs),
  Softmax: ({ c, cfg, x, xs, rank }) => {
    const axis = Array.isArray(cfg.get('axis')) ? cfg.numList('axis')[0] : cfg.num('axis', -1);
    return c.emit('softmax', 'Softmax', [x], { axis: normAxis(axis, rank) }, xs);
  },
};
