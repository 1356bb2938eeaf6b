/**
 * Evaluation datasets: a labels JSON (a list of { file, label | wnid, boxes_… }) or a folder with one
 * sub-folder of images per class. Classes are mapped to the model's own class indices through its
 * card: WordNet ids (`ids`) when the items carry them (ImageNet order differs between models), else
 * label names (`labels`), else the labels JSON's integer `label`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedCard } from '../model/card.js';
import type { Box } from '../metrics/pointing.js';
import { imageFiles } from '../similarity/embed.js';
import { InputError } from '../util/errors.js';

export class EvalDataError extends InputError {}

export interface EvalItem {
  file: string;
  /** the model's class index of the ground truth */
  classIndex: number;
  /** ground-truth boxes [x0, y0, x1, y1] in the pixels of `boxSize` */
  boxes?: Box[];
  /** [width, height] the boxes refer to */
  boxSize?: [number, number];
}

interface JsonItem {
  file?: string;
  label?: number | string;
  wnid?: string;
  name?: string;
  boxes?: Box[];
  [k: string]: unknown;
}

export function readDataset(spec: string, card: LoadedCard): EvalItem[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(spec);
  } catch {
    throw new EvalDataError(`--data ${spec}: no such file or folder`);
  }
  if (st.isDirectory() && !fs.existsSync(path.join(spec, 'labels-boxes.json'))) return fromFolder(spec, card);
  const file = st.isDirectory() ? path.join(spec, 'labels-boxes.json') : spec;
  let list: JsonItem[];
  try {
    list = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new EvalDataError(`--data ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(list)) throw new EvalDataError(`--data ${file}: expected a JSON list of { file, label, … }`);
  const dir = path.dirname(file);
  return list.map((it, i) => {
    if (typeof it?.file !== 'string') throw new EvalDataError(`--data ${file}: item ${i} has no 'file'`);
    let classIndex: number;
    if (it.wnid && card.idList) {
      classIndex = card.idList.indexOf(it.wnid);
      if (classIndex < 0) throw new EvalDataError(`--data ${file}: item ${i} (${it.file}): WordNet id ${it.wnid} is not among the model card's ids`);
    } else if (typeof it.label === 'string') classIndex = labelIndex(it.label, card, `${file} item ${i}`);
    else if (typeof it.label === 'number') classIndex = it.label;
    else throw new EvalDataError(`--data ${file}: item ${i} (${it.file}) has no 'label' or 'wnid'`);
    const boxKey = Object.keys(it).find((k) => k.startsWith('boxes'));
    const boxes = boxKey ? (it[boxKey] as Box[]) : undefined;
    // 'boxes_227': boxes in a 227×227 image; plain 'boxes' are in the image's own pixels (size read later)
    const m = boxKey ? /^boxes_(\d+)$/.exec(boxKey) : null;
    return { file: path.resolve(dir, it.file), classIndex, boxes, boxSize: m ? [Number(m[1]), Number(m[1])] : undefined };
  });
}

function labelIndex(label: string, card: LoadedCard, where: string): number {
  const k = card.labelList?.indexOf(label) ?? -1;
  if (k < 0)
    throw new EvalDataError(
      `${where}: class '${label}' is not among the model card's labels${card.labelList ? '' : ' (the card has no labels list: add "labels" to the model card)'}`,
    );
  return k;
}

function fromFolder(dir: string, card: LoadedCard): EvalItem[] {
  const classes = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (!classes.length) throw new EvalDataError(`--data ${dir}: no class sub-folders and no labels-boxes.json`);
  const items: EvalItem[] = [];
  for (const c of classes) {
    const k = labelIndex(c, card, `--data ${dir}`);
    for (const f of imageFiles(path.join(dir, c))) items.push({ file: f, classIndex: k });
  }
  return items;
}
