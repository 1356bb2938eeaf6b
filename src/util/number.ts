/**
 * Strict parsing of numbers typed by a user (command-line options, `key=value` settings). `Number()`
 * alone turns '' and ' ' into 0 and accepts 'Infinity', '0x10' and ' 5 ', and NaN slips through range
 * checks written as `n < min`: every numeric option goes through here instead.
 */

/** A plain decimal number: optional sign, digits with an optional fraction, an optional exponent. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export interface NumberRange {
  /** whole numbers only */
  integer?: boolean;
  min?: number;
  /** `min` itself is refused (a number > min) */
  minExclusive?: boolean;
  max?: number;
}

/** The value of `text` when it is a finite decimal number, else NaN ('' , 'Infinity', '0x10', 'abc' are NaN). */
export function strictNumber(text: string): number {
  if (!DECIMAL.test(text)) return Number.NaN;
  const n = Number(text);
  return Number.isFinite(n) ? n : Number.NaN;
}

/** Whether `n` is a number `range` accepts (NaN never is). */
export function inRange(n: number, range: NumberRange): boolean {
  if (!Number.isFinite(n)) return false;
  if (range.integer && !Number.isSafeInteger(n)) return false;
  if (range.min !== undefined && (range.minExclusive ? !(n > range.min) : !(n >= range.min))) return false;
  return range.max === undefined || n <= range.max;
}

/** `range` in words, for messages: 'a positive integer', 'an integer from 0 to 65535', 'a finite number ≥ 0', … */
export function describeRange(range: NumberRange): string {
  const kind = range.integer ? 'integer' : 'number';
  const { min, max, minExclusive } = range;
  if (min === 0 && minExclusive && max === undefined) return `a positive ${kind}`;
  if (range.integer && min === 1 && max === undefined) return 'a positive integer';
  if (min !== undefined && max !== undefined && !minExclusive) return `${range.integer ? 'an integer' : 'a number'} from ${min} to ${max}`;
  const parts = [...(min !== undefined ? [`${minExclusive ? '>' : '≥'} ${min}`] : []), ...(max !== undefined ? [`≤ ${max}`] : [])];
  return `${range.integer ? 'an integer' : 'a finite number'}${parts.length ? ` ${parts.join(' and ')}` : ''}`;
}

/** The number `text` says when it is well-formed and in `range`, else undefined. */
export function parseNumberIn(text: string, range: NumberRange): number | undefined {
  const n = strictNumber(text);
  return inRange(n, range) ? n : undefined;
}
