/** The neutral module every attribution method shares: model structure, targets, and the one result type. */
export { checkNamedTensor, findScoreTensor, findTrunkEnd, rank4, trunkTensorOrder } from './trunk.js';
export { checkClassIndex, seedFor, type Target } from './target.js';
