/**
 * The messages between a page and naflow's Web Worker (src/web/worker.ts ↔ src/web/client.ts). Every
 * request carries an id; the worker answers it with one 'done' or 'error' message, after any number of
 * 'progress' messages. Bytes travel as transferred ArrayBuffers in both directions.
 */
import type { Decision } from '../naflow/explain.js';
import type { NaflowMode } from '../naflow/cascade.js';
import type { SolverStats } from '../ops/registry.js';
import type { Prediction } from '../predict.js';

/** One layer of an explanation as the worker sends it: its identity and its raw H×W map. */
export interface WorkerLayer {
  name: string;
  node: string;
  op: string;
  sourceOp?: string;
  shape: [number, number, number];
  kept: number;
  solver?: SolverStats[] | null;
  map: Float32Array;
}

/** What `explain` in the worker gives back: the decision, the maps (shallow → deep) and the model-sized RGB image. */
export interface WorkerExplainResult {
  mode: NaflowMode;
  decision: Decision;
  elapsedMs: number;
  layers: WorkerLayer[];
  image: { data: Uint8Array; width: number; height: number } | null;
}

/** A loaded model's facts, for the page. */
export interface WorkerModelInfo {
  name: string;
  inputShape: (number | null)[] | null;
  hasLabels: boolean;
}

export type WorkerRequest =
  | { id: number; type: 'load'; files: [string, ArrayBuffer][]; main?: string }
  | { id: number; type: 'predict'; image: ArrayBuffer; top: number }
  | { id: number; type: 'explain'; image: ArrayBuffer; mode: NaflowMode; classIndex?: number };

export type WorkerReply =
  | { id: number; type: 'progress'; done: number; total: number; layer: string }
  | { id: number; type: 'done'; value: WorkerModelInfo | Prediction[] | WorkerExplainResult }
  | { id: number; type: 'error'; name: string; message: string };
