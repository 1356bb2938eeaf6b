/**
 * The ONNX importer's value model and layout conventions: every ONNX tensor is either a host constant
 * or an activation with its logical ONNX dims; rank-4 activations are stored NHWC, so logical (NCHW)
 * axes map to storage axes through `AX`. A symbolic batch is tracked as the sentinel `BATCH`.
 */
import type { Attrs, HDType, HostTensor } from './host/tensor.js';

/** Sentinel standing for a symbolic batch size in shape arithmetic (large, odd, and never a real size). */
export const BATCH = 268435459;
/** Storage axis (NHWC) of each logical ONNX axis of a rank-4 tensor. */
export const AX = [0, 3, 1, 2];
/** Logical ONNX axis held at each NHWC storage axis. */
export const LOGICAL = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];

export const MIN_OPSET = 11;
export const MAX_OPSET = 18;

export interface Act {
  kind: 'act';
  /** naflow tensor holding it (NHWC when rank 4) */
  ref: string;
  /** logical ONNX dims (BATCH stands for the symbolic batch); undefined when unknown */
  dims?: number[];
  rank?: number;
  dtype: HDType;
  /** downstream of an op naflow could not map: shapes are best-effort */
  tainted?: boolean;
  /**
   * A channels-last view: a rank-4 tensor whose logical dims are [N, H, W, C] (PyTorch's
   * `x.permute(0, 2, 3, 1)` before a LayerNorm or Linear, as in ConvNeXt), stored in that logical order —
   * which is naflow's own NHWC, so the Transpose that made it costs nothing and the layers on it are
   * ordinary NHWC layers. Only the handlers that know this layout read such a value as is
   * (`OnnxImporter.valAnyLayout`); every other handler gets a copy in the standard storage.
   */
  channelsLast?: boolean;
}
export interface Const {
  kind: 'const';
  t: HostTensor;
}
export type Val = Act | Const;

/** One ONNX node as the importer sees it (attributes decoded). */
export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
  index: number;
}

/** Thrown inside a node conversion when a needed static shape is unknown (after an unmapped op). */
export class NeedShape extends Error {}

export const isBatchDim = (d: number): boolean => d >= BATCH && d % BATCH === 0;
export const extDim = (d: number): number => (isBatchDim(d) ? -1 : d);
export const nhwc = (d: number[]): number[] => (d.length === 4 ? [d[0], d[2], d[3], d[1]] : d.slice());
/** NCHW↔NHWC is a no-op on memory order when C is 1 or H·W is 1. */
export const memNoop = (d: number[]): boolean => d.length === 4 && (d[1] === 1 || d[2] * d[3] === 1);
export const fmtDims = (d: number[] | undefined): string => (d ? `[${d.map((x) => (isBatchDim(x) ? 'N' : String(x))).join(',')}]` : '[?]');
