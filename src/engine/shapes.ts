/**
 * Shape inference at load: every activation gets a static shape in `graph.values`. Rules that
 * implement `inferShape` are used directly; for the others the node is dry-run once on zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Shape } from '../ir/graph.js';
import type { Model } from './model.js';

export function inferShapes(model: Model): void {
  const g = model.graph;
  for (const i of g.inputs) g.values.set(i.name, { ...i });
  const shapeOf = (name: string, node: string): Shape => {
    const c = g.constants.get(name);
    if (c) return c.shape;
    const v = g.values.get(name);
    if (!v) throw new GraphError(`${g.source}: node '${node}' reads tensor '${name}', whose shape is unknown`);
    return v.shape;
  };
  for (const node of g.nodes) {
    const rule = model.ruleFor(node);
    const ctx = model.context(node);
    const inShapes = node.inputs.map((n) => (n === '' ? [] : shapeOf(n, node.name)));
    let outShapes: Shape[];
    try {
      if (rule.inferShape) outShapes = rule.inferShape(inShapes, ctx);
      else {
        // Dry run with batch 1 where the batch is unknown.
        const batchUnknown = inShapes.some((s) => s[0] === -1);
        outShapes = tf.tidy(() => {
          const ins = node.inputs.map(
            (n, k) =>
              g.constants.get(n) ??
              tf.zeros(
                inShapes[k].map((d) => (d < 0 ? 1 : d)),
                g.values.get(n)?.dtype ?? 'float32',
              ),
          );
          return rule.forward(ins, ctx).map((t) => t.shape.slice());
        });
        if (batchUnknown) outShapes = outShapes.map((s) => (s.length ? [-1, ...s.slice(1)] : s));
      }
    } catch (e) {
      if (e instanceof GraphError) throw e;
      throw new GraphError(
        `${g.source}: node '${node.name}' (op ${node.sourceOp ?? node.op}) cannot take inputs of shape ${inShapes
          .map((s) => `[${s.join(',')}]`)
          .join(', ')}: ${(e as Error).message}`,
      );
    }
    node.outputs.forEach((o, k) => {
      if (o === '') return;
      const prev = g.values.get(o);
      g.values.set(o, { name: o, shape: outShapes[k], dtype: prev?.dtype ?? 'float32' });
    });
  }
}
