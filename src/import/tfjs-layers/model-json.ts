/**
 * A tfjs layers model.json (a Keras model config), validated into typed structures: the model
 * classes, the layer list with names, classes and inbound references, and each layer's config behind
 * typed reads (LayerConfig). The file is untrusted: a wrong field is reported with the file and the
 * field's path (a GraphError).
 */
import { GraphError, type Shape } from '../../ir/graph.js';
import { JsonPath, expectList, isObject, type JsonObject } from '../json-check.js';

export const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);

/** [layer name, node index, tensor index] */
export type KerasRef = [string, number, number];

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;

/** A layer's `config`, read field by field with the type each reader expects. */
export class LayerConfig {
  constructor(
    readonly data: JsonObject,
    readonly at: JsonPath,
  ) {}

  get(key: string): unknown {
    return this.data[key];
  }

  has(key: string): boolean {
    return this.data[key] !== undefined && this.data[key] !== null;
  }

  fail(key: string, problem: string): never {
    return this.at.at(key).fail(problem);
  }

  /** A number (JSON number or numeric string); `dflt` when absent or null. */
  num(key: string, dflt: number): number {
    return this.optNum(key) ?? dflt;
  }

  optNum(key: string): number | undefined {
    const v = this.data[key];
    if (v === undefined || v === null) return undefined;
    const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof x !== 'number' || Number.isNaN(x)) this.fail(key, `should be a number, but is ${describe(v)}`);
    return x;
  }

  str(key: string, dflt: string): string {
    const v = this.data[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') this.fail(key, `should be a string, but is ${describe(v)}`);
    return v;
  }

  numList(key: string): number[] {
    const v = this.data[key];
    const list = expectList(v, this.at.at(key));
    return list.map((e, k): number => {
      const x = typeof e === 'string' && e.trim() !== '' ? Number(e) : e;
      if (typeof x !== 'number' || Number.isNaN(x))
        return this.at
          .at(key)
          .at(k)
          .fail(`should be a number, but is ${describe(e)}`);
      return x;
    });
  }
}

export interface KerasLayer {
  class_name: string;
  name: string;
  config: LayerConfig;
  /** one entry per call of the layer: the tensors it reads */
  inbound: KerasRef[][];
  at: JsonPath;
}

/** The model-level config of a (possibly nested) model: `{class_name, config}`. */
export interface KerasModel {
  class_name: string;
  config: unknown;
  at: JsonPath;
}

/** The top-level model config `{class_name, config}` of a layers model.json. */
export function layersTopology(modelJson: unknown, source: string): KerasModel {
  const topo = isObject(modelJson) ? modelJson.modelTopology : undefined;
  let at = new JsonPath(source, 'modelTopology');
  if (!isObject(topo)) throw new GraphError(`${source}: no 'modelTopology' in the layers model`);
  let t: JsonObject = topo;
  const inner = topo.model_config;
  if (inner) {
    at = at.at('model_config');
    if (!isObject(inner)) return at.fail(`should be an object, but is ${describe(inner)}`);
    t = inner;
  }
  if (typeof t.class_name !== 'string') throw new GraphError(`${source}: modelTopology has no model class (expected Sequential, Model or Functional)`);
  if (!MODEL_CLASSES.has(t.class_name)) throw new GraphError(`${source}: modelTopology class '${t.class_name}' is not a Sequential/Model/Functional model`);
  return { class_name: t.class_name, config: t.config, at: at.at('config') };
}

const refOf = (r: unknown[]): KerasRef => [String(r[0]), Number(r[1] ?? 0), Number(r[2] ?? 0)];

/** Extract inbound references from Keras 2 (nested lists) or Keras 3 (`args` with keras_history). */
function parseInbound(inbound: unknown): KerasRef[][] {
  if (!Array.isArray(inbound)) return [];
  return inbound.map((call: unknown) => {
    const refs: KerasRef[] = [];
    if (Array.isArray(call)) {
      for (const r of call) if (Array.isArray(r) && typeof r[0] === 'string') refs.push(refOf(r));
    } else if (isObject(call)) {
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (isObject(v)) {
          const h = (isObject(v.config) ? v.config.keras_history : undefined) ?? v.keras_history;
          if (Array.isArray(h)) refs.push(refOf(h));
          else if (v.class_name !== '__keras_tensor__') Object.values(v).forEach(walk);
        }
      };
      walk(call.args ?? []);
    }
    return refs;
  });
}

/** input_layers / output_layers: one reference or a list of them. */
export function ioRefs(v: unknown): KerasRef[] {
  if (!Array.isArray(v)) return [];
  if (typeof v[0] === 'string') return [refOf(v)];
  return v.map((r: unknown) => refOf(Array.isArray(r) ? r : []));
}

/** One entry of a model config's `layers` list. */
export function readLayer(v: unknown, at: JsonPath): KerasLayer {
  if (!isObject(v)) at.fail(`should be an object, but is ${describe(v)}`);
  const cls = v.class_name;
  if (typeof cls !== 'string') return at.at('class_name').fail(`should be a string, but is ${describe(cls)}`);
  // old Keras writes a nested Sequential's config as its bare layer list
  const given: unknown = Array.isArray(v.config) && MODEL_CLASSES.has(cls) ? { layers: v.config } : (v.config ?? {});
  if (!isObject(given)) return at.at('config').fail(`should be an object, but is ${describe(given)}`);
  const cfgRaw: JsonObject = given;
  const name = v.name ?? cfgRaw.name;
  if (typeof name !== 'string') return at.at('name').fail(`should be a string, but is ${describe(name)}`);
  return { class_name: cls, name, config: new LayerConfig(cfgRaw, at.at('config')), inbound: parseInbound(v.inbound_nodes), at };
}

/** A static shape from a Keras batch shape (null and negative sizes: -1). */
export function toShape(batchShape: unknown): Shape | undefined {
  if (!Array.isArray(batchShape)) return undefined;
  return batchShape.map((d) => (d === null || d === undefined || d < 0 ? -1 : Number(d)));
}

export function dtypeOf(v: unknown): 'float32' | 'int32' {
  const s = typeof v === 'string' ? v : isObject(v) && isObject(v.config) ? v.config.name : undefined;
  return s === 'int32' || s === 'int64' ? 'int32' : 'float32';
}
