/**
 * The built-in attribution methods, registered in the order help texts and reports list them. A new
 * method is one file (its formula and its `AttributionMethod`, e.g. src/baselines/xgradcam.ts) plus one
 * line here — see docs/architecture.md.
 */
import { naflowPaper, naflowReference } from '../naflow/method.js';
import { gradCam } from '../baselines/gradcam.js';
import { gradCamPlusPlus } from '../baselines/gradcampp.js';
import { layerCam } from '../baselines/layercam.js';
import { hiResCam } from '../baselines/hirescam.js';
import { xGradCam } from '../baselines/xgradcam.js';
import { scoreCam } from '../baselines/scorecam.js';
import { deconvnet, guidedBackprop, inputGradient } from '../baselines/guided.js';
import { registerMethod } from './registry.js';

for (const method of [naflowPaper, naflowReference, gradCam, gradCamPlusPlus, layerCam, hiResCam, xGradCam, scoreCam, inputGradient, guidedBackprop, deconvnet])
  registerMethod(method);

export { registerMethod, listMethods, resolveMethod, parseMethodList, splitMethodIds, runMethod, methodLabel, type ResolvedMethod } from './registry.js';
export { compareAtLayers, type Comparison, type ExplainedAt } from './compare.js';
