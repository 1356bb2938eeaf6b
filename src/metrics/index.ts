import { deletionMetric, insertionMetric, dropMetric } from './faithfulness.js';
import { pointingMetric, energyMetric } from './pointing.js';
import { sanityMetric } from './sanity.js';
import { registerMetric } from './registry.js';

// the built-in metrics, in the order eval, its tables and plots list them
for (const metric of [deletionMetric, insertionMetric, dropMetric, pointingMetric, energyMetric, sanityMetric]) registerMetric(metric);

export { registerMetric, listMetrics, getMetric, metricValues, type EvalMetric, type MetricInput, type MetricValue } from './registry.js';
export {
  makeScorer,
  deletionInsertion,
  confidenceChange,
  averageDropIncrease,
  gaussianBlur,
  pixelOrder,
  trapezoid,
  upsample,
  type Scorer,
  type ScorerOptions,
  type Curve,
  type CurveOptions,
  type ConfidenceChange,
} from './faithfulness.js';
export { pointingHit, centreHit, energyInBoxes, boxAreaShare, argmaxPoint, type Box } from './pointing.js';
export { randomizedModel, sanityStages, weightLayerCount, type RandomizeOptions, type SanityStage } from './sanity.js';
export { spearman, ranks } from './rank.js';
export {
  makeEmbedder,
  retrievalSpecificity,
  type Embedder,
  type EmbedderOptions,
  type Specificity,
  type SpecificityOptions,
} from './retrieval-faithfulness.js';
