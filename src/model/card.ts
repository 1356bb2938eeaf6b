/**
 * The model card: a JSON sidecar `<model>.naflow.json` next to a model file (for a tfjs model.json:
 * `model.naflow.json` in the same folder) stating once what the model expects, so that no command
 * needs flags for it. Reading it from disk is the Node adapter's (src/node/card-file.ts).
 */
import { InputError } from '../util/errors.js';

export type PreprocessPreset = 'imagenet' | 'unit' | 'raw255';
export interface PreprocessCustom {
  /** pixel = (value·scale − mean[c]) / std[c], value in 0..255 */
  scale: number;
  mean: [number, number, number] | [number];
  std: [number, number, number] | [number];
}

export interface ModelCard {
  name?: string;
  /** [height, width] the image is resized to */
  inputSize?: [number, number];
  /** 3 (RGB) or 1 (grayscale) */
  channels?: 1 | 3;
  preprocess?: PreprocessPreset | PreprocessCustom;
  /** how the image is brought to inputSize: plain resize (default, aspect not kept) or resize shorter side + centre crop */
  resize?: 'squash' | 'center-crop';
  /** center-crop only: the shorter side is resized to this many pixels before the centre inputSize is cut out (torchvision's Resize(256) + CenterCrop(224)); default: the crop size */
  resizeShorter?: number;
  /** interpolation for the resize */
  interpolation?: 'bilinear' | 'bicubic';
  /** file (relative to the card) with one class label per line */
  labels?: string;
  /** similarity models: the tensor holding the embedding (default: the model's only output) */
  embedding?: string;
  /** similarity models: the metric the model was trained for (cosine, dot or euclidean) */
  metric?: 'cosine' | 'dot' | 'euclidean';
  /** file (relative to the card) with one class identifier per line (e.g. WordNet ids) */
  ids?: string;
  /** layout of the model's own input in its source format (informational: naflow feeds NHWC internally) */
  layout?: 'NCHW' | 'NHWC';
  /** whether the output is already a probability distribution (else softmax is applied for display) */
  outputIsProbability?: boolean;
  /** free-form provenance and licence text */
  source?: string;
  licence?: string;
}

export interface LoadedCard extends ModelCard {
  /** resolved label strings (when `labels` is given) */
  labelList?: string[];
  /** resolved identifiers (when `ids` is given) */
  idList?: string[];
  /** the card file it came from, if any */
  cardPath?: string;
  /** where a card was looked for when none was found (for the warning that the defaults apply) */
  searched?: string[];
  /** fields given on the command line (--preprocess, --input-size, --layout), over the card's */
  overridden?: string[];
}

export class CardError extends InputError {}

/** The named normalisations (src/image/preprocess.ts defines them). */
export const PREPROCESS_PRESETS: readonly PreprocessPreset[] = ['imagenet', 'unit', 'raw255'];
const PRESETS: ReadonlySet<string> = new Set(PREPROCESS_PRESETS);

/** Every field a card may have; a key starting with '//' is a comment. */
export const CARD_FIELDS: readonly (keyof ModelCard)[] = [
  'name',
  'inputSize',
  'channels',
  'preprocess',
  'resize',
  'resizeShorter',
  'interpolation',
  'labels',
  'ids',
  'layout',
  'outputIsProbability',
  'embedding',
  'metric',
  'source',
  'licence',
];

/** Validate a parsed card, naming the file and the field that is wrong. */
export function validateCard(raw: unknown, where: string): ModelCard {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CardError(`${where}: a model card must be a JSON object`);
  const c = raw as Record<string, unknown>;
  const bad = (field: string, want: string) => new CardError(`${where}: field '${field}' must be ${want}, got ${JSON.stringify(c[field])}`);
  // a misspelt field would otherwise be ignored and its default used without a word
  const unknown = Object.keys(c).filter((k) => !k.startsWith('//') && !(CARD_FIELDS as readonly string[]).includes(k));
  if (unknown.length)
    throw new CardError(
      `${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (fields: ${CARD_FIELDS.join(', ')}; keys starting with // are comments)`,
    );
  if (c.inputSize !== undefined) {
    const s = c.inputSize;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((v) => Number.isInteger(v) && v > 0)) throw bad('inputSize', '[height, width] of positive integers');
  }
  if (c.channels !== undefined && c.channels !== 1 && c.channels !== 3) throw bad('channels', '1 or 3');
  if (c.preprocess !== undefined) {
    const p = c.preprocess;
    if (typeof p === 'string') {
      if (!PRESETS.has(p)) throw bad('preprocess', `one of ${[...PRESETS].join(', ')} or {scale, mean, std}`);
    } else if (typeof p !== 'object' || p === null || typeof (p as PreprocessCustom).scale !== 'number') {
      throw bad('preprocess', `one of ${[...PRESETS].join(', ')} or {scale, mean, std}`);
    }
  }
  if (c.resize !== undefined && c.resize !== 'squash' && c.resize !== 'center-crop') throw bad('resize', "'squash' or 'center-crop'");
  if (c.resizeShorter !== undefined) checkResizeShorter(c, bad);
  if (c.interpolation !== undefined && c.interpolation !== 'bilinear' && c.interpolation !== 'bicubic') throw bad('interpolation', "'bilinear' or 'bicubic'");
  if (c.layout !== undefined && c.layout !== 'NCHW' && c.layout !== 'NHWC') throw bad('layout', "'NCHW' or 'NHWC'");
  if (c.metric !== undefined && c.metric !== 'cosine' && c.metric !== 'dot' && c.metric !== 'euclidean') throw bad('metric', "'cosine', 'dot' or 'euclidean'");
  for (const f of ['labels', 'ids', 'name', 'source', 'licence', 'embedding']) if (c[f] !== undefined && typeof c[f] !== 'string') throw bad(f, 'a string');
  if (c.outputIsProbability !== undefined && typeof c.outputIsProbability !== 'boolean') throw bad('outputIsProbability', 'true or false');
  return Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith('//'))) as ModelCard;
}

/** `resizeShorter`: an integer with `"resize": "center-crop"`, no smaller than the crop it is cut from. */
function checkResizeShorter(c: Record<string, unknown>, bad: (field: string, want: string) => CardError): void {
  const s = c.resizeShorter;
  if (!Number.isInteger(s) || (s as number) <= 0) throw bad('resizeShorter', 'a positive integer (pixels of the shorter side before the centre crop)');
  if (c.resize !== 'center-crop') throw bad('resizeShorter', `given only with "resize": "center-crop" (resize is ${JSON.stringify(c.resize ?? 'squash')})`);
  const size = c.inputSize as [number, number] | undefined;
  if (size && (s as number) < Math.max(...size))
    throw bad('resizeShorter', `at least the larger side of inputSize [${size.join(', ')}] (the crop is cut from the resized image)`);
}
