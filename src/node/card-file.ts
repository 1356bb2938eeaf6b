/**
 * The model card read from disk: the JSON sidecar beside a model, and the label/id files it names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CardError, validateCard, type LoadedCard, type ModelCard } from '../model/card.js';

/** Where the card for a model file lives: `x.onnx` → `x.naflow.json`; `dir/model.json` → `dir/model.naflow.json`. */
export function cardPathFor(modelPath: string): string {
  return cardCandidates(modelPath)[0];
}

/** Every name a model's card may have: `x.naflow.json`, and for `x.onnx` also `x.onnx.naflow.json`. */
export function cardCandidates(modelPath: string): string[] {
  const dir = path.dirname(modelPath);
  const file = path.basename(modelPath);
  const base = file.replace(/\.(onnx|json)$/i, '');
  // an ONNX file's card may keep the file name whole; a tfjs model.json's is model.naflow.json only
  return /\.onnx$/i.test(file) ? [path.join(dir, `${base}.naflow.json`), path.join(dir, `${file}.naflow.json`)] : [path.join(dir, `${base}.naflow.json`)];
}

function readLines(file: string, cardPath: string, field: string): string[] {
  if (!fs.existsSync(file)) throw new CardError(`${cardPath}: '${field}' names ${file}, which does not exist`);
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l, i, a) => l.length > 0 || i < a.length - 1);
}

/**
 * Load the card beside a model (or an explicit card path), with `fields` (command-line overrides) over
 * it. A missing card gives an empty card that records where it was looked for.
 */
export function loadCard(modelPath: string, explicitCard?: string, fields: Partial<ModelCard> = {}): LoadedCard {
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  const overridden = Object.keys(defined);
  const given = overridden.length ? { ...validateCard(defined, 'the command-line options'), overridden } : {};
  if (explicitCard && !fs.existsSync(explicitCard)) throw new CardError(`model card ${explicitCard} does not exist`);
  const found = explicitCard ? [explicitCard] : cardCandidates(modelPath).filter((c) => fs.existsSync(c));
  if (found.length > 1) throw new CardError(`two model cards for ${modelPath}: ${found.join(' and ')}; keep one`);
  if (!found.length) return { ...given, searched: cardCandidates(modelPath) };
  return { ...readCard(found[0]), ...given };
}

function readCard(cardPath: string): LoadedCard {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(cardPath, 'utf8'));
  } catch (e) {
    throw new CardError(`${cardPath}: not valid JSON (${(e as Error).message})`);
  }
  const card: LoadedCard = { ...validateCard(raw, cardPath), cardPath };
  const dir = path.dirname(cardPath);
  if (card.labels) card.labelList = readLines(path.resolve(dir, card.labels), cardPath, 'labels');
  if (card.ids) card.idList = readLines(path.resolve(dir, card.ids), cardPath, 'ids');
  return card;
}
