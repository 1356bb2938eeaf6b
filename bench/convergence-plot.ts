/**
 * The convergence study's plot (bench/convergence.ts): one panel per model, the largest relative L2
 * difference of any layer's map to the converged run against the LSMR iteration cap, one line per ρ.
 */

export interface RunResult {
  rho: number;
  cap: number;
  wallS: number;
  solves: number;
  meanIterations: number;
  maxIterations: number;
  /** solves that stopped at the cap */
  atCap: number;
  /** not rerun: identical to the run with this smaller cap, where no solve reached the cap */
  sameAs?: number;
  /** relative L2 difference per layer to the converged run (filled later) */
  diffs?: number[];
  maxDiff?: number;
  medianDiff?: number;
  worstLayer?: string;
  /** median and min over layers of ‖F_cap‖ / ‖F_conv‖ */
  normRatioMedian?: number;
  normRatioMin?: number;
  /** min over layers of the cosine similarity of F_cap and F_conv */
  cosineMin?: number;
}
export interface ModelResult {
  key: string;
  label: string;
  note: string;
  layers: number;
  layerNames: string[];
  warmupS: number;
  runs: RunResult[];
}

const COLORS: Record<string, string> = { '0': '#d62728', '0.01': '#ff7f0e', '0.1': '#1f77b4', '0.3': '#2ca02c', '1': '#9467bd' };
const colorOf = (rho: number, i: number) => COLORS[String(rho)] ?? ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f'][i % 4];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const sup = (e: number) => `10<tspan dy="-7" font-size="11">${e}</tspan>`;

export function renderSvg(results: ModelResult[]): string {
  const panelW = 520;
  const panelH = 380;
  const margin = { l: 80, r: 20, t: 40, b: 56 };
  const titleH = 56;
  const legendH = 44;
  const W = Math.max(results.length * (panelW + margin.l + margin.r) + 20, 1240);
  const x0 = (W - results.length * (panelW + margin.l + margin.r)) / 2;
  const H = titleH + margin.t + panelH + margin.b + legendH;
  const points = results.flatMap((r) => r.runs.filter((x) => x !== undefined && x.maxDiff !== undefined && x.cap !== maxCap(r, x.rho)));
  const ys = points.map((p) => p.maxDiff!).filter((v) => v > 0 && Number.isFinite(v));
  const floorY = ys.length ? Math.min(...ys) : 1e-6;
  const yMinE = Math.floor(Math.log10(floorY));
  // exact zeros (a run identical to the reference) go in a band below the lowest decade
  const hasZero = points.some((q) => q.maxDiff === 0);
  const zeroE = yMinE - 0.45;
  const yLowE = hasZero ? yMinE - 0.7 : yMinE;
  const yMaxE = Math.max(Math.ceil(Math.log10(ys.length ? Math.max(...ys) : 1)), yMinE + 1);
  const caps = results.flatMap((r) => r.runs.map((x) => x.cap));
  const xMinE = Math.floor(Math.log10(Math.min(...caps)));
  const xMaxE = Math.ceil(Math.log10(Math.max(...caps)));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="19" font-weight="bold">NAFlow paper-mode maps vs the LSMR iteration cap, by damping ρ (λ = ρ·σ_max)</text>`,
  );
  out.push(
    `<text x="${W / 2}" y="48" text-anchor="middle" font-size="13" fill="#444">max over layers of ‖F_cap − F_conv‖ / ‖F_conv‖, F_conv = the run with the largest cap for that ρ; atol = btol = 1e-6</text>`,
  );
  results.forEach((r, p) => {
    const ox = x0 + p * (panelW + margin.l + margin.r) + margin.l;
    const oy = titleH + margin.t;
    const sx = (cap: number) => ox + ((Math.log10(cap) - xMinE) / (xMaxE - xMinE)) * panelW;
    const sy = (v: number) => oy + panelH - (((v > 0 ? Math.log10(v) : zeroE) - yLowE) / (yMaxE - yLowE)) * panelH;
    out.push(`<text x="${ox + panelW / 2}" y="${oy - 12}" text-anchor="middle" font-size="15" font-weight="bold">${esc(r.label)}</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${panelW}" height="${panelH}" fill="none" stroke="#333"/>`);
    // grid + ticks
    for (let e = yMinE; e <= yMaxE; e++) {
      const y = sy(10 ** e);
      out.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${ox - 8}" y="${y + 5}" text-anchor="end" font-size="13">${sup(e)}</text>`);
      if (e < yMaxE) for (let k = 2; k < 10; k++) out.push(`<line x1="${ox}" x2="${ox + 4}" y1="${sy(k * 10 ** e)}" y2="${sy(k * 10 ** e)}" stroke="#333"/>`);
    }
    for (let e = xMinE; e <= xMaxE; e++) {
      const x = sx(10 ** e);
      out.push(`<line x1="${x}" x2="${x}" y1="${oy}" y2="${oy + panelH}" stroke="#ddd"/>`);
      out.push(`<text x="${x}" y="${oy + panelH + 20}" text-anchor="middle" font-size="13">${sup(e)}</text>`);
      if (e < xMaxE)
        for (let k = 2; k < 10; k++)
          out.push(`<line x1="${sx(k * 10 ** e)}" x2="${sx(k * 10 ** e)}" y1="${oy + panelH}" y2="${oy + panelH - 4}" stroke="#333"/>`);
    }
    if (hasZero) {
      const yb = sy(10 ** (yMinE - 0.2));
      out.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${yb}" y2="${yb}" stroke="#999" stroke-dasharray="2 3"/>`);
      out.push(`<text x="${ox - 8}" y="${sy(0) + 5}" text-anchor="end" font-size="13">0</text>`);
    }
    // 0.2 % reference
    if (0.002 >= 10 ** yMinE && 0.002 <= 10 ** yMaxE) {
      const y = sy(0.002);
      out.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${y}" y2="${y}" stroke="#777" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${ox + panelW - 6}" y="${y - 5}" text-anchor="end" font-size="12" fill="#555">0.2 %</text>`);
    }
    out.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 44}" text-anchor="middle" font-size="14">LSMR iteration cap</text>`);
    out.push(
      `<text transform="translate(${ox - 56} ${oy + panelH / 2}) rotate(-90)" text-anchor="middle" font-size="14">max relative L2 difference to converged</text>`,
    );
    const rhos = [...new Set(r.runs.map((x) => x.rho))];
    rhos.forEach((rho, i) => {
      const pts = r.runs.filter((x) => x.rho === rho && x.cap !== maxCap(r, rho));
      const c = colorOf(rho, i);
      const xy = pts.map((q) => `${sx(q.cap).toFixed(1)},${sy(q.maxDiff!).toFixed(1)}`);
      out.push(`<polyline points="${xy.join(' ')}" fill="none" stroke="${c}" stroke-width="2.5"/>`);
      for (const q of pts) {
        const zero = !(q.maxDiff! > 0);
        out.push(
          `<circle cx="${sx(q.cap).toFixed(1)}" cy="${sy(q.maxDiff!).toFixed(1)}" r="4.5" fill="${zero ? 'white' : c}" stroke="${c}" stroke-width="2"/>`,
        );
      }
      // the converged reference cap: a small marker on the x axis
      const sameRefBefore = rhos.slice(0, i).filter((q) => maxCap(r, q) === maxCap(r, rho)).length;
      out.push(`<path d="M ${sx(maxCap(r, rho)).toFixed(1)} ${oy + panelH - 1 - 11 * sameRefBefore} l -5 -9 l 10 0 z" fill="${c}"/>`);
    });
  });
  out.push(...renderLegend(results, W, H - legendH / 2 - 4));
  out.push('</svg>');
  return out.join('\n');
}

/** The legend row at height `ly`: one entry per ρ, then the reference-cap and exact-zero markers. */
function renderLegend(results: ModelResult[], W: number, ly: number): string[] {
  const out: string[] = [];
  const allRhos = [...new Set(results.flatMap((r) => r.runs.map((x) => x.rho)))];
  const items = allRhos.map((rho, i) => ({ rho, c: colorOf(rho, i) }));
  const itemW = 120;
  const lx0 = W / 2 - (items.length * itemW + 520) / 2;
  items.forEach((it, i) => {
    const x = lx0 + i * itemW;
    out.push(`<line x1="${x}" x2="${x + 30}" y1="${ly}" y2="${ly}" stroke="${it.c}" stroke-width="2.5"/>`);
    out.push(`<circle cx="${x + 15}" cy="${ly}" r="4.5" fill="${it.c}"/>`);
    out.push(`<text x="${x + 38}" y="${ly + 5}" font-size="14">ρ = ${it.rho}</text>`);
  });
  out.push(
    `<path d="M ${lx0 + items.length * itemW + 5} ${ly + 4} l -5 -9 l 10 0 z" fill="#555"/><text x="${lx0 + items.length * itemW + 16}" y="${ly + 5}" font-size="13" fill="#333">cap of the reference run</text>`,
  );
  const hx = lx0 + items.length * itemW + 260;
  out.push(
    `<circle cx="${hx}" cy="${ly}" r="4.5" fill="white" stroke="#555" stroke-width="2"/><text x="${hx + 12}" y="${ly + 5}" font-size="13" fill="#333">0: identical to the reference</text>`,
  );
  return out;
}

export function maxCap(r: ModelResult, rho: number): number {
  return Math.max(...r.runs.filter((x) => x.rho === rho).map((x) => x.cap));
}
