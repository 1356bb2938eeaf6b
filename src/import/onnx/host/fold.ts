/**
 * The constant folder: evaluates an ONNX node whose inputs are all constants (shape arithmetic,
 * casts, dequantised weights, …) on host tensors. One table per op family (fold-*.ts); adding a
 * foldable op is one entry there.
 */
import { FoldError, type Attrs, type HostTensor } from './tensor.js';
import { ELEMENTWISE_FOLDS } from './fold-elementwise.js';
import { SHAPE_FOLDS } from './fold-shape.js';
import { NUMERIC_FOLDS } from './fold-numeric.js';
import type { Folder, FoldArgs } from './fold-types.js';

export type { Folder, FoldArgs } from './fold-types.js';

const FOLDERS: Record<string, Folder> = { ...ELEMENTWISE_FOLDS, ...SHAPE_FOLDS, ...NUMERIC_FOLDS };

/** Ops the host evaluator knows (the importer folds a node of these types when all its inputs are constant). */
export function canFold(op: string): boolean {
  return Object.hasOwn(FOLDERS, op);
}

/** The op types the folder evaluates (for tests and reports). */
export function foldableOps(): string[] {
  return Object.keys(FOLDERS);
}

/**
 * Evaluate one node on constant inputs. `inputs` holds undefined for omitted optional inputs.
 * Returns one tensor per output (trailing optional outputs may be missing).
 */
export function foldOp(op: string, inputs: Array<HostTensor | undefined>, attrs: Attrs, opset: number, nOutputs: number): HostTensor[] {
  const folder = Object.hasOwn(FOLDERS, op) ? FOLDERS[op] : undefined;
  if (!folder) throw new FoldError(`no constant evaluator for op ${op}`);
  const args: FoldArgs = {
    op,
    inputs,
    attrs,
    opset,
    nOutputs,
    need: (k) => {
      const t = inputs[k];
      if (!t) throw new FoldError(`input ${k} is missing`);
      return t;
    },
    present: () => inputs.filter((t): t is HostTensor => !!t),
  };
  return folder(args);
}
