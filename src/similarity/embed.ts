/**
 * Embeddings of images: which tensor is the embedding, one image's vector, and labelled folders
 * (one sub-folder per class) read for galleries, few-shot supports and memory banks.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { valuesOf } from '../util/tensor.js';
import type { Model } from '../engine/model.js';
import { forward } from '../engine/execute.js';
import { prepareImage, type ImageSpec } from '../image/preprocess.js';
import { InputError } from '../util/errors.js';

/** Bad similarity input (exit code 1 on the CLI): empty folders, wrong banks, unknown tensors. */
export class SimilarityError extends InputError {}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

/**
 * The embedding tensor: `name` if given, else the card's `embedding`, else the model's only output.
 * A model with several outputs must name one (the error lists them with their shapes).
 */
export function embeddingTensorOf(model: Model, name?: string): string {
  const graph = model.graph;
  const want = name ?? model.card.embedding;
  if (want) {
    if (!graph.values.has(want))
      throw new SimilarityError(
        `${graph.source}: no tensor named '${want}' (the outputs are ${graph.outputs.map((o) => `'${o}'`).join(', ')}; naflow inspect lists every tensor)`,
      );
    return want;
  }
  if (graph.outputs.length === 1) return graph.outputs[0];
  const list = graph.outputs.map((o) => `'${o}' [${graph.values.get(o)?.shape.join(', ') ?? '?'}]`).join(', ');
  throw new SimilarityError(
    `${graph.source}: the model has ${graph.outputs.length} outputs (${list}); choose the embedding with --embedding-node (or 'embedding' in the model card)`,
  );
}

/**
 * The embedding of one image (path or bytes) or preprocessed NHWC tensor (stays the caller's). A
 * rank-4 embedding tensor (a feature map) is global-average pooled to one value per channel.
 */
export async function embed(
  model: Model,
  input: string | Uint8Array | tf.Tensor,
  options: { embeddingNode?: string; image?: Partial<ImageSpec> } = {},
): Promise<Float32Array> {
  const name = embeddingTensorOf(model, options.embeddingNode);
  let owned: tf.Tensor | undefined;
  let x: tf.Tensor;
  if (input instanceof tf.Tensor) x = input.rank === 3 ? (owned = tf.expandDims(input, 0)) : input;
  else x = owned = (await prepareImage(model, input, options.image)).tensor;
  try {
    const record = forward(model, x, { outputs: [name] });
    try {
      const out = record.get(name);
      // a feature map [1, H, W, C] is pooled: its embedding is the per-channel spatial mean
      if (out.rank === 4) return valuesOf(() => tf.mean(out, [1, 2]));
      return new Float32Array(out.dataSync());
    } finally {
      record.dispose();
    }
  } finally {
    owned?.dispose();
  }
}

/** Image files directly inside a folder, sorted by name. */
export function imageFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SimilarityError(code === 'ENOTDIR' ? `${dir}: not a folder` : `${dir}: cannot read the folder (${code ?? (e as Error).message})`);
  }
  return entries
    .filter((e) => e.isFile() && IMAGE_EXT.test(e.name))
    .map((e) => path.join(dir, e.name))
    .sort();
}

export interface LabelledClass {
  label: string;
  files: string[];
}

/** A labelled folder: one sub-folder per class (the class name is the sub-folder's name), images inside. */
export function readLabelledFolder(dir: string, what = 'labelled folder'): LabelledClass[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SimilarityError(
      code === 'ENOENT' ? `${what} ${dir}: no such folder` : code === 'ENOTDIR' ? `${what} ${dir}: not a folder` : `${what} ${dir}: cannot read it (${code})`,
    );
  }
  const classes = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort()
    .map((label) => ({ label, files: imageFiles(path.join(dir, label)) }));
  if (!classes.length) throw new SimilarityError(`${what} ${dir}: no class sub-folders (expected one sub-folder of images per class)`);
  const empty = classes.filter((c) => !c.files.length);
  if (empty.length)
    throw new SimilarityError(
      `${what} ${dir}: class${empty.length > 1 ? 'es' : ''} ${empty.map((c) => `'${c.label}'`).join(', ')} ha${empty.length > 1 ? 've' : 's'} no images (JPEG, PNG or WebP)`,
    );
  return classes;
}
