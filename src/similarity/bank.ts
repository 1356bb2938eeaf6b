/**
 * Memory banks for contrastive k-NN classification: the embeddings and labels of a labelled folder,
 * built once (`naflow bank build`) and cached to a JSON file. The file records the model's sha256, so
 * a bank is never used with a model it was not built with.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../engine/model.js';
import { modelSha256 } from '../node/hash.js';
import { embed, embeddingTensorOf, readLabelledFolder, SimilarityError } from './embed.js';
import type { BankLike } from './targets.js';
import { outputWriteError } from '../util/errors.js';
import { partialPrefix, removeOnSignal, sweepStale } from '../node/out-dir.js';

export const BANK_FORMAT = 'naflow-bank/1';

export interface Bank extends BankLike {
  format: typeof BANK_FORMAT;
  model: { file: string; sha256: string };
  embeddingTensor: string;
  dim: number;
  files: string[];
  /** the labelled folder it was built from */
  source: string;
}

interface BankJson {
  format: typeof BANK_FORMAT;
  model: { file: string; sha256: string };
  embeddingTensor: string;
  dim: number;
  count: number;
  source: string;
  labels: string[];
  items: { file: string; label: number }[];
  /** float32 little-endian, count × dim, base64 */
  embeddings: string;
}

/** Embed every image of a labelled folder (one sub-folder per class). */
export async function buildBank(
  model: Model,
  modelFile: string,
  dir: string,
  options: { embeddingNode?: string; onProgress?: (done: number, total: number, file: string) => void } = {},
): Promise<Bank> {
  const classes = readLabelledFolder(dir, 'bank folder');
  const embeddingTensor = embeddingTensorOf(model, options.embeddingNode);
  const files: string[] = [];
  const itemLabels: number[] = [];
  classes.forEach((c, i) => c.files.forEach((f) => (files.push(f), itemLabels.push(i))));
  const embeddings: Float32Array[] = [];
  for (let i = 0; i < files.length; i++) {
    embeddings.push(await embed(model, files[i], { embeddingNode: embeddingTensor }));
    options.onProgress?.(i + 1, files.length, files[i]);
  }
  return {
    format: BANK_FORMAT,
    model: { file: modelFile, sha256: modelSha256(modelFile) },
    embeddingTensor,
    dim: embeddings[0].length,
    files,
    source: dir,
    labels: classes.map((c) => c.label),
    itemLabels,
    embeddings,
  };
}

/** How every bank file begins (saveBank writes `format` first): the mark of a file naflow may overwrite. */
const BANK_HEAD = `{"format":"${BANK_FORMAT}"`;

/**
 * Why `file` may not be written as a bank, or null when it may: it does not exist or is an earlier naflow
 * bank. Anything else — a folder, a device, a file naflow did not write — is never overwritten.
 */
export function bankFileProblem(file: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if (!st.isFile()) return `${file}: exists and is not a regular file (a folder or a device); choose another bank file (-o)`;
  const head = new Uint8Array(BANK_HEAD.length);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (Buffer.from(head).toString('utf8') === BANK_HEAD) return null;
  return `${file}: exists and is not a naflow bank; naflow overwrites only a bank it wrote: choose another bank file (-o)`;
}

export function saveBank(bank: Bank, file: string): void {
  const all = new Float32Array(bank.embeddings.length * bank.dim);
  bank.embeddings.forEach((e, i) => all.set(e, i * bank.dim));
  const json: BankJson = {
    format: BANK_FORMAT,
    model: bank.model,
    embeddingTensor: bank.embeddingTensor,
    dim: bank.dim,
    count: bank.embeddings.length,
    source: bank.source,
    labels: bank.labels,
    items: bank.files.map((f, i) => ({ file: f, label: bank.itemLabels[i] })),
    embeddings: Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64'),
  };
  const problem = bankFileProblem(file);
  if (problem) throw new SimilarityError(problem);
  sweepStale(file);
  // written beside it and renamed over it: a kill or a full disk never leaves half a bank
  const tmp = `${partialPrefix(file)}${Date.now().toString(36)}`;
  const release = removeOnSignal(tmp);
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(json));
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw outputWriteError(e, file, '-o');
  } finally {
    release();
  }
}

/**
 * Read a bank; with `modelFile`, refuse a bank built with another model (sha256 compared) and, with
 * `embeddingTensor`, one built from another tensor.
 */
export function loadBank(file: string, check: { modelFile?: string; embeddingTensor?: string } = {}): Bank {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SimilarityError(
      code === 'ENOENT'
        ? `bank ${file}: no such file (build one with: naflow bank build <model> <labelled-dir> -o ${file})`
        : `bank ${file}: cannot read it (${code})`,
    );
  }
  let j: BankJson;
  try {
    j = JSON.parse(raw) as BankJson;
  } catch {
    throw new SimilarityError(`bank ${file}: not a naflow bank (not JSON)`);
  }
  if (j?.format !== BANK_FORMAT) throw new SimilarityError(`bank ${file}: not a naflow bank (format '${String(j?.format)}', expected '${BANK_FORMAT}')`);
  const fieldProblem =
    typeof j.embeddings !== 'string'
      ? 'embeddings'
      : !Array.isArray(j.items)
        ? 'items'
        : !Array.isArray(j.labels)
          ? 'labels'
          : !Number.isInteger(j.count) || !Number.isInteger(j.dim)
            ? 'count/dim'
            : typeof j.model?.sha256 !== 'string'
              ? 'model.sha256'
              : undefined;
  if (fieldProblem)
    throw new SimilarityError(`bank ${file}: corrupt (field '${fieldProblem}' missing or of the wrong type); build it again with naflow bank build`);
  const bytes = Buffer.from(j.embeddings, 'base64');
  if (bytes.length !== j.count * j.dim * 4 || j.items.length !== j.count)
    throw new SimilarityError(
      `bank ${file}: corrupt (${j.count} items × ${j.dim} dimensions declared, ${bytes.length} bytes of embeddings, ${j.items.length} items)`,
    );
  if (check.modelFile) {
    const sha = modelSha256(check.modelFile);
    if (sha !== j.model.sha256)
      throw new SimilarityError(
        `bank ${file} was built with another model (${j.model.file}, sha256 ${j.model.sha256.slice(0, 12)}…), not ${check.modelFile} (sha256 ${sha.slice(0, 12)}…): rebuild it with naflow bank build`,
      );
  }
  if (check.embeddingTensor && check.embeddingTensor !== j.embeddingTensor)
    throw new SimilarityError(`bank ${file} holds embeddings of tensor '${j.embeddingTensor}', not '${check.embeddingTensor}'`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return {
    format: BANK_FORMAT,
    model: j.model,
    embeddingTensor: j.embeddingTensor,
    dim: j.dim,
    source: j.source,
    labels: j.labels,
    files: j.items.map((i) => i.file),
    itemLabels: j.items.map((i) => i.label),
    embeddings: Array.from({ length: j.count }, (_, i) => all.slice(i * j.dim, (i + 1) * j.dim)),
  };
}
