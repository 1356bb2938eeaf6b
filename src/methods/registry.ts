/**
 * The method registry: every attribution method, by id. Ids may carry options after a colon
 * (`naflow:rho=0.3`) for methods that take them. The CLI, eval, the server and the viewer iterate it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../engine/model.js';
import type { AttributionMaps, AttributionMethod, MethodRunOptions, MethodSpace } from '../structure/method.js';
import { UsageError } from '../util/errors.js';

const METHODS = new Map<string, AttributionMethod>();

/** Add a method (src/methods/index.ts registers the built-in ones). An id is registered once. */
export function registerMethod<O>(method: AttributionMethod<O>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(method.id)) throw new Error(`method id '${method.id}' must be lower case letters, digits and '-'`);
  if (METHODS.has(method.id)) throw new Error(`method '${method.id}' is registered twice`);
  METHODS.set(method.id, method as AttributionMethod);
}

/** The registered methods in registration order, optionally only those of one space or the comparable ones. */
export function listMethods(filter: { space?: MethodSpace; comparable?: boolean } = {}): AttributionMethod[] {
  return [...METHODS.values()].filter(
    (m) => (filter.space === undefined || m.space === filter.space) && (filter.comparable === undefined || m.comparable === filter.comparable),
  );
}

/** A method id resolved to its method and parsed options: what runs. */
export interface ResolvedMethod {
  /** the id as given, options included (`naflow:rho=0.3`): the key of its results */
  id: string;
  method: AttributionMethod;
  label: string;
  run(model: Model, input: tf.Tensor, options?: MethodRunOptions): AttributionMaps;
}

/** Resolve `id` or `id:options`, or a UsageError naming `where` and the known ids. */
export function resolveMethod(id: string, where = 'method'): ResolvedMethod {
  const colon = id.indexOf(':');
  const base = colon < 0 ? id : id.slice(0, colon);
  const method = METHODS.get(base);
  if (!method) throw new UsageError(`${where}: unknown method '${id}'; choose from ${[...METHODS.keys()].join(', ')}`);
  let options: unknown;
  let label = method.label;
  if (colon >= 0) {
    const text = id.slice(colon + 1);
    if (!method.parseOptions) throw new UsageError(`${where}: '${base}' takes no options, got '${id}'`);
    options = method.parseOptions(text, `${where}: method '${id}'`);
    label = method.labelFor?.(options, text) ?? `${method.label} (${text})`;
  }
  return { id, method, label, run: (model, input, runOptions = {}) => method.run(model, input, runOptions, options) };
}

/** Split `naflow,naflow:rho=0.3,unit=block,layercam` at its commas, except those that continue an id's `key=value` options. */
export function splitMethodIds(text: string): string[] {
  return text
    .split(/,(?![a-zA-Z]+=)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A comma-separated list of method ids, resolved (duplicates dropped) — or a UsageError naming the
 * option. `comparable` restricts it to the baselines offered beside NAFlow.
 */
export function parseMethodList(text: string | undefined, where: string, filter: { comparable?: boolean } = {}): ResolvedMethod[] {
  const ids = [...new Set(splitMethodIds(text ?? ''))];
  const allowed = listMethods(filter).map((m) => m.id);
  if (!ids.length) throw new UsageError(`${where}: empty list; choose from ${allowed.join(', ')}`);
  const bad = ids.filter((i) => !allowed.includes(i.split(':')[0]));
  if (bad.length) throw new UsageError(`${where}: unknown ${bad.map((b) => `'${b}'`).join(', ')}; choose from ${allowed.join(', ')}`);
  return ids.map((i) => resolveMethod(i, where));
}

/** Run a registered method by id on one preprocessed input: `runMethod(model, x, 'layercam', { classIndex })`. */
export function runMethod(model: Model, input: tf.Tensor, id: string, options: MethodRunOptions = {}): AttributionMaps {
  return resolveMethod(id).run(model, input, options);
}

/** The label of a method id (`layercam` → LayerCAM), or the id itself for an unknown one. */
export function methodLabel(id: string): string {
  const method = METHODS.get(id.split(':')[0]);
  if (!method) return id;
  return id.includes(':') ? resolveMethod(id).label : method.label;
}
