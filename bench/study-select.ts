/**
 * The faithfulness study's selection rule (docs/faithfulness-study.md): from the per-model reports of
 * bench/study.ts, score = ½ (wins against LayerCAM on Tiny Darknet / its layers + the same on ResNet-56),
 * a win being a layer with lower mean deletion and higher mean insertion AUC than LayerCAM. A
 * configuration run on one model only takes, on the other, the wins of the configuration it equals
 * there (given as alias=target, e.g. naflow:merge=importance=naflow: Tiny Darknet has no fork; the
 * alias applies to the model whose report lacks the configuration).
 * Usage: node dist/bench/study-select.js <tiny.json> <resnet.json> [alias=target …]
 * Prints a markdown table, best first.
 */
import fs from 'node:fs';
import type { ConfigReport } from './study.js';

const [tinyFile, resnetFile, ...aliasArgs] = process.argv.slice(2);
const read = (f: string) => new Map((JSON.parse(fs.readFileSync(f, 'utf8')) as { reports: ConfigReport[] }).reports.map((r) => [r.method, r]));
const tiny = read(tinyFile);
const resnet = read(resnetFile);
const aliases = new Map(aliasArgs.map((a) => [a.slice(0, a.lastIndexOf('=')), a.slice(a.lastIndexOf('=') + 1)]));
const pick = (m: Map<string, ConfigReport>, id: string) => m.get(id) ?? m.get(aliases.get(id) ?? '');

const rows = [...new Set([...tiny.keys(), ...resnet.keys()])]
  .map((id) => {
    const t = pick(tiny, id);
    const r = pick(resnet, id);
    if (!t || !r) return undefined;
    const score = 0.5 * (t.winsVsLayercam / t.layers + r.winsVsLayercam / r.layers);
    return { id, score, t, r };
  })
  .filter((x): x is NonNullable<typeof x> => !!x)
  .sort((a, b) => b.score - a.score);

console.log('| configuration | score | Tiny Darknet wins vs LayerCAM | ResNet-56 wins vs LayerCAM | significantly worse than reference |');
console.log('|---|---|---|---|---|');
for (const { id, score, t, r } of rows) {
  const worse = [...t.worseThanReference.map((w) => `Tiny ${w}`), ...r.worseThanReference.map((w) => `ResNet ${w}`)].join(', ') || '—';
  const aliasNote = (id: string) => (!aliases.has(id) ? '' : ` (${tiny.has(id) ? 'ResNet-56' : 'Tiny Darknet'}: = \`${aliases.get(id)}\`)`);
  console.log(`| \`${id}\`${aliasNote(id)} | ${score.toFixed(3)} | ${t.winsVsLayercam}/${t.layers} | ${r.winsVsLayercam}/${r.layers} | ${worse} |`);
}
