/**
 * Importer for TensorFlow.js **layers** models (Keras 2.x model configs as written by the tfjs
 * converter or by tfjs-layers' `model.save`; the common Keras 3 config forms are read too): the
 * model structure (Sequential, Functional, nested models), layer weights, and one layer call at a
 * time through the handler table (handlers.ts, one file per layer family).
 *
 * Naming: the last node a layer produces carries the Keras layer name (so its output tensor is the
 * layer's output, post-activation); extra nodes a layer needs are named `<layer>/<step>`, e.g.
 * `conv2d_1/conv` + `conv2d_1` (Relu) for `Conv2D(activation='relu')`. `sourceOp` is the Keras class.
 * Unknown layer classes are kept as a node whose `op` is the class name, so `loadModel` reports them
 * by name and `inspect` can list them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Graph, type Shape } from '../../ir/graph.js';
import { isObject } from '../json-check.js';
import { GraphBuilder, samePads } from '../tfjs-common.js';
import { Chain, NeedsShape } from './chain.js';
import { layerHandler } from './handlers.js';
import {
  LayerConfig,
  MODEL_CLASSES,
  dtypeOf,
  ioRefs,
  layersTopology,
  readLayer,
  toShape,
  type KerasLayer,
  type KerasModel,
  type KerasRef,
} from './model-json.js';

interface LayerCall {
  layer: KerasLayer;
  /** index of this call of the layer */
  call: number;
  /** inbound references */
  refs: KerasRef[];
}

export class LayersImporter {
  readonly b: GraphBuilder;
  /** `${layerPath}#${call}#${tensor}` → IR tensor name */
  readonly tensors = new Map<string, string>();
  /** constants already created for a layer's weights (shared layers reuse them) */
  readonly layerConsts = new Map<string, string>();
  readonly usedWeights = new Set<string>();
  /** nodes kept for unknown layer classes */
  readonly unknownNodes = new Set<string>();

  constructor(
    readonly weights: Map<string, tf.Tensor>,
    readonly source: string,
  ) {
    this.b = new GraphBuilder('tfjs-layers', source);
  }

  run(modelJson: unknown): Graph {
    try {
      const top = layersTopology(modelJson, this.source);
      const outs = this.importModel(top, '', undefined);
      const g = this.b.finish(outs);
      for (const [name, t] of this.weights) if (!this.usedWeights.has(name)) t.dispose();
      return g;
    } catch (e) {
      this.b.dispose();
      for (const [name, t] of this.weights) if (!this.usedWeights.has(name)) t.dispose();
      throw e;
    }
  }

  // ---------------------------------------------------------------- model structure

  /**
   * Import a (possibly nested) model. `prefix` is prepended to layer names (nested models);
   * `feeds` are the outer tensors bound to the model's inputs (undefined: top level, create inputs).
   */
  importModel(m: KerasModel, prefix: string, feeds: string[] | undefined): string[] {
    if (m.class_name === 'Sequential') return this.importSequential(m, prefix, feeds);
    return this.importFunctional(m, prefix, feeds);
  }

  importSequential(m: KerasModel, prefix: string, feeds: string[] | undefined): string[] {
    const config = m.config;
    const raw = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
    if (!Array.isArray(raw) || raw.length === 0) throw new GraphError(`${this.source}: Sequential model without layers`);
    const at = Array.isArray(config) ? m.at : m.at.at('layers');
    const layers = raw.map((l, k) => readLayer(l, at.at(k)));
    let rest = layers;
    let x: string;
    if (layers[0].class_name === 'InputLayer') {
      const l = layers[0];
      const cname = l.config.get('name');
      const name = prefix + (typeof cname === 'string' ? cname : l.name);
      x = feeds ? feeds[0] : this.makeInput(name, l.config);
      rest = layers.slice(1);
    } else if (feeds) {
      x = feeds[0];
    } else {
      const first = layers[0].config;
      const fname = first.get('name');
      const inputShape = first.has('input_shape') ? [null, ...first.numList('input_shape')] : undefined;
      const bis = first.get('batch_input_shape') ?? first.get('batch_shape') ?? inputShape;
      if (!bis) throw new GraphError(`${this.source}: Sequential model: the first layer '${fname}' declares no input shape`);
      x = this.makeInput(`${prefix}${fname ?? 'sequential'}_input`, new LayerConfig({ ...first.data, batch_input_shape: bis }, first.at));
    }
    for (const l of rest) {
      const outs = this.importLayer(l, prefix, 0, [x]);
      x = outs[0];
    }
    return [x];
  }

  importFunctional(m: KerasModel, prefix: string, feeds: string[] | undefined): string[] {
    const config = isObject(m.config) ? m.config : undefined;
    if (!config || !Array.isArray(config.layers)) throw new GraphError(`${this.source}: model config has no 'layers' list`);
    const layers = config.layers.map((l, k) => readLayer(l, m.at.at('layers').at(k)));
    const inputRefs = ioRefs(config.input_layers);
    const outputRefs = ioRefs(config.output_layers);
    if (feeds && feeds.length !== inputRefs.length)
      throw new GraphError(`${this.source}: nested model '${prefix.replace(/\/$/, '')}' has ${inputRefs.length} inputs but is called with ${feeds.length}`);
    const byName = new Map<string, KerasLayer>();
    for (const l of layers) byName.set(l.name, l);

    // Inputs first.
    inputRefs.forEach(([name], k) => {
      const l = byName.get(name);
      if (!l) throw new GraphError(`${this.source}: input layer '${name}' is not among the model's layers`);
      const t = feeds ? feeds[k] : this.makeInput(prefix + name, l.config);
      this.tensors.set(`${prefix}${name}#0#0`, t);
    });

    // Every call of every other layer, processed once its inputs exist.
    const pending: LayerCall[] = [];
    for (const l of layers) {
      if (l.class_name === 'InputLayer') {
        const key = `${prefix}${l.name}#0#0`;
        if (!this.tensors.has(key)) {
          // an InputLayer not listed in input_layers (unused): make it an input anyway
          this.tensors.set(key, this.makeInput(prefix + l.name, l.config));
        }
        continue;
      }
      l.inbound.forEach((refs, call) => pending.push({ layer: l, call, refs }));
    }
    while (pending.length) {
      const before = pending.length;
      for (let i = 0; i < pending.length; ) {
        const c = pending[i];
        const ins = c.refs.map(([n, ni, ti]) => this.ref(prefix, n, ni, ti));
        if (ins.every((t) => t !== undefined)) {
          const outs = this.importLayer(c.layer, prefix, c.call, ins as string[]);
          outs.forEach((o, k) => this.tensors.set(`${prefix}${c.layer.name}#${c.call}#${k}`, o));
          pending.splice(i, 1);
        } else i++;
      }
      if (pending.length === before) {
        const c = pending[0];
        const missing = c.refs.filter(([n, ni, ti]) => this.ref(prefix, n, ni, ti) === undefined).map((r) => r[0]);
        throw new GraphError(
          `${this.source}: layer '${prefix}${c.layer.name}' (${c.layer.class_name}) reads layer(s) ${missing.map((m) => `'${m}'`).join(', ')} that the model does not define (or the model has a cycle)`,
        );
      }
    }
    return outputRefs.map(([n, ni, ti]) => {
      const t = this.ref(prefix, n, ni, ti);
      if (!t) throw new GraphError(`${this.source}: output layer '${prefix}${n}' was not produced`);
      return t;
    });
  }

  /**
   * The IR tensor of a Keras reference. Unknown layers with several outputs grow extra outputs
   * `<name>:k` on demand.
   */
  ref(prefix: string, layer: string, node: number, k: number): string | undefined {
    const key = `${prefix}${layer}#${node}#${k}`;
    const t = this.tensors.get(key);
    if (t !== undefined || k === 0) return t;
    const first = this.tensors.get(`${prefix}${layer}#${node}#0`);
    const producer = first === undefined ? undefined : this.b.nodes.find((n) => n.outputs[0] === first);
    if (!producer || !this.unknownNodes.has(producer.name)) return undefined;
    const extra = this.b.unique(`${first}:${k}`);
    this.b.reserve(extra);
    producer.outputs.push(extra);
    this.b.shapes.set(extra, undefined);
    this.tensors.set(key, extra);
    return extra;
  }

  makeInput(name: string, cfg: LayerConfig): string {
    const shape = toShape(cfg.get('batch_input_shape') ?? cfg.get('batch_shape') ?? cfg.get('batchInputShape'));
    if (!shape) throw new GraphError(`${this.source}: input layer '${name}' has no batch_input_shape`);
    if (shape.length === 4 && cfg.get('data_format') === 'channels_first')
      throw new GraphError(`${this.source}: input layer '${name}' is channels_first; naflow reads channels_last (NHWC) models only`);
    shape[0] = -1;
    return this.b.addInput(name, shape, dtypeOf(cfg.get('dtype')));
  }

  // ---------------------------------------------------------------- weights

  /** Look up a layer weight by Keras naming conventions; undefined when absent. */
  findWeight(layerName: string, param: string, prefix: string): string | undefined {
    const outer = prefix.replace(/\/$/, '');
    const candidates = [
      `${layerName}/${param}`,
      `${layerName}/${param}:0`,
      ...(outer ? [`${outer}/${layerName}/${param}`, `${outer}/${layerName}/${param}:0`] : []),
    ];
    for (const c of candidates) if (this.weights.has(c)) return c;
    const suffixes = [`/${layerName}/${param}`, `/${layerName}/${param}:0`];
    for (const k of this.weights.keys()) if (suffixes.some((s) => k.endsWith(s))) return k;
    return undefined;
  }

  weightNamesOf(layerName: string): string[] {
    return [...this.weights.keys()].filter((k) => k === layerName || k.startsWith(`${layerName}/`) || k.includes(`/${layerName}/`));
  }

  /**
   * A layer weight as a graph constant (created once per layer and parameter). `transform` may build
   * a derived tensor (e.g. a reshaped depthwise kernel); the original is then disposed.
   */
  weight(layer: KerasLayer, prefix: string, param: string, required: true, transform?: (t: tf.Tensor) => tf.Tensor): string;
  weight(layer: KerasLayer, prefix: string, param: string, required: boolean, transform?: (t: tf.Tensor) => tf.Tensor): string | undefined;
  weight(layer: KerasLayer, prefix: string, param: string, required: boolean, transform?: (t: tf.Tensor) => tf.Tensor): string | undefined {
    const key = `${prefix}${layer.name}/${param}`;
    const done = this.layerConsts.get(key);
    if (done) return done;
    const wname = this.findWeight(layer.name, param, prefix);
    if (!wname) {
      if (!required) return undefined;
      const has = this.weightNamesOf(layer.name);
      throw new GraphError(
        `${this.source}: layer '${prefix}${layer.name}' (${layer.class_name}) needs weight '${layer.name}/${param}', which the weightsManifest lacks` +
          (has.length ? ` (it has ${has.map((h) => `'${h}'`).join(', ')})` : ''),
      );
    }
    let t = this.weights.get(wname)!;
    if (this.usedWeights.has(wname)) {
      // the same stored weight used under a second parameter key: share the constant by cloning
      t = t.clone();
    } else this.usedWeights.add(wname);
    if (transform) {
      const u = tf.tidy(() => transform(t));
      t.dispose();
      t = u;
    }
    const name = this.b.addConst(`${prefix}${layer.name}/${param}`, t);
    this.layerConsts.set(key, name);
    return name;
  }

  constant(base: string, t: tf.Tensor): string {
    return this.b.addConst(base, t);
  }

  // ---------------------------------------------------------------- layers

  /** Import one call of a layer; returns its output tensor(s). */
  importLayer(layer: KerasLayer, prefix: string, call: number, inputs: string[]): string[] {
    const cls = layer.class_name;
    const cfg = layer.config;
    const baseName = prefix + layer.name + (call > 0 ? `/call${call}` : '');

    if (MODEL_CLASSES.has(cls)) {
      return this.importModel({ class_name: cls, config: cfg.data, at: cfg.at }, `${baseName}/`, inputs);
    }
    if (cfg.get('data_format') === 'channels_first')
      throw new GraphError(`${this.source}: layer '${baseName}' (${cls}) uses data_format 'channels_first'; naflow reads channels_last (NHWC) models only`);

    const chain = new Chain(this.b, baseName, cls);
    let out: string | undefined;
    try {
      out = this.layerBody(chain, layer, prefix, inputs);
    } catch (e) {
      if (e instanceof NeedsShape) out = undefined;
      else throw e;
    }
    if (out === undefined) {
      // Unknown class (or a shape-dependent layer after an unknown one): keep it for inspection.
      chain.abandon();
      const attrs: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(cfg.data)) if (!/initializer|regularizer|constraint/.test(k)) attrs[k] = v;
      const params: string[] = [];
      for (const [k, cname] of this.layerConsts) if (k.startsWith(`${prefix}${layer.name}/`)) params.push(cname);
      for (const w of this.weightNamesOf(layer.name)) {
        if (this.usedWeights.has(w)) continue;
        this.usedWeights.add(w);
        params.push(this.b.addConst(w, this.weights.get(w)!));
      }
      const name = this.b.emit(baseName, cls, [...inputs, ...params], attrs, undefined, cls);
      this.unknownNodes.add(name);
      return [name];
    }
    return [chain.finish(out)];
  }

  shape(t: string): Shape | undefined {
    return this.b.shapeOf(t);
  }

  needShape(t: string): Shape {
    const s = this.shape(t);
    if (!s) throw new NeedsShape();
    return s;
  }

  /** Emit the nodes of one layer into `c`; return the output tensor or undefined for unknown classes. */
  unsupported(c: Chain, cls: string, what: string): GraphError {
    return new GraphError(`${this.source}: layer '${c.base}' (${cls}): ${what} is not supported by naflow`);
  }

  pads(padding: unknown, s: Shape, kernel: [number, number], strides: [number, number], dilations: [number, number]): [number, number, number, number] {
    const p = String(padding ?? 'valid').toLowerCase();
    if (p === 'valid') return [0, 0, 0, 0];
    if (p === 'same') {
      const pads = samePads(s[1] < 0 ? undefined : s[1], s[2] < 0 ? undefined : s[2], kernel, strides, dilations);
      if (!pads) throw new NeedsShape();
      return pads;
    }
    throw new GraphError(`${this.source}: padding '${p}' is not supported (valid, same)`);
  }

  /** Emit the nodes of one layer into `c`; return the output tensor or undefined for unknown classes. */
  layerBody(c: Chain, layer: KerasLayer, prefix: string, inputs: string[]): string | undefined {
    const handler = layerHandler(layer.class_name);
    if (!handler) return undefined;
    const x = inputs[0];
    const xs = this.shape(x);
    return handler({ im: this, c, layer, cls: layer.class_name, cfg: layer.config, prefix, inputs, x, xs, rank: xs?.length });
  }
}

/**
 * Import a Keras/tfjs layers model from its parsed (untrusted) model.json. Takes ownership of
 * `weights` (used as constants or disposed).
 */
export function importTfjsLayers(modelJson: unknown, weights: Map<string, tf.Tensor>, source: string): Graph {
  return new LayersImporter(weights, source).run(modelJson);
}
