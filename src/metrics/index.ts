export { makeScorer, deletionInsertion, confidenceChange, averageDropIncrease, gaussianBlur, pixelOrder, trapezoid, upsample, type Scorer, type ScorerOptions, type Curve, type CurveOptions, type ConfidenceChange } from './faithfulness.js';
export { pointingHit, centreHit, energyInBoxes, boxAreaShare, argmaxPoint, type Box } from './pointing.js';
export { randomizedModel, type RandomizeOptions } from './sanity.js';
export { spearman, ranks } from './rank.js';
export { makeEmbedder, retrievalSpecificity, type Embedder, type EmbedderOptions, type Specificity, type SpecificityOptions } from './retrieval-faithfulness.js';
