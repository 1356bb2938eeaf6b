/**
 * The cascade's open choices — the spec's [decision]s that docs/faithfulness-study.md measures — as
 * one plain record, with named presets and a `key=value,…` text form (`naflow:rho=0.3,abandon=keep`).
 */
import type { InverseSettings } from '../ops/registry.js';
import { InputError } from '../util/errors.js';
import { strictNumber } from '../util/number.js';

export interface CascadeVariant {
  /** damping factor ρ of the least-squares inverses: λ = ρ·σ_max(J) */
  rho: number;
  /** LSMR iteration cap per solve */
  maxIter: number;
  /**
   * What an abandoned neuron (importance zero) below the trunk end asks of the layer under it:
   * 'zero' (the spec: its BPFM is zero, so the inverse below must reproduce a zero there), 'keep' (its
   * forward value: the inverse below leaves it as it was), 'free' (nothing: the least-squares solves fit
   * only the kept outputs). The trunk end's own abandonment — the neurons the decision does not read —
   * is always imposed as zero, else no correction would ever start.
   */
  abandon: 'zero' | 'keep' | 'free';
  /** relative abandonment threshold ε: a neuron is abandoned where |G| ≤ ε·max|G| (0: exactly zero, the spec) */
  threshold: number;
  /** the map of a tensor: Σ_c ReLU(B ⊙ G) (spec), Σ_c B ⊙ ReLU(G) (LayerCAM's form with B), or the signed Σ_c B ⊙ G */
  map: 'relu-bg' | 'b-relu-g' | 'bg';
  /** fork merge: the mean of the consumers' estimates (spec), or weighted per neuron by each consumer's share |G_k| of the importance */
  merge: 'mean' | 'importance';
  /** unit of inversion: op by op (spec), or blocks — a convolution with the pointwise ops above it (batch norm, activation) inverted as one linearised unit */
  unit: 'op' | 'block';
}

/** The specification's configuration (docs/spec.md §4–§5, ρ = 0.1, this project's cap of 30 LSMR iterations). */
export const SPEC_VARIANT: Readonly<CascadeVariant> = Object.freeze({
  rho: 0.1,
  maxIter: 30,
  abandon: 'zero',
  threshold: 0,
  map: 'relu-bg',
  merge: 'mean',
  unit: 'op',
});

const CHOICES: Record<'abandon' | 'map' | 'merge' | 'unit', readonly string[]> = {
  abandon: ['zero', 'keep', 'free'],
  map: ['relu-bg', 'b-relu-g', 'bg'],
  merge: ['mean', 'importance'],
  unit: ['op', 'block'],
};

export class VariantError extends InputError {}

/**
 * Named configurations: 'spec' — the method as the specification writes it; 'default' — this
 * project's default, chosen by the faithfulness study (docs/faithfulness-study.md).
 */
export const PRESETS: Readonly<Record<'spec' | 'default', Readonly<Partial<CascadeVariant>>>> = Object.freeze({
  spec: {},
  // [decision] chosen by the study's declared rule on the development halves (ρ = 1: the most layers
  // beating LayerCAM on deletion and insertion together); LSMR converges in ~7 iterations at ρ = 1 and
  // a cap of 4 keeps every map within 0.05 % of the converged solve (docs/convergence.md)
  default: Object.freeze({ rho: 1, maxIter: 4 }),
});
export type PresetName = keyof typeof PRESETS;

/** The default configuration of paper mode (`runCascade`, `naflow explain`, `naflow eval`'s `naflow`). */
export const DEFAULT_VARIANT: Readonly<CascadeVariant> = Object.freeze({ ...SPEC_VARIANT, ...PRESETS.default });

/**
 * A variant's text form → the fields it sets (validated); '' → {}. The text is `key=value,…` (changes
 * to the spec's configuration), optionally led by a preset name (`default`, `spec`, `default,rho=0.3`),
 * whose fields come first.
 */
export function parseVariant(text: string, where = 'NAFlow options'): Partial<CascadeVariant> {
  const out: Partial<CascadeVariant> = {};
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length && !parts[0].includes('=')) {
    const name = parts.shift()!;
    if (!(name in PRESETS)) throw new VariantError(`${where}: '${name}' is neither a preset (${Object.keys(PRESETS).join(', ')}) nor key=value`);
    Object.assign(out, PRESETS[name as PresetName]);
  }
  for (const part of parts) {
    const m = /^([a-zA-Z]+)=(.+)$/.exec(part);
    if (!m) throw new VariantError(`${where}: '${part}' is not key=value (keys: rho, maxIter, abandon, threshold, map, merge, unit)`);
    const [, key, value] = m;
    if (key === 'rho' || key === 'threshold' || key === 'maxIter') {
      const v = strictNumber(value);
      const ok = key === 'maxIter' ? Number.isInteger(v) && v >= 1 && v <= 100000 : Number.isFinite(v) && v >= 0 && (key !== 'threshold' || v < 1);
      if (!ok)
        throw new VariantError(
          `${where}: ${key} must be ${key === 'maxIter' ? 'an integer from 1 to 100000' : key === 'threshold' ? 'a number in [0, 1)' : 'a finite number ≥ 0'}, got '${value}'`,
        );
      out[key] = v;
    } else if (key in CHOICES) {
      const choices = CHOICES[key as keyof typeof CHOICES];
      if (!choices.includes(value)) throw new VariantError(`${where}: ${key} must be one of ${choices.join(', ')}, got '${value}'`);
      (out as Record<string, string>)[key] = value;
    } else throw new VariantError(`${where}: unknown key '${key}' (keys: rho, maxIter, abandon, threshold, map, merge, unit)`);
  }
  return out;
}

/** A variant's text form resolved against the spec: `spec` → SPEC_VARIANT, `default` → DEFAULT_VARIANT, `rho=1` → the spec with ρ = 1. */
export function resolveVariant(text: string, where?: string): CascadeVariant {
  return { ...SPEC_VARIANT, ...parseVariant(text, where) };
}

/** The fields of `v` that differ from the spec, as `key=value,…` ('' for the spec itself). */
export function variantText(v: CascadeVariant): string {
  return (Object.keys(SPEC_VARIANT) as Array<keyof CascadeVariant>)
    .filter((k) => v[k] !== SPEC_VARIANT[k])
    .map((k) => `${k}=${v[k]}`)
    .join(',');
}

/** The solver settings of a variant (the tolerances and power iterations are not study choices). */
export function solverSettings(v: CascadeVariant, base: InverseSettings): InverseSettings {
  return { ...base, rho: v.rho, maxIter: v.maxIter };
}
