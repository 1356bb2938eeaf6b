/** TF activations (standalone, or fused into a conv/matmul) → naflow activation ops, PRelu and Softmax. */
import { GraphError } from '../../ir/graph.js';
import { attrFloat } from './attrs.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';
import type { TfGraphImporter } from './importer.js';
import type { TfNode } from './model-json.js';
import type { Val } from './values.js';

/** TF's fixed SELU constants (tf.nn.selu: scale·(x if x > 0 else alpha·(exp(x) − 1))). */
const SELU_ALPHA = 1.6732632423543772;
const SELU_GAMMA = 1.0507009873554805;

/** Activations a fused TF op may carry in `fused_ops` (others make the fused node an unknown op). */
export const FUSABLE_ACTIVATIONS = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh']);

/**
 * Emit a TF activation (standalone or fused) as canonical op(s); `last`: it carries the node's name.
 * `alpha`: Prelu's slope input.
 */
export function activation(g: TfGraphImporter, n: TfNode, act: string, x: string, alpha: Val | undefined, last: boolean): string {
  const xs = g.b.shapeOf(x);
  const emit = (op: string, inputs: string[], attrs: object) => (last ? g.final(n, op, inputs, attrs, xs) : g.step(n, op.toLowerCase(), op, inputs, attrs, xs));
  switch (act) {
    case 'Relu':
      return emit('Relu', [x], {});
    case 'Relu6':
      return emit('Clip', [x], { min: 0, max: 6 });
    case 'Sigmoid':
      return emit('Sigmoid', [x], {});
    case 'Tanh':
      return emit('Tanh', [x], {});
    case 'Elu':
      return emit('Elu', [x], { alpha: 1 });
    case 'Selu':
      return emit('Selu', [x], { alpha: SELU_ALPHA, gamma: SELU_GAMMA });
    case 'Softplus':
      return emit('Softplus', [x], {});
    case 'Erf':
      return emit('Erf', [x], {});
    case 'LeakyRelu':
      return emit('LeakyRelu', [x], { alpha: attrFloat(n, 'leakyrelu_alpha', attrFloat(n, 'alpha', 0.2)) });
    case 'Prelu':
      if (!alpha) throw new GraphError(`${g.source}: node '${n.name}' fuses Prelu without an alpha input`);
      return emit('PRelu', [x, g.constRef(alpha)], {});
    default:
      // no canonical op: kept so the engine names it as unsupported
      return emit(act, [x], {});
  }
}

const standalone: TfGraphHandler = (g, n, ins) => {
  const { x } = firstInput(g, ins);
  if (x.kind !== 'act') return false;
  activation(g, n, n.op, x.name, undefined, true);
  return true;
};

export const ACTIVATION_HANDLERS: TfGraphHandlerTable = {
  Relu: standalone,
  Relu6: standalone,
  Elu: standalone,
  Selu: standalone,
  Softplus: standalone,
  Erf: standalone,
  LeakyRelu: standalone,
  Sigmoid: standalone,
  Tanh: standalone,
  Prelu: (g, n, ins) => {
    const { x, xs } = firstInput(g, ins);
    if (x.kind !== 'act') return false;
    g.final(n, 'PRelu', [x.name, g.constRef(ins[1])], {}, xs);
    return true;
  },
  Softmax: (g, n, ins) => {
    const { x, xs, rank } = firstInput(g, ins);
    g.final(n, 'Softmax', [x.name], { axis: rank ? rank - 1 : -1 }, xs);
    return true;
  },
};
