/**
 * Accuracy of similarity models, computed from embeddings with the same targets the explanations use:
 * leave-one-out retrieval precision@1, few-shot episodes (nearest prototype), weighted k-NN.
 */
import { similarity, type Metric } from '../metrics/embedding-metric.js';
import { knnTarget, prototypeTarget } from './targets.js';

export interface RetrievalReport {
  /** queries that have at least one other item of their class in the gallery */
  queries: number;
  /** share of those whose nearest other item has the same class (micro average) */
  precisionAt1: number;
  /** mean over classes of their queries' precision@1 (macro average) */
  precisionAt1ByClass: number;
  classes: number;
}

/** Every item queries all the others (leave-one-out); items alone in their class are not queries. */
export function retrievalPrecisionAt1(embeddings: Float32Array[], labels: string[], metric: Metric = 'cosine'): RetrievalReport {
  const count = new Map<string, number>();
  for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
  const perClass = new Map<string, { hit: number; n: number }>();
  let hits = 0,
    queries = 0;
  embeddings.forEach((q, i) => {
    if ((count.get(labels[i]) ?? 0) < 2) return;
    let best = -1,
      bestS = -Infinity;
    embeddings.forEach((r, j) => {
      if (j === i) return;
      const s = similarity(q, r, metric);
      if (s > bestS) (bestS = s), (best = j);
    });
    const hit = labels[best] === labels[i] ? 1 : 0;
    hits += hit;
    queries++;
    const c = perClass.get(labels[i]) ?? { hit: 0, n: 0 };
    c.hit += hit;
    c.n++;
    perClass.set(labels[i], c);
  });
  const classP = [...perClass.values()].map((c) => c.hit / c.n);
  return { queries, precisionAt1: hits / queries, precisionAt1ByClass: classP.reduce((a, b) => a + b, 0) / classP.length, classes: perClass.size };
}

export interface Episode {
  /** support embeddings per class */
  support: { label: string; embeddings: Float32Array[] }[];
  queries: { embedding: Float32Array; label: string }[];
}

/** Share of correctly classified queries over few-shot episodes (nearest prototype). */
export function fewShotAccuracy(episodes: Episode[], metric: Metric = 'euclidean'): { accuracy: number; perEpisode: number[] } {
  let hit = 0,
    n = 0;
  const perEpisode = episodes.map((ep) => {
    const target = prototypeTarget(ep.support, metric);
    let h = 0;
    for (const q of ep.queries) h += target.decide(q.embedding).label === q.label ? 1 : 0;
    hit += h;
    n += ep.queries.length;
    return h / ep.queries.length;
  });
  return { accuracy: hit / n, perEpisode };
}

/** Weighted k-NN accuracy of queries against a bank (k = 20, τ = 0.07, cosine by default). */
export function knnAccuracy(
  bank: { embeddings: Float32Array[]; labels: string[] },
  queries: { embeddings: Float32Array[]; labels: string[] },
  options: { k?: number; temperature?: number; metric?: Metric } = {},
): number {
  const classes = [...new Set(bank.labels)].sort();
  const target = knnTarget({ embeddings: bank.embeddings, itemLabels: bank.labels.map((l) => classes.indexOf(l)), labels: classes }, options);
  let hit = 0;
  queries.embeddings.forEach((q, i) => (hit += target.decide(q).label === queries.labels[i] ? 1 : 0));
  return hit / queries.embeddings.length;
}
