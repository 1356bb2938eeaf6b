/**
 * Hand-built test graphs: a node per line and a model with shapes inferred, as the importers would
 * give them (one NHWC input named 'x').
 */
import type * as tf from '@tensorflow/tfjs-core';
import { Model } from '../../src/engine/model.js';
import { inferShapes } from '../../src/engine/shapes.js';
import type { AnyNode, Graph } from '../../src/ir/graph.js';
import '../../src/ops/index.js';

/** A single-output node named after its output. */
export const node = (name: string, op: string, inputs: string[], attrs: object = {}): AnyNode => ({ name, op, inputs, outputs: [name], attrs }) as AnyNode;

/** A model of `nodes` over the input 'x' of `inputShape`; the last node's output is the graph output. */
export function testModel(source: string, inputShape: number[], nodes: AnyNode[], constants: Iterable<[string, tf.Tensor]>): Model {
  const graph: Graph = {
    format: 'test',
    source,
    inputs: [{ name: 'x', shape: inputShape, dtype: 'float32' }],
    outputs: [nodes[nodes.length - 1].name],
    nodes,
    constants: new Map(constants),
    values: new Map(),
  };
  const m = new Model(graph, {});
  inferShapes(m);
  return m;
}
