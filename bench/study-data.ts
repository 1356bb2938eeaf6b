/**
 * The faithfulness study's image lists (docs/faithfulness-study.md): the development and test halves of
 * imagenet-val1300 (items 1–650 / 651–1300 of labels-boxes.json) and of cifar10-test (images 1–500 /
 * 501–1000 in naflow's dataset order: class folders sorted, files sorted), each a systematic sample
 * (every k-th image of the half, starting with its first). Writes labels JSONs with absolute paths into
 * an output folder (never into the repository: ImageNet images are research-only).
 * Usage: node dist/bench/study-data.js <shared data dir> <out dir> [every=5]
 */
import fs from 'node:fs';
import path from 'node:path';

const [dataDir, outDir, everyArg] = process.argv.slice(2);
if (!dataDir || !outDir) throw new Error('usage: study-data.js <shared data dir> <out dir> [every]');
const every = Number(everyArg ?? 5);
fs.mkdirSync(outDir, { recursive: true });

type Item = { file: string; [k: string]: unknown };
const halves = <T>(list: T[], cut: number) => ({ dev: list.slice(0, cut), test: list.slice(cut) });
const sample = <T>(list: T[]) => list.filter((_, i) => i % every === 0);
const write = (name: string, items: Item[]) => {
  fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(items, null, 1)}\n`);
  console.log(`${name}.json: ${items.length} images`);
};

const inet = path.resolve(dataDir, 'imagenet-val1300');
const labels = (JSON.parse(fs.readFileSync(path.join(inet, 'labels-boxes.json'), 'utf8')) as Item[]).map((it) => ({ ...it, file: path.join(inet, it.file) }));
const inetHalves = halves(labels, 650);
write('imagenet-dev', sample(inetHalves.dev));
write('imagenet-test', sample(inetHalves.test));

const cifar = path.resolve(dataDir, 'cifar10-test');
const classes = fs
  .readdirSync(cifar, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
const cifarItems: Item[] = [];
for (const c of classes)
  for (const f of fs
    .readdirSync(path.join(cifar, c))
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort())
    cifarItems.push({ file: path.join(cifar, c, f), label: c });
const cifarHalves = halves(cifarItems, 500);
write('cifar-dev', sample(cifarHalves.dev));
write('cifar-test', sample(cifarHalves.test));
