/**
 * The three ways a similarity model decides (docs/spec.md §6 step 1), each a small target object: given the
 * query embedding it returns the decision and the references r_j whose similarity is explained.
 *   retrieval  one reference, or the top-1 of a gallery ranked by the metric
 *   few-shot   class prototypes (mean support embedding); the nearest prototype is the decision
 *   k-NN       a memory bank: weighted k-NN (Wu et al. 2018: votes exp(s/τ) over the k nearest);
 *              the references are the k nearest that carry the predicted label
 */
import { similarity, type Metric } from '../metrics/embedding-metric.js';
import { SimilarityError } from './embed.js';

export interface Reference {
  embedding: Float32Array;
  /** class label (few-shot prototype, bank item) */
  label?: string;
  /** the image the embedding came from (absent for prototypes) */
  file?: string;
  /** similarity to the query under the target's metric */
  similarity?: number;
}

export interface SimilarityDecision {
  kind: 'retrieval' | 'few-shot' | 'knn';
  /** the decided label (few-shot, k-NN) or the retrieved file (retrieval) */
  label: string | null;
  /** index of the label among the target's classes (-1 for retrieval) */
  classIndex: number;
  /** the references the explanation compares the query with */
  references: Reference[];
  /** per candidate: retrieval ranking (top 10), prototype similarities, or k-NN votes */
  candidates: { label: string | null; file?: string; score: number }[];
}

export interface SimilarityTarget {
  readonly kind: SimilarityDecision['kind'];
  readonly metric: Metric;
  decide(query: Float32Array): SimilarityDecision;
}

function checkDim(query: Float32Array, ref: Float32Array, what: string): void {
  if (query.length !== ref.length)
    throw new SimilarityError(
      `the query embedding has ${query.length} dimensions but ${what} has ${ref.length}: were they made by the same model and embedding tensor?`,
    );
}

/** Retrieval / verification: one reference, or the best of a gallery. */
export function retrievalTarget(gallery: Reference[], metric: Metric = 'cosine'): SimilarityTarget {
  if (!gallery.length) throw new SimilarityError('retrieval needs at least one reference image');
  return {
    kind: 'retrieval',
    metric,
    decide(query) {
      const ranked = gallery
        .map((r, i) => {
          checkDim(query, r.embedding, `reference ${r.file ?? i}`);
          return { r, s: similarity(query, r.embedding, metric), i };
        })
        .sort((a, b) => b.s - a.s || a.i - b.i);
      const best = ranked[0];
      return {
        kind: 'retrieval',
        label: best.r.label ?? best.r.file ?? null,
        classIndex: -1,
        references: [{ ...best.r, similarity: best.s }],
        candidates: ranked.slice(0, 10).map((x) => ({ label: x.r.label ?? null, file: x.r.file, score: x.s })),
      };
    },
  };
}

export interface SupportClass {
  label: string;
  embeddings: Float32Array[];
}

/** Mean of equal-length vectors. */
export function mean(vectors: Float32Array[]): Float32Array {
  const out = new Float32Array(vectors[0].length);
  for (const v of vectors) for (let d = 0; d < out.length; d++) out[d] += v[d] / vectors.length;
  return out;
}

/** Few-shot: prototypes from a support set; default metric: negative squared Euclidean (ProtoNet). */
export function prototypeTarget(support: SupportClass[], metric: Metric = 'euclidean'): SimilarityTarget {
  if (!support.length) throw new SimilarityError('few-shot classification needs a support set with at least one class');
  const empty = support.filter((c) => !c.embeddings.length);
  if (empty.length)
    throw new SimilarityError(
      `support class${empty.length > 1 ? 'es' : ''} ${empty.map((c) => `'${c.label}'`).join(', ')} ha${empty.length > 1 ? 've' : 's'} no images`,
    );
  const prototypes = support.map((c) => ({ label: c.label, embedding: mean(c.embeddings) }));
  return {
    kind: 'few-shot',
    metric,
    decide(query) {
      const scores = prototypes.map((p) => {
        checkDim(query, p.embedding, `the prototype of '${p.label}'`);
        return similarity(query, p.embedding, metric);
      });
      let best = 0;
      for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
      return {
        kind: 'few-shot',
        label: prototypes[best].label,
        classIndex: best,
        references: [{ embedding: prototypes[best].embedding, label: prototypes[best].label, similarity: scores[best] }],
        candidates: prototypes.map((p, i) => ({ label: p.label, score: scores[i] })),
      };
    },
  };
}

export interface BankLike {
  /** one embedding per item */
  embeddings: Float32Array[];
  /** the item's class index into `labels` */
  itemLabels: Int32Array | number[];
  labels: string[];
  files?: string[];
}

export interface KnnOptions {
  k?: number;
  temperature?: number;
  metric?: Metric;
}

/** Contrastive classification: weighted k-NN over a memory bank. Defaults k = 20, τ = 0.07, cosine. */
export function knnTarget(bank: BankLike, options: KnnOptions = {}): SimilarityTarget {
  const k = options.k ?? 20;
  const tau = options.temperature ?? 0.07;
  const metric = options.metric ?? 'cosine';
  if (!Number.isInteger(k) || k < 1) throw new SimilarityError(`k must be a positive integer, got ${k}`);
  if (!(tau > 0)) throw new SimilarityError(`the k-NN temperature must be > 0, got ${tau}`);
  if (!bank.embeddings.length) throw new SimilarityError('the memory bank is empty');
  return {
    kind: 'knn',
    metric,
    decide(query) {
      checkDim(query, bank.embeddings[0], 'the memory bank');
      const sims = bank.embeddings.map((e, i) => ({ s: similarity(query, e, metric), i }));
      sims.sort((a, b) => b.s - a.s || a.i - b.i);
      const top = sims.slice(0, Math.min(k, sims.length));
      const votes = new Float64Array(bank.labels.length);
      for (const t of top) votes[bank.itemLabels[t.i]] += Math.exp(t.s / tau);
      let best = 0;
      for (let c = 1; c < votes.length; c++) if (votes[c] > votes[best]) best = c;
      const refs = top
        .filter((t) => bank.itemLabels[t.i] === best)
        .map((t) => ({ embedding: bank.embeddings[t.i], label: bank.labels[best], file: bank.files?.[t.i], similarity: t.s }));
      return {
        kind: 'knn',
        label: bank.labels[best],
        classIndex: best,
        references: refs,
        candidates: bank.labels
          .map((label, c) => ({ label, score: votes[c] }))
          .filter((c) => c.score > 0)
          .sort((a, b) => b.score - a.score),
      };
    },
  };
}
