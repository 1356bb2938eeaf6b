/** TF FusedBatchNorm (inference) → naflow BatchNormalization. */
import { attrFloat } from './attrs.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';

const batchNorm: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  g.requireNHWC(n);
  const [, scale, offset, mean, variance] = ins;
  g.final(n, 'BatchNormalization', [x.name, ...[scale, offset, mean, variance].map((v) => g.constRef(v))], { epsilon: attrFloat(n, 'epsilon', 1e-3) }, xs);
  return true;
};

export const NORMALIZATION_HANDLERS: TfGraphHandlerTable = {
  FusedBatchNorm: batchNorm,
  FusedBatchNormV2: batchNorm,
  FusedBatchNormV3: batchNorm,
};
