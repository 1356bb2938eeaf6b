/**
 * Importer for TensorFlow.js **layers** models (Keras 2.x model configs as written by the tfjs
 * converter or by tfjs-layers' `model.save`; the common Keras 3 config forms are read too).
 *
 * Naming: the last node a layer produces carries the Keras layer name (so its output tensor is the
 * layer's output, post-activation); extra nodes a layer needs are named `<layer>/<step>`, e.g.
 * `conv2d_1/conv` + `conv2d_1` (Relu) for `Conv2D(activation='relu')`. `sourceOp` is the Keras class.
 * Unknown layer classes are kept as a node whose `op` is the class name, so `loadModel` reports them
 * by name and `inspect` can list them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type Graph, type Shape } from '../ir/graph.js';
import { CLIP_INF, GraphBuilder, normAxis, prod, resolveReshape, samePads, windowShape } from './tfjs-common.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

interface LayerCall {
  layer: Json;
  /** index of this call of the layer */
  call: number;
  /** inbound references [layerName, nodeIndex, tensorIndex] */
  refs: Array<[string, number, number]>;
}

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);
const DROPOUT_LIKE = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ActivityRegularization',
]);

function pair(v: unknown, dflt: [number, number]): [number, number] {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v)) {
    if (v.length === 1) return [Number(v[0]), Number(v[0])];
    return [Number(v[0]), Number(v[1])];
  }
  return dflt;
}

function toShape(batchShape: unknown): Shape | undefined {
  if (!Array.isArray(batchShape)) return undefined;
  return batchShape.map((d) => (d === null || d === undefined || d < 0 ? -1 : Number(d)));
}

function dtypeOf(v: unknown): 'float32' | 'int32' {
  const s = typeof v === 'string' ? v : (v as Json)?.config?.name;
  return s === 'int32' || s === 'int64' ? 'int32' : 'float32';
}

/** Extract inbound references from Keras 2 (nested lists) or Keras 3 (`args` with keras_history). */
function parseInbound(inbound: unknown): Array<Array<[string, number, number]>> {
  if (!Array.isArray(inbound)) return [];
  return inbound.map((call: Json) => {
    const refs: Array<[string, number, number]> = [];
    if (Array.isArray(call)) {
      for (const r of call) if (Array.isArray(r) && typeof r[0] === 'string') refs.push([r[0], Number(r[1] ?? 0), Number(r[2] ?? 0)]);
    } else if (call && typeof call === 'object') {
      const walk = (v: Json): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          const h = v.config?.keras_history ?? v.keras_history;
          if (Array.isArray(h)) refs.push([String(h[0]), Number(h[1] ?? 0), Number(h[2] ?? 0)]);
          else if (v.class_name !== '__keras_tensor__') Object.values(v).forEach(walk);
        }
      };
      walk(call.args ?? []);
    }
    return refs;
  });
}

function ioRefs(v: unknown): Array<[string, number, number]> {
  if (!Array.isArray(v)) return [];
  if (typeof v[0] === 'string') return [[v[0], Number(v[1] ?? 0), Number(v[2] ?? 0)]];
  return v.map((r: Json) => [String(r[0]), Number(r[1] ?? 0), Number(r[2] ?? 0)] as [string, number, number]);
}

/** The top-level model config `{class_name, config}` of a layers model.json. */
export function layersTopology(modelJson: Json, source: string): { class_name: string; config: Json } {
  let t = modelJson?.modelTopology;
  if (!t || typeof t !== 'object') throw new GraphError(`${source}: no 'modelTopology' in the layers model`);
  if (t.model_config) t = t.model_config;
  if (typeof t.class_name !== 'string')
    throw new GraphError(`${source}: modelTopology has no model class (expected Sequential, Model or Functional)`);
  if (!MODEL_CLASSES.has(t.class_name))
    throw new GraphError(`${source}: modelTopology class '${t.class_name}' is not a Sequential/Model/Functional model`);
  return t;
}

class LayersImporter {
  private readonly b: GraphBuilder;
  /** `${layerPath}#${call}#${tensor}` → IR tensor name */
  private readonly tensors = new Map<string, string>();
  /** constants already created for a layer's weights (shared layers reuse them) */
  private readonly layerConsts = new Map<string, string>();
  private readonly usedWeights = new Set<string>();
  /** nodes kept for unknown layer classes */
  private readonly unknownNodes = new Set<string>();

  constructor(
    private readonly weights: Map<string, tf.Tensor>,
    private readonly source: string,
  ) {
    this.b = new GraphBuilder('tfjs-layers', source);
  }

  run(modelJson: Json): Graph {
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
  private importModel(m: { class_name: string; config: Json }, prefix: string, feeds: string[] | undefined): string[] {
    if (m.class_name === 'Sequential') return this.importSequential(m.config, prefix, feeds);
    return this.importFunctional(m.config, prefix, feeds);
  }

  private importSequential(config: Json, prefix: string, feeds: string[] | undefined): string[] {
    const layers: Json[] = Array.isArray(config) ? config : config?.layers;
    if (!Array.isArray(layers) || layers.length === 0) throw new GraphError(`${this.source}: Sequential model without layers`);
    let rest = layers;
    let x: string;
    if (layers[0].class_name === 'InputLayer') {
      const l = layers[0];
      const name = prefix + (l.config?.name ?? l.name);
      x = feeds ? feeds[0] : this.makeInput(name, l.config);
      rest = layers.slice(1);
    } else if (feeds) {
      x = feeds[0];
    } else {
      const first = layers[0].config ?? {};
      const bis = first.batch_input_shape ?? first.batch_shape ?? (first.input_shape ? [null, ...first.input_shape] : undefined);
      if (!bis)
        throw new GraphError(`${this.source}: Sequential model: the first layer '${first.name}' declares no input shape`);
      x = this.makeInput(prefix + `${first.name ?? 'sequential'}_input`, { ...first, batch_input_shape: bis });
    }
    for (const l of rest) {
      const outs = this.importLayer(l, prefix, 0, [x]);
      x = outs[0];
    }
    return [x];
  }

  private importFunctional(config: Json, prefix: string, feeds: string[] | undefined): string[] {
    const layers: Json[] = config?.layers;
    if (!Array.isArray(layers)) throw new GraphError(`${this.source}: model config has no 'layers' list`);
    const inputRefs = ioRefs(config.input_layers);
    const outputRefs = ioRefs(config.output_layers);
    if (feeds && feeds.length !== inputRefs.length)
      throw new GraphError(
        `${this.source}: nested model '${prefix.replace(/\/$/, '')}' has ${inputRefs.length} inputs but is called with ${feeds.length}`,
      );
    const byName = new Map<string, Json>();
    for (const l of layers) byName.set(l.name ?? l.config?.name, l);

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
      parseInbound(l.inbound_nodes).forEach((refs, call) => pending.push({ layer: l, call, refs }));
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
  private ref(prefix: string, layer: string, node: number, k: number): string | undefined {
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

  private makeInput(name: string, cfg: Json): string {
    const shape = toShape(cfg?.batch_input_shape ?? cfg?.batch_shape ?? cfg?.batchInputShape);
    if (!shape) throw new GraphError(`${this.source}: input layer '${name}' has no batch_input_shape`);
    if (shape.length === 4 && cfg?.data_format === 'channels_first')
      throw new GraphError(`${this.source}: input layer '${name}' is channels_first; naflow reads channels_last (NHWC) models only`);
    shape[0] = -1;
    return this.b.addInput(name, shape, dtypeOf(cfg?.dtype));
  }

  // ---------------------------------------------------------------- weights

  /** Look up a layer weight by Keras naming conventions; undefined when absent. */
  private findWeight(layerName: string, param: string, prefix: string): string | undefined {
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

  private weightNamesOf(layerName: string): string[] {
    return [...this.weights.keys()].filter((k) => k === layerName || k.startsWith(`${layerName}/`) || k.includes(`/${layerName}/`));
  }

  /**
   * A layer weight as a graph constant (created once per layer and parameter). `transform` may build
   * a derived tensor (e.g. a reshaped depthwise kernel); the original is then disposed.
   */
  private weight(
    layer: Json,
    prefix: string,
    param: string,
    required: true,
    transform?: (t: tf.Tensor) => tf.Tensor,
  ): string;
  private weight(
    layer: Json,
    prefix: string,
    param: string,
    required: boolean,
    transform?: (t: tf.Tensor) => tf.Tensor,
  ): string | undefined;
  private weight(
    layer: Json,
    prefix: string,
    param: string,
    required: boolean,
    transform?: (t: tf.Tensor) => tf.Tensor,
  ): string | undefined {
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

  private constant(base: string, t: tf.Tensor): string {
    return this.b.addConst(base, t);
  }

  // ---------------------------------------------------------------- layers

  /** Import one call of a layer; returns its output tensor(s). */
  private importLayer(layer: Json, prefix: string, call: number, inputs: string[]): string[] {
    const cls: string = layer.class_name;
    const cfg: Json = layer.config ?? {};
    if (layer.name === undefined) layer.name = cfg.name;
    const baseName = prefix + layer.name + (call > 0 ? `/call${call}` : '');

    if (MODEL_CLASSES.has(cls)) {
      return this.importModel({ class_name: cls, config: cfg }, `${baseName}/`, inputs);
    }
    if (cfg.data_format === 'channels_first')
      throw new GraphError(
        `${this.source}: layer '${baseName}' (${cls}) uses data_format 'channels_first'; naflow reads channels_last (NHWC) models only`,
      );

    const chain = new Chain(this.b, baseName, cls);
    let out: string | undefined;
    try {
      out = this.layerBody(chain, layer, cls, cfg, prefix, inputs);
    } catch (e) {
      if (e instanceof NeedsShape) out = undefined;
      else throw e;
    }
    if (out === undefined) {
      // Unknown class (or a shape-dependent layer after an unknown one): keep it for inspection.
      chain.abandon();
      const attrs: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(cfg)) if (!/initializer|regularizer|constraint/.test(k)) attrs[k] = v;
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

  private shape(t: string): Shape | undefined {
    return this.b.shapeOf(t);
  }

  private needShape(t: string): Shape {
    const s = this.shape(t);
    if (!s) throw new NeedsShape();
    return s;
  }

  /** Emit the nodes of one layer into `c`; return the output tensor or undefined for unknown classes. */
  private layerBody(c: Chain, layer: Json, cls: string, cfg: Json, prefix: string, inputs: string[]): string | undefined {
    const x = inputs[0];
    const xs = this.shape(x);
    const rank = xs?.length;
    switch (cls) {
      case 'Conv2D':
      case 'Convolution2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D':
      case 'SeparableConvolution2D':
        return this.conv(c, layer, cls, cfg, prefix, x);
      case 'BatchNormalization': {
        let axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
        if (axis.length !== 1) throw this.unsupported(c, cls, `axis ${JSON.stringify(cfg.axis)}`);
        axis = axis[0];
        if (!(axis === -1 || (rank !== undefined && axis === rank - 1) || (rank === undefined && axis === 3)))
          throw this.unsupported(c, cls, `axis ${axis} (only the last, channel axis is supported)`);
        const mean = this.weight(layer, prefix, 'moving_mean', true);
        const variance = this.weight(layer, prefix, 'moving_variance', true);
        const C = this.b.shapeOf(mean)![0];
        const gamma =
          cfg.scale === false
            ? this.constant(`${c.base}/gamma`, tf.ones([C]))
            : this.weight(layer, prefix, 'gamma', true);
        const beta =
          cfg.center === false
            ? this.constant(`${c.base}/beta`, tf.zeros([C]))
            : this.weight(layer, prefix, 'beta', true);
        return c.emit('bn', 'BatchNormalization', [x, gamma, beta, mean, variance], { epsilon: cfg.epsilon ?? 1e-3 }, xs);
      }
      case 'Activation':
        return this.activation(c, x, cfg.activation, true);
      case 'ReLU': {
        const thr = Number(cfg.threshold ?? 0);
        if (thr !== 0) throw this.unsupported(c, cls, `threshold ${thr} (only 0 is supported)`);
        const slope = Number(cfg.negative_slope ?? 0);
        const maxv = cfg.max_value === null || cfg.max_value === undefined ? undefined : Number(cfg.max_value);
        let y = x;
        if (slope !== 0) y = c.emit('leaky', 'LeakyRelu', [y], { alpha: slope }, xs);
        if (maxv !== undefined) y = c.emit('clip', 'Clip', [y], { min: slope !== 0 ? -CLIP_INF : 0, max: maxv }, xs);
        if (y === x) y = c.emit('relu', 'Relu', [x], {}, xs);
        return y;
      }
      case 'LeakyReLU':
        return c.emit('leaky', 'LeakyRelu', [x], { alpha: Number(cfg.alpha ?? cfg.negative_slope ?? 0.3) }, xs);
      case 'PReLU': {
        const alpha = this.weight(layer, prefix, 'alpha', true);
        return c.emit('prelu', 'PRelu', [x, alpha], {}, xs);
      }
      case 'Softmax': {
        const axis = Array.isArray(cfg.axis) ? cfg.axis[0] : (cfg.axis ?? -1);
        return c.emit('softmax', 'Softmax', [x], { axis: normAxis(axis, rank) }, xs);
      }
      case 'MaxPooling2D':
      case 'MaxPool2D':
      case 'AveragePooling2D':
      case 'AvgPool2D': {
        const s = this.needShape(x);
        const kernel = pair(cfg.pool_size, [2, 2]);
        const strides = pair(cfg.strides ?? cfg.pool_size, kernel);
        const pads = this.pads(cfg.padding, s, kernel, strides, [1, 1]);
        const out = windowShape(s, kernel, strides, [1, 1], pads, s[3]);
        const op = cls.startsWith('Max') ? 'MaxPool' : 'AveragePool';
        return c.emit('pool', op, [x], { kernel, strides, pads, dilations: [1, 1], countIncludePad: false }, out);
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalAvgPool2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalMaxPool2D': {
        const op = cls.includes('Max') ? 'GlobalMaxPool' : 'GlobalAveragePool';
        const C = xs ? xs[3] : -1;
        const N = xs ? xs[0] : -1;
        const pooled = c.emit('pool', op, [x], {}, [N, 1, 1, C]);
        if (cfg.keepdims === true) return pooled;
        if (C > 0) return c.emit('reshape', 'Reshape', [pooled], { shape: [-1, C] }, [N, C]);
        return c.emit('flatten', 'Flatten', [pooled], { axis: 1 }, undefined);
      }
      case 'Dense':
        return this.dense(c, layer, cfg, prefix, x);
      case 'Flatten': {
        const out = xs ? [xs[0], prod(xs.slice(1))] : undefined;
        return c.emit('flatten', 'Flatten', [x], { axis: 1 }, out);
      }
      case 'Reshape': {
        const target = [-1, ...(cfg.target_shape as number[]).map(Number)];
        const shape = resolveReshape(xs, target);
        return c.emit('reshape', 'Reshape', [x], { shape }, xs ? [xs[0], ...shape.slice(1)] : undefined);
      }
      case 'Permute': {
        const perm = [0, ...(cfg.dims as number[]).map(Number)];
        return c.emit('transpose', 'Transpose', [x], { perm }, xs ? perm.map((p) => xs[p]) : undefined);
      }
      case 'ZeroPadding2D': {
        const [[t, bt], [l, r]] = padPairs(cfg.padding, 1);
        const out = xs ? [xs[0], xs[1] < 0 ? -1 : xs[1] + t + bt, xs[2] < 0 ? -1 : xs[2] + l + r, xs[3]] : undefined;
        return c.emit('pad', 'Pad', [x], { pads: [[0, 0], [t, bt], [l, r], [0, 0]], mode: 'constant', value: 0 }, out);
      }
      case 'Cropping2D': {
        const s = this.needShape(x);
        const [[t, bt], [l, r]] = padPairs(cfg.cropping, 0);
        if (s[1] < 0 || s[2] < 0) throw new NeedsShape();
        const out = [s[0], s[1] - t - bt, s[2] - l - r, s[3]];
        return c.emit('crop', 'Slice', [x], { starts: [t, l], ends: [s[1] - bt, s[2] - r], axes: [1, 2], steps: [1, 1] }, out);
      }
      case 'UpSampling2D': {
        const s = this.needShape(x);
        const [sh, sw] = pair(cfg.size, [2, 2]);
        const mode = cfg.interpolation === 'bilinear' ? 'bilinear' : 'nearest';
        const size: [number, number] = [s[1] * sh, s[2] * sw];
        return c.emit(
          'resize',
          'Resize',
          [x],
          { size, mode, alignCorners: false, halfPixelCenters: mode === 'bilinear' },
          [s[0], size[0], size[1], s[3]],
        );
      }
      case 'Rescaling': {
        const scale = this.constant(`${c.base}/scale`, tf.tensor(cfg.scale ?? 1, undefined, 'float32'));
        const y = c.emit('scale', 'Mul', [x, scale], {}, xs);
        const off = Number(cfg.offset ?? 0);
        if (Array.isArray(cfg.offset) || off !== 0)
          return c.emit('offset', 'Add', [y, this.constant(`${c.base}/offset`, tf.tensor(cfg.offset, undefined, 'float32'))], {}, xs);
        return y;
      }
      case 'Add':
      case 'Subtract':
      case 'Multiply':
      case 'Average': {
        if (inputs.length < 2 && cls !== 'Add' && cls !== 'Multiply' && cls !== 'Average')
          throw this.unsupported(c, cls, `${inputs.length} inputs`);
        const op = cls === 'Subtract' ? 'Sub' : cls === 'Multiply' ? 'Mul' : 'Add';
        const shapeOut = broadcastShapes(inputs.map((i) => this.shape(i)));
        let y = inputs[0];
        for (let k = 1; k < inputs.length; k++) y = c.emit(`${op.toLowerCase()}${k}`, op, [y, inputs[k]], {}, shapeOut);
        if (cls === 'Average') {
          const inv = this.constant(`${c.base}/scale`, tf.scalar(1 / inputs.length));
          y = c.emit('mean', 'Mul', [y, inv], {}, shapeOut);
        }
        if (y === x) y = c.emit('identity', 'Identity', [x], {}, xs);
        return y;
      }
      case 'Concatenate': {
        const shapes = inputs.map((i) => this.shape(i));
        const r = shapes[0]?.length;
        const axis = normAxis(Number(cfg.axis ?? -1), r);
        let out: Shape | undefined;
        if (shapes.every((s) => s !== undefined) && axis >= 0) {
          out = shapes[0]!.slice();
          out[axis] = shapes.some((s) => s![axis] < 0) ? -1 : shapes.reduce((a, s) => a + s![axis], 0);
        }
        return c.emit('concat', 'Concat', inputs, { axis }, out);
      }
      case 'InputLayer':
        return c.emit('identity', 'Identity', [x], {}, xs);
      default:
        if (DROPOUT_LIKE.has(cls)) return c.emit('dropout', 'Dropout', [x], {}, xs);
        return undefined;
    }
  }

  private unsupported(c: Chain, cls: string, what: string): GraphError {
    return new GraphError(`${this.source}: layer '${c.base}' (${cls}): ${what} is not supported by naflow`);
  }

  private pads(
    padding: unknown,
    s: Shape,
    kernel: [number, number],
    strides: [number, number],
    dilations: [number, number],
  ): [number, number, number, number] {
    const p = String(padding ?? 'valid').toLowerCase();
    if (p === 'valid') return [0, 0, 0, 0];
    if (p === 'same') {
      const pads = samePads(s[1] < 0 ? undefined : s[1], s[2] < 0 ? undefined : s[2], kernel, strides, dilations);
      if (!pads) throw new NeedsShape();
      return pads;
    }
    throw new GraphError(`${this.source}: padding '${p}' is not supported (valid, same)`);
  }


  private conv(c: Chain, layer: Json, cls: string, cfg: Json, prefix: string, x: string): string {
    const xs = this.shape(x);
    const strides = pair(cfg.strides, [1, 1]);
    const dilations = pair(cfg.dilation_rate, [1, 1]);
    const useBias = cfg.use_bias !== false;
    const padsFor = (kernel: [number, number]): [number, number, number, number] => {
      if (String(cfg.padding ?? 'valid').toLowerCase() === 'valid') return [0, 0, 0, 0];
      if (!xs) {
        const p = samePads(undefined, undefined, kernel, strides, dilations);
        if (!p) throw new NeedsShape();
        return p;
      }
      return this.pads(cfg.padding, xs, kernel, strides, dilations);
    };
    const outShape = (kernel: [number, number], pads: [number, number, number, number], C: number) =>
      xs ? windowShape(xs, kernel, strides, dilations, pads, C) : undefined;

    if (cls === 'Conv2D' || cls === 'Convolution2D') {
      const kernelName = this.weight(layer, prefix, 'kernel', true);
      const [kh, kw, cinG, cout] = this.b.shapeOf(kernelName)!;
      const kernel: [number, number] = [kh, kw];
      const cin = xs ? xs[3] : undefined;
      const group = Number(cfg.groups ?? (cin !== undefined && cin > 0 ? cin / cinG : 1));
      if (!Number.isInteger(group) || group < 1)
        throw new GraphError(`${this.source}: layer '${c.base}' (Conv2D): input has ${cin} channels but the kernel expects ${cinG} per group`);
      const pads = padsFor(kernel);
      const ins = [x, kernelName];
      if (useBias) ins.push(this.weight(layer, prefix, 'bias', true));
      const y = c.emit('conv', 'Conv', ins, { strides, pads, dilations, group }, outShape(kernel, pads, cout));
      return this.activation(c, y, cfg.activation, false);
    }
    // depthwise (+ pointwise)
    const dwName = this.weight(layer, prefix, 'depthwise_kernel', true, (t) => {
      const [kh, kw, ci, m] = t.shape as number[];
      return tf.reshape(t, [kh, kw, 1, ci * m]);
    });
    const [kh, kw, , cm] = this.b.shapeOf(dwName)!;
    const kernel: [number, number] = [kh, kw];
    const cin = Number(cm) / Number(cfg.depth_multiplier ?? 1);
    const pads = padsFor(kernel);
    if (cls === 'DepthwiseConv2D') {
      const ins = [x, dwName];
      if (useBias) ins.push(this.weight(layer, prefix, 'bias', true));
      const y = c.emit('depthwise', 'Conv', ins, { strides, pads, dilations, group: cin }, outShape(kernel, pads, cm));
      return this.activation(c, y, cfg.activation, false);
    }
    const pw = this.weight(layer, prefix, 'pointwise_kernel', true);
    const cout = this.b.shapeOf(pw)![3];
    const d = c.emit('depthwise', 'Conv', [x, dwName], { strides, pads, dilations, group: cin }, outShape(kernel, pads, cm));
    const ds = this.shape(d);
    const ins = [d, pw];
    if (useBias) ins.push(this.weight(layer, prefix, 'bias', true));
    const y = c.emit(
      'pointwise',
      'Conv',
      ins,
      { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
      ds ? [ds[0], ds[1], ds[2], cout] : undefined,
    );
    return this.activation(c, y, cfg.activation, false);
  }

  private dense(c: Chain, layer: Json, cfg: Json, prefix: string, x: string): string {
    const xs = this.shape(x);
    const kernel = this.weight(layer, prefix, 'kernel', true);
    const [, units] = this.b.shapeOf(kernel)!;
    const bias = cfg.use_bias !== false ? this.weight(layer, prefix, 'bias', true) : undefined;
    let y: string;
    if (!xs || xs.length === 2) {
      const b = bias ?? this.constant(`${c.base}/bias`, tf.zeros([units]));
      y = c.emit('dense', 'Gemm', [x, kernel, b], { alpha: 1, beta: 1 }, xs ? [xs[0], units] : undefined);
    } else {
      const out = [...xs.slice(0, -1), units];
      y = c.emit('matmul', 'MatMul', [x, kernel], {}, out);
      if (bias) y = c.emit('bias', 'Add', [y, bias], {}, out);
    }
    return this.activation(c, y, cfg.activation, false);
  }

  /**
   * Emit the nodes of a Keras activation. `standalone`: an `Activation` layer (linear then becomes an
   * Identity node so the layer stays visible); otherwise linear emits nothing.
   */
  private activation(c: Chain, x: string, act: unknown, standalone: boolean): string {
    const xs = this.shape(x);
    let name = typeof act === 'string' ? act : ((act as Json)?.config?.name ?? (act as Json)?.class_name ?? 'linear');
    name = String(name).toLowerCase();
    switch (name) {
      case 'linear':
      case 'none':
        return standalone ? c.emit('identity', 'Identity', [x], {}, xs) : x;
      case 'relu':
        return c.emit('relu', 'Relu', [x], {}, xs);
      case 'relu6':
        return c.emit('relu6', 'Clip', [x], { min: 0, max: 6 }, xs);
      case 'sigmoid':
        return c.emit('sigmoid', 'Sigmoid', [x], {}, xs);
      case 'hard_sigmoid':
        // Keras 2: clip(0.2·x + 0.5, 0, 1)
        return c.emit('hard_sigmoid', 'HardSigmoid', [x], { alpha: 0.2, beta: 0.5 }, xs);
      case 'tanh':
        return c.emit('tanh', 'Tanh', [x], {}, xs);
      case 'softmax':
        return c.emit('softmax', 'Softmax', [x], { axis: xs ? xs.length - 1 : -1 }, xs);
      case 'swish':
      case 'silu': {
        const s = c.emit('sigmoid', 'Sigmoid', [x], {}, xs);
        return c.emit('swish', 'Mul', [x, s], {}, xs);
      }
      case 'hard_swish':
      case 'hard_silu':
        return c.emit('hard_swish', 'HardSwish', [x], {}, xs);
      default: {
        // No canonical op: keep a node the engine reports as unsupported, naming the activation.
        const op = name.charAt(0).toUpperCase() + name.slice(1);
        return c.emit(name, op, [x], {}, xs, standalone ? `Activation('${name}')` : `${c.cls}(activation='${name}')`);
      }
    }
  }
}

/** Thrown inside a layer body when a static shape it needs is unknown (after an unknown layer). */
class NeedsShape extends Error {}

/**
 * The nodes one layer call emits, named `<layer>/<step>`; `finish` gives the last one the layer's name.
 */
class Chain {
  private readonly emitted: string[] = [];

  constructor(
    private readonly b: GraphBuilder,
    readonly base: string,
    readonly cls: string,
  ) {}

  emit(step: string, op: string, inputs: string[], attrs: Record<string, unknown>, shape: Shape | undefined, sourceOp?: string): string {
    const n = this.b.emit(`${this.base}/${step}`, op, inputs, attrs, shape, sourceOp ?? this.cls);
    this.emitted.push(n);
    return n;
  }

  finish(out: string): string {
    if (this.emitted.length === 0 || out !== this.emitted[this.emitted.length - 1]) return out;
    return this.b.rename(out, this.base);
  }

  /** Remove what was emitted (a layer that falls back to an unknown-op node). */
  abandon(): void {
    const set = new Set(this.emitted);
    for (let i = this.b.nodes.length - 1; i >= 0; i--) if (set.has(this.b.nodes[i].name)) this.b.nodes.splice(i, 1);
  }
}

function padPairs(v: unknown, dflt: number): [[number, number], [number, number]] {
  if (v === undefined || v === null) return [[dflt, dflt], [dflt, dflt]];
  if (typeof v === 'number') return [[v, v], [v, v]];
  if (Array.isArray(v)) {
    const one = (e: unknown): [number, number] => (Array.isArray(e) ? [Number(e[0]), Number(e[1])] : [Number(e), Number(e)]);
    return [one(v[0]), one(v[1] ?? v[0])];
  }
  return [[dflt, dflt], [dflt, dflt]];
}

function broadcastShapes(shapes: Array<Shape | undefined>): Shape | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const r = Math.max(...shapes.map((s) => s!.length));
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s![s!.length - r + i];
      if (v === undefined) continue;
      if (v === -1) d = d === 1 || d === -1 ? -1 : d;
      else if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

/**
 * Import a Keras/tfjs layers model. Takes ownership of `weights` (used as constants or disposed).
 */
export function importTfjsLayers(modelJson: Json, weights: Map<string, tf.Tensor>, source: string): Graph {
  return new LayersImporter(weights, source).run(modelJson);
}
