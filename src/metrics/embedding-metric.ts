/**
 * Channel-wise decomposition of a similarity (docs/spec.md §6 steps 2–3): s = Σ_d p_d, and the channel
 * contribution weights w that seed the cascade (S = Σ_d w_d q_d with w held fixed).
 *
 * [decision] The paper's exact formula is not published; this follows the same authors' FAM/DAAM:
 *   cosine     p_d = (1/K) Σ_j q̂_d r̂_{j,d}        (q̂, r̂ unit vectors; s = mean cosine similarity)
 *   dot        p_d = (1/K) Σ_j q_d r_{j,d}
 *   euclidean  p_d = −(1/K) Σ_j (q_d − r_{j,d})²    (negative squared distance, ProtoNet's score)
 * With K references r_1..r_K. The weightings (docs/similarity-weights-study.md compares them):
 *   minmax     w_d = p_d / |s| min–max rescaled to [0, 1] (the spec's): the dimension that adds most
 *              gets 1, the one that adds least (or takes most away) 0; all ones when p is constant.
 *              Dividing by |s| first does not change the rescaled weights (a positive factor).
 *   signed     w_d = p_d / |s|, no rescaling: a dimension that adds nothing weighs nothing
 *   rectified  w_d = max(0, p_d) / |s|: only the dimensions that add to the similarity
 *   gradient   w = ∂s/∂q at q, so S = Σ_d w_d q_d is the similarity's first-order surrogate:
 *                cosine (1/K) Σ_j (r̂_j − (q̂·r̂_j) q̂) / ‖q‖, dot (1/K) Σ_j r_j,
 *                euclidean −(2/K) Σ_j (q − r_j)
 * The division by |s| is skipped when s = 0.
 */

export type Metric = 'cosine' | 'dot' | 'euclidean';
export const METRICS: readonly Metric[] = ['cosine', 'dot', 'euclidean'];

export type Weighting = 'minmax' | 'signed' | 'rectified' | 'gradient';
export const WEIGHTINGS: readonly Weighting[] = ['minmax', 'signed', 'rectified', 'gradient'];
/** The weighting of explainSimilarity and `naflow explain-similarity` when none is named. */
export const DEFAULT_WEIGHTING: Weighting = 'minmax';

export interface Decomposition {
  /** the similarity s = Σ_d p_d (mean over the references) */
  similarity: number;
  /** per-dimension contributions p_d */
  contributions: Float64Array;
  /** how `weights` were made from p (or from the gradient) */
  weighting: Weighting;
  /** channel contribution weights w_d (in [0, 1] for minmax; signed for signed and gradient) */
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

function norm(v: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  return Math.sqrt(n);
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
  const a = unit(q),
    b = unit(r);
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** p_d for the query against K references, their sum s, and the weights w of a weighting (default minmax). */
export function decompose(q: ArrayLike<number>, refs: ArrayLike<number>[], metric: Metric, weighting: Weighting = DEFAULT_WEIGHTING): Decomposition {
  if (!refs.length) throw new Error('decompose: at least one reference embedding is needed');
  if (!WEIGHTINGS.includes(weighting)) throw new Error(`decompose: unknown weighting '${weighting}' (${WEIGHTINGS.join(', ')})`);
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
  const weights = weighting === 'gradient' ? Float32Array.from(similarityGradient(q, refs, metric)) : contributionWeights(p, s, weighting);
  return { similarity: s, contributions: p, weighting, weights };
}

/** w from p and s: minmax (default; all ones when p is constant), signed p/|s| or rectified max(0, p)/|s|. */
export function contributionWeights(p: ArrayLike<number>, s: number, weighting: Exclude<Weighting, 'gradient'> = 'minmax'): Float32Array {
  const scale = s !== 0 && Number.isFinite(s) ? 1 / Math.abs(s) : 1;
  const w = new Float32Array(p.length);
  if (weighting === 'signed' || weighting === 'rectified') {
    for (let d = 0; d < p.length; d++) w[d] = (weighting === 'rectified' ? Math.max(0, p[d]) : p[d]) * scale;
    return w;
  }
  let lo = Infinity,
    hi = -Infinity;
  for (let d = 0; d < p.length; d++) {
    const v = p[d] * scale;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return w.fill(1);
  for (let d = 0; d < p.length; d++) w[d] = (p[d] * scale - lo) / (hi - lo);
  return w;
}

/**
 * ∂s/∂q, the mean similarity's exact gradient at q (closed forms in the header). A gradient whose norm
 * is below 1e-6 of its terms' own scale (the query at its reference, or parallel to it under cosine) is
 * float rounding, not a direction: it is returned as exact zeros, so callers can tell it apart.
 */
export function similarityGradient(q: ArrayLike<number>, refs: ArrayLike<number>[], metric: Metric): Float64Array {
  const D = q.length,
    K = refs.length;
  const g = new Float64Array(D);
  let scale = 0;
  if (metric === 'cosine') {
    const qn = norm(q);
    if (qn === 0) return g; // cosine is undefined at q = 0: no direction
    const qh = unit(q);
    for (const r of refs) {
      const rh = unit(r);
      let c = 0;
      for (let d = 0; d < D; d++) c += qh[d] * rh[d];
      for (let d = 0; d < D; d++) g[d] += (rh[d] - c * qh[d]) / (qn * K);
    }
    scale = 1 / qn;
  } else if (metric === 'dot') {
    for (const r of refs) for (let d = 0; d < D; d++) g[d] += r[d] / K;
    scale = Math.max(...refs.map(norm));
  } else {
    for (const r of refs) for (let d = 0; d < D; d++) g[d] -= (2 * (q[d] - r[d])) / K;
    scale = 2 * Math.max(norm(q), ...refs.map(norm));
  }
  if (!(norm(g) > 1e-6 * scale)) g.fill(0);
  return g;
}

/** The n dimensions with the largest weights: index, weight and contribution p_d. */
export function topDimensions(dec: Decomposition, n = 10): { dim: number; weight: number; contribution: number }[] {
  const idx = Array.from(dec.weights.keys()).sort((a, b) => dec.weights[b] - dec.weights[a] || a - b);
  return idx.slice(0, n).map((d) => ({ dim: d, weight: dec.weights[d], contribution: dec.contributions[d] }));
}
