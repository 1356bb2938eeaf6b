/** What a constant-folding entry receives (see fold.ts). */
import type { Attrs, HostTensor } from './tensor.js';

export interface FoldArgs {
  op: string;
  /** undefined for omitted optional inputs */
  inputs: Array<HostTensor | undefined>;
  attrs: Attrs;
  opset: number;
  nOutputs: number;
  /** input k, or a FoldError when it is missing */
  need(k: number): HostTensor;
  /** the inputs that are present, in order */
  present(): HostTensor[];
}

/** Evaluates one op on host tensors; returns one tensor per output. */
export type Folder = (x: FoldArgs) => HostTensor[];
