/**
 * The model card read from disk: the JSON sidecar beside a model, and the label/id files it names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CardError, validateCard, type LoadedCard } from '../model/card.js';

/** Where the card for a model file lives: `x.onnx` → `x.naflow.json`; `dir/model.json` → `dir/model.naflow.json`. */
export function cardPathFor(modelPath: string): string {
  const dir = path.dirname(modelPath);
  const base = path.basename(modelPath).replace(/\.(onnx|json)$/i, '');
  return path.join(dir, `${base}.naflow.json`);
}

function readLines(file: string, cardPath: string, field: string): string[] {
  if (!fs.existsSync(file)) throw new CardError(`${cardPath}: '${field}' names ${file}, which does not exist`);
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l, i, a) => l.length > 0 || i < a.length - 1);
}

/** Load the card beside a model (or an explicit card path); a missing card gives an empty card. */
export function loadCard(modelPath: string, explicitCard?: string): LoadedCard {
  const cardPath = explicitCard ?? cardPathFor(modelPath);
  if (!fs.existsSync(cardPath)) {
    if (explicitCard) throw new CardError(`model card ${explicitCard} does not exist`);
    return {};
  }
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
