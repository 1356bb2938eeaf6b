/**
 * The similarity-weights study's analysis (docs/similarity-weights-study.md): reads the per-query
 * records of bench/similarity-study.ts for both models, and reports per model and mode each weighting's
 * mean retrieval specificity (bootstrap 95 % interval over the queries), its paired difference to
 * min–max (paired bootstrap 95 % interval), the standardised difference the selection rule averages, the
 * reference-dependence diagnostic and the per-layer means; then applies the declared selection rule.
 * Usage: node dist/bench/similarity-study-report.js <title> <simclr.jsonl> <protonet.jsonl> <out prefix>
 *   writes <out prefix>.md and <out prefix>.json
 */
import fs from 'node:fs';
import { pairedBootstrap, type Interval } from './study.js';
import { MODES, type QueryRecord } from './similarity-study.js';
import { WEIGHTINGS, type Weighting } from '../src/metrics/embedding-metric.js';
import type { NaflowMode } from '../src/naflow/cascade.js';

/** Scores closer than this (in min–max standard deviations) are a tie: below the two decimals reported. */
export const TIE = 0.01;
const BASE: Weighting = 'minmax';

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v: number[]) => {
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
};

export interface Cell {
  model: string;
  mode: NaflowMode;
  weighting: Weighting;
  queries: number;
  /** queries whose weights were all zero */
  degenerate: number;
  /** queries whose weights equal signed's (maps reused) */
  sameAsSigned: number;
  specificity?: Interval;
  vsMinmax?: Interval;
  /** mean difference to min–max / standard deviation of min–max's per-query specificity */
  standardised?: number;
  relative?: number;
  /** Spearman ρ between the maps against r* and against the runner-up, mean over layers and queries */
  rho?: number;
  secondsPerQuery?: number;
  /** share of the maps against r* (queries × layers) that are constant: deleted in raster order */
  constantShare?: number;
  perLayer?: { specificity: number[]; rho: number[] };
}

export function readRecords(file: string): QueryRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as QueryRecord);
}

const finiteMean = (v: (number | null)[]) => {
  const f = v.filter((x): x is number => x !== null && Number.isFinite(x));
  return f.length ? mean(f) : NaN;
};

export function cells(model: string, recs: QueryRecord[]): Cell[] {
  const out: Cell[] = [];
  for (const mode of MODES) {
    const base = recs.map((r) => mean(r.cells[mode][BASE].specificity!));
    const baseSd = sd(base);
    for (const weighting of WEIGHTINGS) {
      const cs = recs.map((r) => r.cells[mode][weighting]);
      const cell: Cell = {
        model,
        mode,
        weighting,
        queries: recs.length,
        degenerate: cs.filter((c) => c.status === 'degenerate').length,
        sameAsSigned: cs.filter((c) => c.status === 'same-as-signed').length,
      };
      if (!cell.degenerate) {
        const x = cs.map((c) => mean(c.specificity!));
        const layers = cs[0].specificity!.length;
        cell.specificity = pairedBootstrap(x);
        cell.vsMinmax = pairedBootstrap(x.map((v, i) => v - base[i]));
        cell.standardised = cell.vsMinmax.mean / baseSd;
        cell.relative = mean(cs.map((c) => mean(c.relative!)));
        cell.rho = finiteMean(cs.flatMap((c) => c.rho!));
        cell.secondsPerQuery = mean(cs.map((c) => c.seconds));
        cell.constantShare = mean(cs.flatMap((c) => c.constant!.map(Number)));
        cell.perLayer = {
          specificity: Array.from({ length: layers }, (_, l) => mean(cs.map((c) => c.specificity![l]))),
          rho: Array.from({ length: layers }, (_, l) => finiteMean(cs.map((c) => c.rho![l]))),
        };
      }
      out.push(cell);
    }
  }
  return out;
}

export interface Selection {
  scores: { weighting: Weighting; eligible: boolean; score: number | null; standardised: (number | null)[] }[];
  chosen: Weighting;
  reason: string;
}

/**
 * The declared rule: score = mean over the four model × mode cells of the standardised difference to
 * min–max; eligible = non-zero weights for every query of both models; the highest eligible score wins
 * unless it is within TIE of min–max's 0 (a tie goes to min–max, the spec); ties between two others go
 * to the one listed first in WEIGHTINGS.
 */
export function select(all: Cell[]): Selection {
  const scores = WEIGHTINGS.map((weighting) => {
    const mine = all.filter((c) => c.weighting === weighting);
    const eligible = mine.every((c) => c.degenerate === 0);
    const standardised = mine.map((c) => c.standardised ?? null);
    return { weighting, eligible, score: eligible ? mean(standardised as number[]) : null, standardised };
  });
  let best = scores.find((s) => s.weighting === BASE)!;
  for (const s of scores) if (s.eligible && s.score! > best.score! + TIE) best = s;
  const chosen = best.weighting;
  const reason =
    chosen === BASE
      ? `no eligible weighting scores more than ${TIE} above min–max's 0`
      : `${chosen} has the highest score (${best.score!.toFixed(3)}), more than ${TIE} above min–max's 0 and every other eligible weighting's`;
  return { scores, chosen, reason };
}

const f = (v: number | undefined | null, d = 4) => (v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(d));
const iv = (x: Interval | undefined, d = 4) => (x ? `${f(x.mean, d)} [${f(x.lo, d)}, ${f(x.hi, d)}]` : '—');

function randomRow(recs: QueryRecord[], d: number): string {
  const x = recs.map((r) => r.random.specificity);
  return `| random order (control) | ${iv(pairedBootstrap(x), d)} | — | — | ${f(mean(recs.map((r) => r.random.relative)), 3)} | — | — | — |`;
}

export function toMarkdown(title: string, models: { name: string; recs: QueryRecord[]; cells: Cell[] }[], selection: Selection): string {
  const out = [`## ${title}`, ''];
  for (const m of models) {
    const d = m.name === 'SimCLR' ? 4 : 3;
    for (const mode of MODES) {
      out.push(`### ${m.name}, ${mode} mode (${m.recs.length} queries)`, '');
      out.push(
        '| weighting | specificity [95 %] | Δ vs min–max [paired 95 %] | standardised Δ | relative | ρ(r*, runner-up) | constant maps | s per query |',
        '|---|---|---|---|---|---|---|---|',
      );
      for (const c of m.cells.filter((c) => c.mode === mode)) {
        if (c.degenerate) {
          out.push(`| ${c.weighting} | all-zero weights for ${c.degenerate}/${c.queries} queries: no map | — | — | — | — | — | — |`);
          continue;
        }
        const same = c.sameAsSigned ? ` (= signed for ${c.sameAsSigned}/${c.queries})` : '';
        out.push(
          `| ${c.weighting}${same} | ${iv(c.specificity, d)} | ${c.weighting === BASE ? '—' : iv(c.vsMinmax, d)} | ${c.weighting === BASE ? '—' : f(c.standardised, 3)} | ${f(c.relative, 3)} | ${f(c.rho, 3)} | ${f(100 * c.constantShare!, 0)} % | ${f(c.secondsPerQuery, 2)} |`,
        );
      }
      out.push(randomRow(m.recs, d), '');
    }
    const live = m.cells.filter((c) => !c.degenerate && c.sameAsSigned < c.queries);
    out.push(`**${m.name} per layer** (mean specificity; ρ: the diagnostic). Layers: ${m.recs[0].layers.map((l, i) => `${i + 1} \`${l}\``).join(', ')}.`, '');
    out.push(
      `| layer | ${live.map((c) => `${c.mode.slice(0, 3)} ${c.weighting}`).join(' | ')} | ${live.map((c) => `ρ ${c.mode.slice(0, 3)} ${c.weighting}`).join(' | ')} |`,
    );
    out.push(`|---|${live.map(() => '---|').join('')}${live.map(() => '---|').join('')}`);
    m.recs[0].layers.forEach((_, l) =>
      out.push(`| ${l + 1} | ${live.map((c) => f(c.perLayer!.specificity[l], d)).join(' | ')} | ${live.map((c) => f(c.perLayer!.rho[l], 2)).join(' | ')} |`),
    );
    out.push('');
  }
  out.push(
    '### Selection score',
    '',
    `| weighting | ${models.flatMap((m) => MODES.map((mode) => `${m.name} ${mode}`)).join(' | ')} | score | eligible |`,
    `|---|${models.flatMap(() => MODES.map(() => '---|')).join('')}---|---|`,
  );
  for (const s of selection.scores)
    out.push(`| ${s.weighting} | ${s.standardised.map((v) => f(v, 3)).join(' | ')} | ${f(s.score, 3)} | ${s.eligible ? 'yes' : 'no'} |`);
  out.push('', `Rule's choice: **${selection.chosen}** — ${selection.reason}.`);
  return out.join('\n');
}

if (process.argv[1]?.endsWith('similarity-study-report.js')) {
  const [title, simclrFile, protonetFile, prefix] = process.argv.slice(2);
  if (!prefix) throw new Error('usage: similarity-study-report.js <title> <simclr.jsonl> <protonet.jsonl> <out prefix>');
  const models = [
    { name: 'SimCLR', recs: readRecords(simclrFile) },
    { name: 'ProtoNet', recs: readRecords(protonetFile) },
  ].map((m) => ({ ...m, cells: cells(m.name, m.recs) }));
  const selection = select(models.flatMap((m) => m.cells));
  fs.writeFileSync(`${prefix}.json`, `${JSON.stringify({ title, cells: models.flatMap((m) => m.cells), selection }, null, 1)}\n`);
  fs.writeFileSync(`${prefix}.md`, `${toMarkdown(title, models, selection)}\n`);
  console.log(`${title}: chosen ${selection.chosen} → ${prefix}.md`);
}
