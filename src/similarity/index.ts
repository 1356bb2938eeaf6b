export {
  METRICS,
  WEIGHTINGS,
  DEFAULT_WEIGHTING,
  similarity,
  decompose,
  contributionWeights,
  similarityGradient,
  topDimensions,
  type Metric,
  type Weighting,
  type Decomposition,
} from '../metrics/embedding-metric.js';
export { SimilarityError, embed, embeddingTensorOf, imageFiles, readLabelledFolder, type LabelledClass } from './embed.js';
export {
  retrievalTarget,
  prototypeTarget,
  knnTarget,
  mean,
  type Reference,
  type SimilarityDecision,
  type SimilarityTarget,
  type SupportClass,
  type BankLike,
  type KnnOptions,
} from './targets.js';
export { buildBank, saveBank, loadBank, BANK_FORMAT, type Bank } from './bank.js';
export { explainSimilarity, similaritySeed, type SimilarityOptions, type SimilarityInfo, type SimilarityResult } from './explain-similarity.js';
export { retrievalPrecisionAt1, fewShotAccuracy, knnAccuracy, type RetrievalReport, type Episode } from './evaluate.js';
export { detectFaces, cropBestFace, loadFaceDetector, findFaceDetector, type FaceBox } from './faces.js';
