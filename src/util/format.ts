/** Numbers for people: significant digits like C's %g, never a 0.0000 that hides a small value. */

/** `v` with `digits` significant digits, trailing zeros dropped (20.19142 → '20.1914', 1.2e-7 → '1.2e-7'). */
export function formatSignificant(v: number, digits = 6): string {
  if (!Number.isFinite(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

/** A probability as a percentage: two decimals where that shows it, else three significant digits (0.000123 %). */
export function formatPercent(p: number): string {
  const pct = p * 100;
  return pct === 0 || Math.abs(pct) >= 0.01 ? `${pct.toFixed(2)}%` : `${formatSignificant(pct, 3)}%`;
}
