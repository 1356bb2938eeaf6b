/**
 * NAFlow in the method registry: `naflow` (paper mode, the default configuration), `naflow:<options>`
 * (paper mode with the spec's configuration changed by those options, e.g. `naflow:rho=0.3,unit=block`,
 * or a preset: `naflow:spec`), and `naflow-ref` (reference mode).
 */
import type { AttributionMaps, AttributionMethod, MethodRunOptions } from '../structure/method.js';
import { DEFAULT_SETTINGS, runCascade, type AttentionFlow, type CascadeOptions } from './cascade.js';
import { DEFAULT_VARIANT, SPEC_VARIANT, resolveVariant, type CascadeVariant } from './variant.js';

/** A cascade's result as the registry's result: the requested layers only, in order. */
function asMaps(flow: AttentionFlow, layers: string[] | undefined): AttributionMaps {
  if (!layers) return flow;
  const wanted = new Set(layers);
  return { ...flow, layers: flow.layers.filter((l) => wanted.has(l.name)) };
}

function cascadeOptions(options: MethodRunOptions): CascadeOptions {
  const { classIndex, target, trunkEnd, scoreTensor, onLayer } = options;
  return { classIndex, target, trunkEnd, scoreTensor, onLayer };
}

export const naflowPaper: AttributionMethod<CascadeVariant> = {
  id: 'naflow',
  label: 'NAFlow',
  space: 'layer',
  description:
    "NAFlow paper mode: feature maps back-propagated through each layer's inverse, neurons of zero importance abandoned (naflow:spec, naflow:rho=0.3,… for a cascade variant)",
  comparable: false,
  // paper-mode maps depend on the solver: `naflow` is the default configuration, `naflow:…` ids are changes to the spec's
  settings: () => ({ solver: { atol: DEFAULT_SETTINGS.atol, btol: DEFAULT_SETTINGS.btol, spec: { ...SPEC_VARIANT }, default: { ...DEFAULT_VARIANT } } }),
  parseOptions: (text, where) => resolveVariant(text, where),
  labelFor: (_variant, text) => `NAFlow (${text})`,
  run: (model, input, options, variant) => asMaps(runCascade(model, input, { ...cascadeOptions(options), mode: 'paper', variant }), options.layers),
};

export const naflowReference: AttributionMethod = {
  id: 'naflow-ref',
  label: 'NAFlow (reference mode)',
  space: 'layer',
  description: 'NAFlow reference mode: the importance-weighted activation at every layer (one backward pass)',
  comparable: false,
  run: (model, input, options) => asMaps(runCascade(model, input, { ...cascadeOptions(options), mode: 'reference' }), options.layers),
};
