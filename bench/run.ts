/**
 * `npm run bench`: forward time and peak RSS of naflow against Debian PyTorch's forward of the same
 * weights, measured in the same run, one process per cell. Writes bench/results.md and docs/benchmarks.md's
 * benchmark table (between the bench markers).
 *
 * Needs Debian's python3-torch/python3-torchvision for the full-width ResNet-50/VGG16 exports and the
 * PyTorch peer (`apt-get install -y python3-torch python3-torchvision python3-onnx`); without it those
 * rows are skipped with a message and only the bundled model is timed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_VARIANT, SPEC_VARIANT } from '../src/naflow/variant.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = path.join(root, 'bench/work');
fs.mkdirSync(work, { recursive: true });
const PY = '/usr/bin/python3';
/** the converged reference for the paper-mode maps */
const REF_CAP = 300;
const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };

interface Cell {
  median_ms: number;
  peak_rss_mb: number;
  [k: string]: unknown;
}

function runJson(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Cell | string {
  const r = spawnSync(cmd, args, { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 20 * 60 * 1000 });
  const line = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.status !== 0 || !line) return `failed (${(r.stderr ?? '').trim().split('\n').pop() ?? r.status})`;
  return JSON.parse(line) as Cell;
}

const hasTorch = fs.existsSync(PY) && spawnSync(PY, ['-c', 'import torch, torchvision'], { env }).status === 0;
const rows: string[] = [];
const fmt = (c: Cell | string) => (typeof c === 'string' ? c : `${c.median_ms} ms`);
const rss = (c: Cell | string) => (typeof c === 'string' ? '–' : `${c.peak_rss_mb} MB`);

// naflow as `naflow explain` runs it: native convolutions (onnxruntime-node) and 1 wasm thread; the
// peer "tfjs only" is the same code with NAFLOW_NATIVE=0 and 2 wasm threads (the setting before).
const TFJS_ONLY = { NAFLOW_NATIVE: '0' };
const naflowCell = (model: string, threads: number, extra: Record<string, string> = {}) =>
  runJson(process.execPath, [path.join(root, 'dist/bench/forward-one.js'), model, 'wasm', String(threads), '7'], extra);
const explainCell = (
  model: string,
  input: string,
  mode: string,
  runs: number,
  opts: { threads?: number; refCap?: number; variant?: string; sigmaCacheDir?: string; extra?: Record<string, string> } = {},
) =>
  runJson(
    process.execPath,
    [
      path.join(root, 'dist/bench/explain-one.js'),
      model,
      input,
      mode,
      String(opts.threads ?? 1),
      String(runs),
      String(opts.refCap ?? 0),
      opts.variant ?? 'default',
      opts.sigmaCacheDir ? 'on' : 'off',
    ],
    { ...opts.extra, ...(opts.sigmaCacheDir ? { NAFLOW_CACHE_DIR: opts.sigmaCacheDir } : {}) },
  );
/**
 * Paper mode's first run in a process as a returning user meets it: σ_max from the cache file that an
 * earlier process wrote (a fresh folder: one process fills it, a second one is timed).
 */
function firstRunCached(model: string, input: string): Cell | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-sigma-'));
  try {
    const fill = explainCell(model, input, 'paper', 0, { sigmaCacheDir: dir });
    return typeof fill === 'string' ? fill : explainCell(model, input, 'paper', 1, { sigmaCacheDir: dir });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const diff = (c: Cell | string) =>
  typeof c === 'string' || typeof c.max_map_diff_to_ref_cap !== 'number' ? '–' : `${(100 * (c.max_map_diff_to_ref_cap as number)).toFixed(2)} %`;
const first = (c: Cell | string) => (typeof c === 'string' ? '–' : `${c.first_ms} ms`);
const firsts = (estimated: Cell | string, cached: Cell | string) => `${first(estimated)} (σ_max estimated); ${first(cached)} (σ_max cached)`;
const lsmr = (c: Cell | string) =>
  typeof c === 'string' || !c.lsmr_solves
    ? '–'
    : `${c.lsmr_solves} solves, ${c.lsmr_mean_iterations} it. mean (max ${c.lsmr_max_iterations}), residual median ${c.residual_median}`;
const ratio = (a: Cell | string, b: Cell | string) => (typeof a === 'string' || typeof b === 'string' ? '–' : `${(a.median_ms / b.median_ms).toFixed(1)}×`);

const explainRows: string[] = [];
const darknet = path.join(root, 'models/tiny-darknet/model.json');
const photo = path.join(root, 'assets/photos/chelsea.png');
const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);

for (const name of ['resnet50', 'vgg16'].filter(want)) {
  if (!hasTorch) {
    rows.push(`| ${name} (full width, 224×224) | skipped: Debian python3-torch not installed | | |`);
    continue;
  }
  const onnx = path.join(work, `${name}.onnx`);
  if (!fs.existsSync(onnx)) {
    console.error(`exporting ${name} …`);
    const r = spawnSync(PY, [path.join(root, 'tools/make_bench_models.py'), name], { cwd: root, env, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`tools/make_bench_models.py ${name} failed`);
  }
  console.error(`timing ${name} forward …`);
  const torch = runJson(PY, [path.join(root, 'bench/torch_forward.py'), name]);
  const one = naflowCell(onnx, 1);
  const tfjs = naflowCell(onnx, 2, TFJS_ONLY);
  rows.push(`| ${name} (full width, 224×224) | ${fmt(one)} / ${rss(one)} | ${fmt(tfjs)} / ${rss(tfjs)} | ${fmt(torch)} / ${rss(torch)} |`);
  console.error(`timing ${name} explain …`);
  const torchFB = runJson(PY, [path.join(root, 'bench/torch_forward.py'), name, '--fwdbwd']);
  const input = path.join(work, `${name}.input.npy`);
  const ref = explainCell(onnx, input, 'reference', 7);
  const paper = explainCell(onnx, input, 'paper', 1, { refCap: REF_CAP });
  const refT = explainCell(onnx, input, 'reference', 3, { threads: 2, extra: TFJS_ONLY });
  const paperT = explainCell(onnx, input, 'paper', 1, { threads: 2, extra: TFJS_ONLY });
  const spec = explainCell(onnx, input, 'paper', 1, { variant: 'spec' });
  const cached = firstRunCached(onnx, input);
  explainRows.push(
    `| ${name} | ${fmt(ref)} / ${rss(ref)} (${ratio(ref, torchFB)}); first run ${first(ref)} | ${fmt(paper)} / ${rss(paper)} (${ratio(paper, torchFB)}) | ${firsts(paper, cached)} | ${diff(paper)} | ` +
      `${fmt(spec)} / ${rss(spec)} (${ratio(spec, torchFB)}); first run ${first(spec)} | ${fmt(torchFB)} / ${rss(torchFB)} | ${fmt(refT)} (${ratio(refT, torchFB)}) / ${fmt(paperT)} (${ratio(paperT, torchFB)}) | ${lsmr(paper)} |`,
  );
}
if (want('tiny-darknet')) {
  console.error('timing the bundled Tiny Darknet …');
  const d1 = naflowCell(darknet, 1);
  const d2 = naflowCell(darknet, 2, TFJS_ONLY);
  rows.push(`| Tiny Darknet (bundled, 224×224) | ${fmt(d1)} / ${rss(d1)} | ${fmt(d2)} / ${rss(d2)} | no peer (tfjs layers model) |`);
  const ref = explainCell(darknet, photo, 'reference', 7);
  const paper = explainCell(darknet, photo, 'paper', 3, { refCap: REF_CAP });
  const refT = explainCell(darknet, photo, 'reference', 3, { threads: 2, extra: TFJS_ONLY });
  const paperT = explainCell(darknet, photo, 'paper', 3, { threads: 2, extra: TFJS_ONLY });
  const spec = explainCell(darknet, photo, 'paper', 3, { variant: 'spec' });
  const paperCached = firstRunCached(darknet, photo);
  explainRows.push(
    `| Tiny Darknet (bundled) | ${fmt(ref)} / ${rss(ref)}; first run ${first(ref)} | ${fmt(paper)} / ${rss(paper)} | ${firsts(paper, paperCached)} | ${diff(paper)} | ${fmt(spec)} / ${rss(spec)}; first run ${first(spec)} | no peer | ${fmt(refT)} / ${fmt(paperT)} | ${lsmr(paper)} |`,
  );
  // Cold process to files on disk, as a user runs it: the first with an empty σ_max cache, then four
  // that find it (a fresh cache folder, so earlier runs on this machine do not count)
  const tmpOut = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-bench-'));
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bin/naflow.js'), 'explain', '--out', path.join(tmpOut, String(i))], {
      cwd: root,
      env: { ...env, NAFLOW_CACHE_DIR: path.join(tmpOut, 'cache') },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`naflow explain failed: ${r.stderr}`);
    cold.push(performance.now() - t0);
  }
  fs.rmSync(tmpOut, { recursive: true, force: true });
  const cached = cold.slice(1).sort((a, b) => a - b);
  explainRows.push(
    `| \`naflow explain\` (bundled, paper, cold process → files on disk) | | ${Math.round(cold[0])} ms (empty σ_max cache); ${Math.round((cached[1] + cached[2]) / 2)} ms (cached, median of 4) | | | | | | |`,
  );
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const stamp = new Date().toISOString().slice(0, 10);
const torchVersion = hasTorch ? spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim() : 'n/a';
const table = [
  `Measured ${stamp} on ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
    `PyTorch ${torchVersion} (Debian, 2 threads, OPENBLAS_NUM_THREADS=1). Forward of one 224×224 image, batch 1, ` +
    `median of 7 after 2 warm-ups; peak RSS of the whole process (one process per cell).`,
  '',
  '**Forward pass**',
  '',
  '| model | naflow: native convolutions, wasm 1 thread (time / peak RSS) | tfjs only (NAFLOW_NATIVE=0), wasm 2 threads | PyTorch CPU (same weights) |',
  '|---|---|---|---|',
  ...rows,
  '',
  `**NAFlow, all layers** (as \`naflow explain\` runs: native convolutions, wasm 1 thread; reference mode as one onnxruntime graph, median of 7 after the first run, ` +
    `which compiles that graph; paper on the full-width models: 1 run after the first (Tiny Darknet: median of 3); ` +
    `the first run also estimates σ_max (8 power iterations per solve) and builds the native sessions; "max map diff." = the largest relative L2 difference of any layer's map ` +
    `to the run at cap ${REF_CAP} (converged: atol = btol = 1e-6); ratio to PyTorch forward + backward to every layer output in parentheses)`,
  '',
  `| model | reference mode | paper mode (default: ρ = ${DEFAULT_VARIANT.rho}, cap ${DEFAULT_VARIANT.maxIter}) | paper, first run | max map diff. | paper, spec (ρ = ${SPEC_VARIANT.rho}, cap ${SPEC_VARIANT.maxIter}) | PyTorch fwd + bwd | tfjs only: reference / paper | LSMR (paper mode) |`,
  '|---|---|---|---|---|---|---|---|---|',
  ...explainRows,
].join('\n');
fs.writeFileSync(path.join(root, 'bench/results.md'), `# Benchmark results\n\n${table}\n`);
// the tables live in docs/benchmarks.md; a missing marker is an error, not a silent skip
const readme = path.join(root, 'docs/benchmarks.md');
const text = fs.readFileSync(readme, 'utf8');
const start = '<!-- bench:start -->';
const end = '<!-- bench:end -->';
if (!text.includes(start) || !text.includes(end)) throw new Error(`${readme}: no ${start} … ${end} markers for the table`);
if (only.length === 0) {
  fs.writeFileSync(readme, text.replace(new RegExp(`${start}[\\s\\S]*${end}`), `${start}\n${table}\n${end}`));
}
console.log(table);
