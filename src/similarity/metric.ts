/**
 * Channel-wise decomposition of a similarity (spec §6 steps 2–3): s = Σ_d p_d, and the channel
 * contribution weights w_d = p_d / |s| rescaled to [0, 1].
 *
 * [decision] The paper's exact formula is not published; this follows the same authors' FAM/DAAM:
 *   cosine     p_d = (1/K) Σ_j q̂_d r̂_{j,d}        (q̂, r̂ unit vectors; s = mean cosine similarity)
 *   dot        p_d = (1/K) Σ_j q_d r_{j,d}
 *   euclidean  p_d = −(1/K) Σ_j (q_d − r_{j,d})²    (negative squared distance, ProtoNet's score)
 * With K references r_1..r_K. The weights are min–max rescaled: the dimension that adds most to
 * the similarity gets 1, the one that adds least (or takes most away) gets 0; all ones when every
 * p_d is equal. Dividing by |s| first does not change the rescaled weights (it is a positive
 * factor) and is skipped when s = 0.
 */

export type Metric = 'cosine' | 'dot' | 'euclidean';
export const METRICS: readonly Metric[] = ['cosine', 'dot', 'euclidean'];

export interface Decomposition {
  /** the similarity s = Σ_d p_d (mean over the references) */
  similarity: number;
  /** per-dimension contributions p_d */
  contributions: Float64Array;
  /** channel contribution weights w_d in [0, 1] */
  weights: Float32Array;
}

function unit(v: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

/** s between two embeddings under a metric (cosine similarity, dot product, −‖q − r‖²). */
export function similarity(q: ArrayLike<number>, r: ArrayLike<number>, metric: Metric): number {
  if (q.length !== r.length) throw new Error(`similarity: embeddings of different lengths (${q.length} and ${r.length})`);
  let s = 0;
  if (metric === 'euclidean') {
    for (let i = 0; i < q.length; i++) s -= (q[i] - r[i]) ** 2;
    return s;
  }
  if (metric === 'dot') {
    for (let i = 0; i < q.length; i++) s += q[i] * r[i];
    return s;
  }
  const a = unit(q), b = unit(r);
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** p_d for the query against K references, their sum s, and the weights w. */
export function decompose(q: ArrayLike<number>, refs: ArrayLike<number>[], metric: Metric): Decomposition {
  if (!refs.length) throw new Error('decompose: at least one reference embedding is needed');
  const D = q.length;
  for (const r of refs) if (r.length !== D) throw new Error(`decompose: the query embedding has ${D} dimensions, a reference has ${r.length}`);
  const p = new Float64Array(D);
  const K = refs.length;
  const qq = metric === 'cosine' ? unit(q) : q;
  for (const r of refs) {
    const rr = metric === 'cosine' ? unit(r) : r;
    for (let d = 0; d < D; d++) p[d] += metric === 'euclidean' ? -((qq[d] - rr[d]) ** 2) / K : (qq[d] * rr[d]) / K;
  }
  let s = 0;
  for (let d = 0; d < D; d++) s += p[d];
  return { similarity: s, contributions: p, weights: contributionWeights(p, s) };
}

/** w_d = p_d / |s|, min–max rescaled to [0, 1]; all ones when p is constant. */
export function contributionWeights(p: ArrayLike<number>, s: number): Float32Array {
  const scale = s !== 0 && Number.isFinite(s) ? 1 / Math.abs(s) : 1;
  let lo = Infinity, hi = -Infinity;
  for (let d = 0; d < p.length; d++) {
    const v = p[d] * scale;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const w = new Float32Array(p.length);
  if (!(hi > lo)) return w.fill(1);
  for (let d = 0; d < p.length; d++) w[d] = (p[d] * scale - lo) / (hi - lo);
  return w;
}

/** The n dimensions with the largest weights: index, weight and contribution p_d. */
export function topDimensions(dec: Decomposition, n = 10): { dim: number; weight: number; contribution: number }[] {
  const idx = Array.from(dec.weights.keys()).sort((a, b) => dec.weights[b] - dec.weights[a] || a - b);
  return idx.slice(0, n).map((d) => ({ dim: d, weight: dec.weights[d], contribution: dec.contributions[d] }));
}
