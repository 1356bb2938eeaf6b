/**
 * Writing evaluation results: results.json (everything), results.csv (one row per method × layer),
 * results.md (one table per metric, layers × methods) and one SVG plot per metric (metric against
 * relative layer depth, one line per method; pixel-space methods, which have no layer, as dashed
 * horizontal lines).
 */
import fs from 'node:fs';
import path from 'node:path';
import { valueKeys, type EvalResults } from './run.js';
import { metricValues } from '../metrics/index.js';
import { writingTo } from './out-folder.js';

export function metricKeys(r: EvalResults): string[] {
  return valueKeys(r.metrics, r.settings.sanity);
}

/** A value key's label (from the metric registry: which way is better included). */
export function metricLabel(r: EvalResults, key: string): string {
  return metricValues(r.metrics, r.settings.sanity).find((v) => v.key === key)?.label ?? key;
}

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '' : Number(v.toFixed(digits)).toString());

export function toCsv(r: EvalResults): string {
  const keys = metricKeys(r);
  const lines = [['method', 'layer', 'layer_index', 'depth', 'n', ...keys].join(',')];
  for (const row of r.rows)
    lines.push(
      [row.method, JSON.stringify(row.layer), row.layerIndex, fmt(row.depth), row.n, ...keys.map((k) => fmt(row.values[k as keyof typeof row.values]))].join(
        ',',
      ),
    );
  return `${lines.join('\n')}\n`;
}

export function toMarkdown(r: EvalResults, title = 'Evaluation'): string {
  const keys = metricKeys(r);
  const out = [
    `# ${title}`,
    '',
    `Model \`${path.basename(r.model.file)}\` (sha256 ${r.model.sha256.slice(0, 12)}…), data \`${r.data}\`, ${r.images} images; explained and scored: the ground-truth class (softmax probability); deletion/insertion: ${r.settings.steps} steps, ${r.settings.substrate} substrate.`,
    '',
  ];
  if (r.baselines.centrePointing !== null)
    out.push(
      `Baselines: centre point ${fmt(r.baselines.centrePointing, 2)} % (pointing game); uniform map ${fmt(r.baselines.uniformEnergy, 2)} % (energy pointing).`,
      '',
    );
  const methods = r.methods;
  for (const k of keys) {
    out.push(`## ${metricLabel(r, k)}`, '', `| layer | ${methods.join(' | ')} |`, `|---|${methods.map(() => '---').join('|')}|`);
    const layerNames = [...new Set(r.rows.map((row) => row.layer))];
    for (const name of layerNames) {
      const cells = methods.map((m) =>
        fmt(r.rows.find((row) => row.method === m && row.layer === name)?.values[k as keyof EvalResults['rows'][number]['values']], 4),
      );
      const idx = r.rows.find((row) => row.layer === name)!.layerIndex;
      out.push(`| ${idx < 0 ? 'input (pixel space)' : `${idx} ${name}`} | ${cells.join(' | ')} |`);
    }
    out.push('', `![${k}](plot-${k}.svg)`, '');
  }
  return out.join('\n');
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One metric against relative layer depth, one line per method. */
export function plotSvg(r: EvalResults, key: string): string {
  const W = 640,
    H = 400,
    L = 60,
    R = 170,
    T = 30,
    B = 50;
  const pts = r.rows.map((row) => row.values[key as keyof typeof row.values]).filter((v): v is number => typeof v === 'number');
  let lo = Math.min(...pts),
    hi = Math.max(...pts);
  if (!pts.length) (lo = 0), (hi = 1);
  if (hi === lo) (hi += 1), (lo -= 1);
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const x = (d: number) => L + d * (W - L - R);
  const y = (v: number) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="18" font-size="14">${esc(metricLabel(r, key))}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">layer depth (0 = first trunk layer, 1 = last)</text>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    parts.push(
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v, 3)}</text><line x1="${L}" y1="${y(v)}" x2="${W - R}" y2="${y(v)}" stroke="#ddd"/>`,
    );
    parts.push(`<text x="${x(t / 4)}" y="${H - B + 16}" text-anchor="middle">${t / 4}</text>`);
  }
  r.methods.forEach((m, i) => {
    const c = COLOURS[i % COLOURS.length];
    const rows = r.rows.filter((row) => row.method === m && typeof row.values[key as keyof typeof row.values] === 'number');
    const v = (row: (typeof rows)[number]) => row.values[key as keyof typeof row.values] as number;
    if (rows.length === 1 && rows[0].layerIndex < 0)
      parts.push(`<line x1="${x(0)}" y1="${y(v(rows[0]))}" x2="${x(1)}" y2="${y(v(rows[0]))}" stroke="${c}" stroke-dasharray="6,4" stroke-width="2"/>`);
    else if (rows.length === 1) parts.push(`<circle cx="${x(rows[0].depth)}" cy="${y(v(rows[0]))}" r="4" fill="${c}"/>`);
    else if (rows.length)
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${rows.map((row) => `${x(row.depth).toFixed(1)},${y(v(row)).toFixed(1)}`).join(' ')}"/>`,
      );
    parts.push(`<rect x="${W - R + 12}" y="${T + i * 18}" width="14" height="4" fill="${c}"/><text x="${W - R + 32}" y="${T + i * 18 + 6}">${esc(m)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeReport(r: EvalResults, out: string, title?: string): string[] {
  return writingTo(out, () => writeReportFiles(r, out, title));
}

function writeReportFiles(r: EvalResults, out: string, title?: string): string[] {
  const files = ['results.json', 'results.csv', 'results.md'];
  fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'results.csv'), toCsv(r));
  fs.writeFileSync(path.join(out, 'results.md'), toMarkdown(r, title));
  for (const k of metricKeys(r)) {
    fs.writeFileSync(path.join(out, `plot-${k}.svg`), plotSvg(r, k));
    files.push(`plot-${k}.svg`);
  }
  return files;
}
