/** Rank statistics: Spearman's rank correlation with average ranks for ties. */

/** 1-based ranks, ties get the mean of their ranks. */
export function ranks(values: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const r = new Float64Array(values.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && values[idx[j + 1]] === values[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman's ρ: the Pearson correlation of the ranks (NaN when either input is constant). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`spearman: lengths differ (${a.length} and ${b.length})`);
  const ra = ranks(a),
    rb = ranks(b);
  const n = ra.length;
  let ma = 0,
    mb = 0;
  for (let i = 0; i < n; i++) (ma += ra[i] / n), (mb += rb[i] / n);
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = ra[i] - ma,
      y = rb[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb);
}
