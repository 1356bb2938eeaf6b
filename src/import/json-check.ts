/**
 * Reading untrusted JSON (a tfjs model.json) into typed structures: each check names the file and
 * the path of the offending field, and throws the importer's input error (GraphError).
 */
import { GraphError } from '../ir/graph.js';

export type JsonObject = { readonly [key: string]: unknown };

/** Where a value sits: the file and the field path inside it, for messages. */
export class JsonPath {
  constructor(
    readonly file: string,
    readonly path: string,
  ) {}

  at(key: string | number): JsonPath {
    return new JsonPath(this.file, typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key);
  }

  fail(problem: string): never {
    throw new GraphError(`${this.file}: field '${this.path}' ${problem}`);
  }
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;

export function expectObject(v: unknown, at: JsonPath): JsonObject {
  if (!isObject(v)) at.fail(`should be an object, but is ${describe(v)}`);
  return v;
}

export function optionalObject(v: unknown, at: JsonPath): JsonObject | undefined {
  return v === undefined || v === null ? undefined : expectObject(v, at);
}

export function expectList(v: unknown, at: JsonPath): readonly unknown[] {
  if (!Array.isArray(v)) at.fail(`should be a list, but is ${describe(v)}`);
  return v;
}

export function optionalString(v: unknown, at: JsonPath): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') at.fail(`should be a string, but is ${describe(v)}`);
  return v;
}

export function optionalBool(v: unknown, at: JsonPath): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') at.fail(`should be true or false, but is ${describe(v)}`);
  return v;
}

/**
 * A number written as a JSON number or as a string (protobuf's JSON form writes int64 and the
 * special floats 'NaN', 'Infinity' as strings).
 */
export function optionalNumber(v: unknown, at: JsonPath): number | undefined {
  if (v === undefined || v === null) return undefined;
  const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof x !== 'number' || (Number.isNaN(x) && v !== 'NaN')) at.fail(`should be a number, but is ${describe(v)}`);
  return x;
}

export function optionalNumberList(v: unknown, at: JsonPath): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  return expectList(v, at).map((e, k): number => optionalNumber(e, at.at(k)) ?? at.at(k).fail('should be a number, but is null'));
}

export function optionalStringList(v: unknown, at: JsonPath): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return expectList(v, at).map((e, k): string => optionalString(e, at.at(k)) ?? at.at(k).fail('should be a string, but is null'));
}
