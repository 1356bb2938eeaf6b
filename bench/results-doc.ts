/**
 * Assemble docs/results.md from `naflow eval` output folders: each run's command, its results.md
 * tables and its plots (copied to docs/results/<run>/).
 * Usage: node dist/bench/results-doc.js bench/results-intro.md <run-name>=<eval-dir>::<command> …
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [introFile, ...runs] = process.argv.slice(2);
const parts = [fs.readFileSync(introFile, 'utf8').trim(), ''];
for (const spec of runs) {
  const [nameDir, command] = spec.split('::');
  const [name, dir] = nameDir.split('=');
  const target = path.join(root, 'docs/results', name);
  fs.mkdirSync(target, { recursive: true });
  for (const f of fs.readdirSync(dir))
    if (f.endsWith('.svg') || f === 'results.csv' || f === 'results.json') fs.copyFileSync(path.join(dir, f), path.join(target, f));
  const md = fs
    .readFileSync(path.join(dir, 'results.md'), 'utf8')
    .replace(/^# .*\n/, '')
    .replace(/^## /gm, '### ')
    .replace(/\]\(plot-/g, `](results/${name}/plot-`);
  parts.push(
    `## ${name}`,
    '',
    '```bash',
    command.trim(),
    '```',
    '',
    `Raw numbers: [results.csv](results/${name}/results.csv), [results.json](results/${name}/results.json).`,
    '',
    md.trim(),
    '',
  );
}
fs.writeFileSync(path.join(root, 'docs/results.md'), `${parts.join('\n')}\n`);
console.log('wrote docs/results.md');
