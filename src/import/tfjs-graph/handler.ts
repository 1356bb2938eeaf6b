/**
 * The shape of a tfjs graph op handler: it converts one TF node given its data inputs and returns
 * false (or throws ConvertFallback) when it cannot express it; the node is then kept as an unknown op.
 */
import type { Shape } from '../../ir/graph.js';
import type { TfGraphImporter } from './importer.js';
import type { TfNode } from './model-json.js';
import type { Val } from './values.js';

export type TfGraphHandler = (g: TfGraphImporter, n: TfNode, ins: Val[]) => boolean;
export type TfGraphHandlerTable = Readonly<Record<string, TfGraphHandler>>;

/** The first input, its static shape and rank (the common case of one-activation ops). */
export function firstInput(g: TfGraphImporter, ins: Val[]): { x: Val; xs: Shape | undefined; rank: number | undefined } {
  const x = ins[0];
  const xs = x ? g.shape(x) : undefined;
  return { x, xs, rank: xs?.length };
}
