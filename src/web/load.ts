/**
 * Load a model from what a page has: the files a file input or a drop gives (`File`, `FileList`, an
 * array of them) or a name → bytes map. The browser's counterpart of src/node/load.ts: it finds the
 * main file (an ONNX file, or a TensorFlow.js model.json whose shards are among the files), the model
 * card (`<model>.naflow.json`, or the one card given) and the label/id files the card names.
 */
import type { Model } from '../engine/model.js';
import { ModelLoadError, importModel } from '../import/model.js';
import { modelFilesFromBytes, utf8, type ModelFiles } from '../import/files.js';
import { CardError, validateCard, type LoadedCard, type ModelCard } from '../model/card.js';
import { backendInfo, initBackend, type BackendName } from '../engine/backend.js';
import type { WebFile } from './dom.js';

/** What `loadModel` takes: files (a FileList from an input or a drop, an array, one File) or name → bytes. */
export type WebModelSource = WebFile | ArrayLike<WebFile> | Iterable<WebFile> | Record<string, Uint8Array | ArrayBuffer>;

export interface WebLoadOptions {
  /** the model card as an object (its fields as in a `.naflow.json` file), over any card among the files */
  card?: ModelCard;
  /** card fields over the card's (as the CLI's --preprocess, --input-size, --layout) */
  cardFields?: Partial<ModelCard>;
  /** the main file's name, where the files hold more than one model */
  main?: string;
  /** the tensor backend, when none is initialised yet (default 'wasm'; see initBackend) */
  backend?: BackendName;
  /** skip shape inference (only for inspecting graphs with unsupported ops) */
  skipShapes?: boolean;
}

function isFile(x: unknown): x is WebFile {
  return typeof x === 'object' && x !== null && typeof (x as WebFile).arrayBuffer === 'function' && typeof (x as WebFile).name === 'string';
}

/** The files' bytes by name (a File by its own name; a map by its keys, which may hold folders). */
async function bytesByName(source: WebModelSource): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const files: WebFile[] | undefined = isFile(source)
    ? [source]
    : Symbol.iterator in Object(source)
      ? [...(source as Iterable<WebFile>)]
      : typeof (source as ArrayLike<WebFile>).length === 'number'
        ? Array.from(source as ArrayLike<WebFile>)
        : undefined;
  if (files) {
    for (const f of files) {
      if (!isFile(f)) throw new ModelLoadError('loadModel: give File objects (from a file input or a drop) or a map of names to bytes');
      out.set(f.name, new Uint8Array(await f.arrayBuffer()));
    }
  } else {
    for (const [name, b] of Object.entries(source as Record<string, Uint8Array | ArrayBuffer>)) {
      if (!(b instanceof Uint8Array || b instanceof ArrayBuffer))
        throw new ModelLoadError(`loadModel: '${name}' is not bytes (a Uint8Array or an ArrayBuffer)`);
      out.set(name, b instanceof Uint8Array ? b : new Uint8Array(b));
    }
  }
  if (out.size === 0) throw new ModelLoadError('loadModel: no files given (an .onnx file, or a model.json with its weight files)');
  return out;
}

/** Some of the files' names, for messages. */
function listed(names: string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
}

const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const isCardName = (n: string) => /\.naflow\.json$/i.test(n);

/** Whether a .json file is a TensorFlow.js model (rather than a card or some other JSON). */
function isTfjsModelJson(bytes: Uint8Array): boolean {
  try {
    const j = JSON.parse(utf8(bytes));
    return typeof j === 'object' && j !== null && ('modelTopology' in j || 'weightsManifest' in j || Array.isArray(j));
  } catch {
    return false;
  }
}

/** The model's main file: the one named by `main`, else the only .onnx file or tfjs model.json. */
function mainFile(files: Map<string, Uint8Array>, main?: string): string {
  if (main !== undefined) {
    if (!files.has(main)) throw new ModelLoadError(`loadModel: the main file '${main}' is not among the files (${listed([...files.keys()])})`);
    return main;
  }
  const names = [...files.keys()];
  const candidates = names.filter((n) => /\.onnx$/i.test(n) || (/\.json$/i.test(n) && !isCardName(n) && isTfjsModelJson(files.get(n)!)));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0)
    throw new ModelLoadError(`loadModel: no model among the files (${listed(names)}): give an .onnx file, or a TensorFlow.js model.json with its weight files`);
  throw new ModelLoadError(`loadModel: ${candidates.length} models among the files (${candidates.join(', ')}): pass { main: '<name>' } to choose one`);
}

/** Sibling lookup by the manifest's relative path, or by its base name (a drop gives base names). */
function siblingsOf(files: Map<string, Uint8Array>, mainName: string): ModelFiles {
  const all = Object.fromEntries(files);
  const byBase = new Map<string, Uint8Array>();
  for (const [n, b] of files) if (!byBase.has(baseName(n))) byBase.set(baseName(n), b);
  const inner = modelFilesFromBytes(mainName, files.get(mainName)!, all);
  return {
    name: mainName,
    bytes: inner.bytes,
    sibling: (p) => {
      const found = inner.sibling(p);
      return found.bytes ? found : { location: p, bytes: byBase.get(baseName(p)) };
    },
  };
}

function lines(files: Map<string, Uint8Array>, name: string, cardName: string, field: string): string[] {
  const bytes = files.get(name) ?? files.get(baseName(name));
  if (!bytes) throw new CardError(`${cardName}: '${field}' names ${name}, which is not among the files: add it`);
  return utf8(bytes)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l, i, a) => l.length > 0 || i < a.length - 1);
}

/** The card file among the files: `<model>.naflow.json` (or `<model>.onnx.naflow.json`), else the only card given. */
function cardFileName(files: Map<string, Uint8Array>, mainName: string): string | undefined {
  const base = baseName(mainName);
  const wanted = [`${base.replace(/\.(onnx|json)$/i, '')}.naflow.json`, ...(/\.onnx$/i.test(base) ? [`${base}.naflow.json`] : [])];
  const cards = [...files.keys()].filter(isCardName);
  const named = cards.filter((c) => wanted.includes(baseName(c)));
  if (named.length > 1) throw new CardError(`two model cards for ${mainName}: ${named.join(' and ')}; keep one`);
  if (named.length === 1) return named[0];
  if (cards.length > 1) throw new CardError(`${cards.length} model cards among the files (${cards.join(', ')}) and none is named ${wanted[0]}: keep one`);
  return cards[0];
}

/** The card: the one given as an object, else the card file among the files; label/id files resolved from the files. */
function cardOf(files: Map<string, Uint8Array>, mainName: string, options: WebLoadOptions): LoadedCard {
  let card: LoadedCard = {};
  const cardName = options.card ? 'the card given to loadModel' : cardFileName(files, mainName);
  if (options.card) card = validateCard(options.card, cardName!);
  else if (cardName) {
    let raw: unknown;
    try {
      raw = JSON.parse(utf8(files.get(cardName)!));
    } catch (e) {
      throw new CardError(`${cardName}: not valid JSON (${(e as Error).message})`);
    }
    card = { ...validateCard(raw, cardName), cardPath: cardName };
  }
  if (cardName && card.labels) card.labelList = lines(files, card.labels, cardName, 'labels');
  if (cardName && card.ids) card.idList = lines(files, card.ids, cardName, 'ids');
  const defined = Object.fromEntries(Object.entries(options.cardFields ?? {}).filter(([, v]) => v !== undefined));
  if (Object.keys(defined).length) card = { ...card, ...validateCard(defined, 'cardFields'), overridden: Object.keys(defined) };
  if (!cardName) card.searched = [`${baseName(mainName).replace(/\.(onnx|json)$/i, '')}.naflow.json`];
  return card;
}

/**
 * A `Model` from a page's files: an ONNX file, or a tfjs model.json with its weight files; with its
 * card (`*.naflow.json` among the files, or `options.card`). Initialises the tensor backend (wasm,
 * with its .wasm files beside naflow.js) when none is yet.
 */
export async function loadModel(source: WebModelSource, options: WebLoadOptions = {}): Promise<Model> {
  const files = await bytesByName(source);
  const mainName = mainFile(files, options.main);
  const card = cardOf(files, mainName, options);
  if (!backendInfo()) await initBackend({ backend: options.backend, threads: 1 });
  return importModel(siblingsOf(files, mainName), { card, skipShapes: options.skipShapes });
}
