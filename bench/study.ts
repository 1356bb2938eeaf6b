/**
 * The faithfulness study's analysis (docs/faithfulness-study.md): reads the per-image records of the
 * `naflow eval` folders that bench/study-run.sh wrote (one folder per method id), and for every NAFlow
 * configuration reports, per layer and per depth third, its difference to LayerCAM and to reference
 * mode on deletion AUC, insertion AUC and average drop, each with a paired bootstrap 95 % interval
 * over the images; the layers it wins against LayerCAM on deletion and insertion together; and the
 * selection score of the declared rule.
 * Usage: node dist/bench/study.js <runs dir> <out dir> <title> [configs: method ids, default all] [--partial]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { plotSvg } from '../src/eval/report.js';
import type { EvalResults } from '../src/eval/run.js';
import { mulberry32 } from './seeded-random.js';

export const METRICS = ['deletion', 'insertion', 'drop'] as const;
type Metric = (typeof METRICS)[number];
/** +1: higher is better; −1: lower is better */
const SENSE: Record<Metric, 1 | -1> = { deletion: -1, insertion: 1, drop: -1 };
const BASELINES = ['layercam', 'naflow-ref'] as const;
const BOOTSTRAP = 2000;

interface Run {
  method: string;
  layers: Array<{ name: string; index: number; depth: number }>;
  /** image index → layer → metric → value */
  images: Map<number, Record<string, Partial<Record<Metric, number | null>>>>;
}

/**
 * The finished runs of `dir`; with `partial`, unfinished ones too (their layers taken from a finished
 * sibling), all cut to the images every run has — for a look while the runs go on.
 */
export function readRuns(dir: string, partial = false): Map<string, Run> {
  const runs = new Map<string, Run>();
  const subs = fs
    .readdirSync(dir)
    .sort()
    .filter((s) => fs.existsSync(path.join(dir, s, 'progress.jsonl')));
  const finished = subs.map((s) => path.join(dir, s, 'results.json')).find((f) => fs.existsSync(f));
  for (const sub of subs) {
    const resultsFile = path.join(dir, sub, 'results.json');
    const done = fs.existsSync(resultsFile);
    if (!done && !(partial && finished)) continue;
    const r = JSON.parse(fs.readFileSync(done ? resultsFile : finished!, 'utf8')) as EvalResults;
    const method = done ? r.methods[0] : (JSON.parse(fs.readFileSync(path.join(dir, sub, 'eval-config.json'), 'utf8')) as { methods: string[] }).methods[0];
    const images = new Map<number, Run['images'] extends Map<number, infer V> ? V : never>();
    for (const line of fs.readFileSync(path.join(dir, sub, 'progress.jsonl'), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const p = JSON.parse(line) as { i: number; results: Record<string, Record<string, Partial<Record<Metric, number | null>>>> };
        if (p.i < r.images) images.set(p.i, p.results[method]);
      } catch {
        // a line being written
      }
    }
    if (images.size !== r.images && !partial) continue;
    runs.set(method, { method, layers: r.layers, images });
  }
  if (partial) {
    const all = [...runs.values()];
    const common = all.length ? [...all[0].images.keys()].filter((i) => all.every((r) => r.images.has(i))) : [];
    for (const r of all) for (const i of [...r.images.keys()]) if (!common.includes(i)) r.images.delete(i);
  }
  return runs;
}

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

/** Mean of paired differences with a percentile bootstrap 95 % interval over the pairs. */
export function pairedBootstrap(diffs: number[], seed = 1): Interval {
  const n = diffs.length;
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  const next = mulberry32(seed);
  const means = new Float64Array(BOOTSTRAP);
  for (let b = 0; b < BOOTSTRAP; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diffs[Math.floor(next() * n)];
    means[b] = s / n;
  }
  means.sort();
  return { mean, lo: means[Math.floor(0.025 * BOOTSTRAP)], hi: means[Math.ceil(0.975 * BOOTSTRAP) - 1] };
}

const THIRDS = ['shallow', 'middle', 'deep'] as const;
const thirdOf = (depth: number) => THIRDS[Math.min(2, Math.floor(depth * 3))];

export interface ConfigReport {
  method: string;
  /** layers where the mean deletion is below LayerCAM's and the mean insertion above it */
  winsVsLayercam: number;
  winsVsReference: number;
  layers: number;
  perLayer: Array<{
    name: string;
    index: number;
    depth: number;
    mean: Record<Metric, number>;
    vsLayercam: Record<Metric, Interval>;
    vsReference: Record<Metric, Interval>;
  }>;
  perThird: Record<(typeof THIRDS)[number], { layers: number; vsLayercam: Record<Metric, Interval>; vsReference: Record<Metric, Interval> }>;
  /** thirds where the interval of a metric's difference to reference mode lies wholly on the worse side */
  worseThanReference: string[];
}

function runValue(run: Run, i: number, layer: string, m: Metric): number {
  const v = run.images.get(i)?.[layer]?.[m];
  if (typeof v !== 'number') throw new Error(`${run.method}: image ${i} has no ${m} at ${layer}`);
  return v;
}

export function analyse(runs: Map<string, Run>, method: string): ConfigReport {
  const cfg = runs.get(method)!;
  const [lc, ref] = BASELINES.map((b) => {
    const r = runs.get(b);
    if (!r) throw new Error(`the runs have no finished '${b}' folder`);
    return r;
  });
  const images = [...cfg.images.keys()].sort((a, b) => a - b);
  for (const b of [lc, ref]) if (b.images.size !== images.length) throw new Error(`${b.method} and ${method} were run on different images`);
  const diffs = (other: Run, layers: string[], m: Metric) =>
    images.map((i) => layers.reduce((s, l) => s + runValue(cfg, i, l, m) - runValue(other, i, l, m), 0) / layers.length);
  const intervals = (other: Run, layers: string[]) =>
    Object.fromEntries(METRICS.map((m) => [m, pairedBootstrap(diffs(other, layers, m))])) as Record<Metric, Interval>;
  const perLayer = cfg.layers.map((l) => ({
    name: l.name,
    index: l.index,
    depth: l.depth,
    mean: Object.fromEntries(METRICS.map((m) => [m, images.reduce((s, i) => s + runValue(cfg, i, l.name, m), 0) / images.length])) as Record<Metric, number>,
    vsLayercam: intervals(lc, [l.name]),
    vsReference: intervals(ref, [l.name]),
  }));
  const wins = (key: 'vsLayercam' | 'vsReference') => perLayer.filter((l) => l[key].deletion.mean < 0 && l[key].insertion.mean > 0).length;
  const perThird = Object.fromEntries(
    THIRDS.map((t) => {
      const names = cfg.layers.filter((l) => thirdOf(l.depth) === t).map((l) => l.name);
      return [t, { layers: names.length, vsLayercam: intervals(lc, names), vsReference: intervals(ref, names) }];
    }),
  ) as ConfigReport['perThird'];
  const worseThanReference = THIRDS.flatMap((t) =>
    METRICS.filter((m) => {
      const iv = perThird[t].vsReference[m];
      return SENSE[m] > 0 ? iv.hi < 0 : iv.lo > 0;
    }).map((m) => `${t} ${m}`),
  );
  return { method, winsVsLayercam: wins('vsLayercam'), winsVsReference: wins('vsReference'), layers: perLayer.length, perLayer, perThird, worseThanReference };
}

const f = (v: number, d = 4) => (Math.abs(v) < 10 ** -d && v !== 0 ? v.toExponential(1) : v.toFixed(d));
const iv = (x: Interval, d = 4) => `${f(x.mean, d)} [${f(x.lo, d)}, ${f(x.hi, d)}]`;
const digits = (m: Metric) => (m === 'drop' ? 2 : 4);

export function toMarkdown(title: string, reports: ConfigReport[], images: number): string {
  const out = [
    `## ${title}`,
    '',
    `${images} images; each cell: mean difference, paired bootstrap 95 % interval over the images (${BOOTSTRAP} resamples). Deletion and average drop: negative is better; insertion: positive is better.`,
    '',
  ];
  out.push('| configuration | wins vs LayerCAM | wins vs reference | significantly worse than reference |', '|---|---|---|---|');
  for (const r of reports)
    out.push(`| \`${r.method}\` | ${r.winsVsLayercam}/${r.layers} | ${r.winsVsReference}/${r.layers} | ${r.worseThanReference.join(', ') || '—'} |`);
  for (const key of ['vsLayercam', 'vsReference'] as const) {
    out.push('', `### Difference to ${key === 'vsLayercam' ? 'LayerCAM' : 'reference mode'}, per depth third`, '');
    out.push(`| configuration | third | ${METRICS.map((m) => `Δ ${m}`).join(' | ')} |`, `|---|---|${METRICS.map(() => '---').join('|')}|`);
    for (const r of reports)
      for (const t of THIRDS)
        out.push(`| \`${r.method}\` | ${t} (${r.perThird[t].layers}) | ${METRICS.map((m) => iv(r.perThird[t][key][m], digits(m))).join(' | ')} |`);
  }
  return out.join('\n');
}

/** a method id as the plots' legend names it (short enough for its 170 px): the changes alone, `spec`, `reference` */
const legendName = (method: string) =>
  method === 'naflow' ? 'spec' : method === 'naflow-ref' ? 'reference' : method.replace(/^naflow:/, '').replace('unit=block', 'block');

/** Per metric, the difference to LayerCAM against depth, one line per configuration (eval's plot). */
function plots(reports: ConfigReport[], outDir: string, prefix: string): string[] {
  const files: string[] = [];
  for (const m of METRICS) {
    const key = `${m}: difference to LayerCAM (${SENSE[m] > 0 ? 'higher' : 'lower'} is better)`;
    const r = {
      methods: reports.map((c) => legendName(c.method)),
      metrics: [],
      settings: {},
      rows: reports.flatMap((c) =>
        c.perLayer.map((l) => ({
          method: legendName(c.method),
          layer: l.name,
          layerIndex: l.index,
          depth: l.depth,
          n: 0,
          values: { [key]: l.vsLayercam[m].mean },
        })),
      ),
    } as unknown as EvalResults;
    const file = `${prefix}-${m}.svg`;
    fs.writeFileSync(path.join(outDir, file), plotSvg(r, key));
    files.push(file);
  }
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const partial = args.includes('--partial');
  const [runsDir, outDir, title, ...configs] = args.filter((a) => a !== '--partial');
  const runs = readRuns(runsDir, partial);
  const chosen = configs.length ? configs : [...runs.keys()].filter((m) => m !== 'layercam');
  const reports = chosen.filter((m) => runs.has(m)).map((m) => analyse(runs, m));
  fs.mkdirSync(outDir, { recursive: true });
  const prefix = path.basename(runsDir);
  const images = runs.get('layercam')!.images.size;
  fs.writeFileSync(path.join(outDir, `${prefix}.json`), `${JSON.stringify({ title, images, reports }, null, 1)}\n`);
  const pics = plots(reports, outDir, prefix);
  fs.writeFileSync(path.join(outDir, `${prefix}.md`), `${toMarkdown(title, reports, images)}\n\n${pics.map((p) => `![${p}](${p})`).join('\n')}\n`);
  console.log(`${prefix}: ${reports.length} configurations → ${outDir}`);
}
