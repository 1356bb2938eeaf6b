/**
 * The per-op rule registry. Each op family lives in one file under src/ops/ and registers an
 * `OpRule` per op type: its forward, its vector–Jacobian product (gradient w.r.t. its activation
 * inputs), and (from the cascade issue on) its inverse. The engine and the cascade only ever look
 * rules up here, so adding an op never touches them.
 */
import type { ArrayOperator } from '../solve/lsmr.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { AnyNode, Graph, Shape } from '../ir/graph.js';

/** What a rule sees when it runs: the node, and access to the graph's constants. */
export interface OpContext {
  node: AnyNode;
  graph: Graph;
  /** per-node prepared tensors (see OpRule.prepare), owned by the model */
  prepared: Record<string, tf.Tensor> | undefined;
}

export interface VjpArgs {
  /** the node's inputs at the recorded forward point (constants included, in input order) */
  inputs: tf.Tensor[];
  /** the node's outputs at the recorded forward point */
  outputs: tf.Tensor[];
  /** upstream gradient per output (null where that output receives none) */
  dys: Array<tf.Tensor | null>;
}

export interface JvpArgs {
  /** the node's inputs at the recorded forward point (constants included) */
  inputs: tf.Tensor[];
  outputs: tf.Tensor[];
  /** a tangent per input (null: zero tangent, e.g. for weights) */
  tangents: Array<tf.Tensor | null>;
}

/** Settings of the NAFlow inverse step (spec §5). */
export interface InverseSettings {
  /** damping factor ρ: λ = ρ·σ_max(J) */
  rho: number;
  atol: number;
  btol: number;
  maxIter: number;
  /** power iterations for σ_max */
  powerIterations: number;
}

/** What a least-squares inverse step reports. */
export interface SolverStats {
  method: 'lsmr' | 'closed-form' | 'diagonal';
  iterations: number;
  /** ‖J d − r‖ / ‖r‖ reached (0 when r = 0) */
  relResidual: number;
  /** λ used */
  damping: number;
  sigmaMax: number;
  stop: string;
}

export interface InverseArgs {
  /** forward inputs and outputs at the recorded point */
  inputs: tf.Tensor[];
  outputs: tf.Tensor[];
  /** the back-propagated feature map (BPFM) of each output (null: none reached it) */
  bOut: Array<tf.Tensor | null>;
  settings: InverseSettings;
}

export interface InverseResult {
  /** BPFM estimate per input (null: constants, or operands that give no estimate, e.g. a gate) */
  b: Array<tf.Tensor | null>;
  solver?: SolverStats;
}

export interface OpRule {
  op: string;
  /**
   * Which inputs are differentiable activations. Default: every input that is not a graph constant.
   */
  activationInputs?: (node: AnyNode, graph: Graph) => number[];
  /**
   * Optional one-time preparation at load (pre-transposed weights, flipped kernels for the VJP,
   * batch-norm scale/shift). Tensors returned are owned and disposed by the model.
   */
  prepare?: (ctx: Omit<OpContext, 'prepared'>) => Record<string, tf.Tensor>;
  /** Forward: inputs in node order (constants resolved), returns one tensor per node output. */
  forward: (inputs: tf.Tensor[], ctx: OpContext) => tf.Tensor[];
  /**
   * Vector–Jacobian product at the recorded forward point: the gradient w.r.t. each input
   * (null for constants/non-differentiable inputs, or where it is identically zero).
   * Must not use tfjs' built-in gradient machinery (wasm lacks several backward kernels).
   */
  vjp?: (args: VjpArgs, ctx: OpContext) => Array<tf.Tensor | null>;
  /**
   * Jacobian–vector product at the recorded forward point (the op linearised there, without bias).
   * Linear and piecewise-linear ops use it as `J v` in the matrix-free least-squares inverse.
   */
  jvp?: (args: JvpArgs, ctx: OpContext) => tf.Tensor[];
  /**
   * Optional fast form of the linearisation for the least-squares inverse: `J v` and `Jᵀ u` on flat
   * float32 arrays (same element order as the tensors), e.g. through native kernels. Undefined when
   * not available for this node; the JVP/VJP pair is used then.
   */
  arrayOperator?: (args: Pick<InverseArgs, 'inputs' | 'outputs'>, ctx: OpContext, inputIndex: number) => ArrayOperator | undefined;
  /** NAFlow inverse step (spec §5): BPFM of the inputs from the BPFM of the outputs. */
  inverse?: (args: InverseArgs, ctx: OpContext) => InverseResult;
  /** Optional static shape inference; the engine falls back to a dry run on zeros. */
  inferShape?: (inputShapes: Shape[], ctx: OpContext) => Shape[];
  /** ops that only exist at load time (e.g. Shape) are folded and have no runtime rule */
}

const rules = new Map<string, OpRule>();

export function registerOp(rule: OpRule): void {
  if (rules.has(rule.op)) throw new Error(`op rule '${rule.op}' registered twice`);
  rules.set(rule.op, rule);
}

export function getOpRule(op: string): OpRule | undefined {
  return rules.get(op);
}

export function supportedOps(): string[] {
  return [...rules.keys()].sort();
}

export function defaultActivationInputs(node: AnyNode, graph: Graph): number[] {
  return node.inputs.map((_, i) => i).filter((i) => node.inputs[i] !== '' && !graph.constants.has(node.inputs[i]));
}
