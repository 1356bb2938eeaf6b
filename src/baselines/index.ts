/**
 * CAM baselines: Grad-CAM, Grad-CAM++, LayerCAM, HiResCAM on one shared all-layers pipeline; Score-CAM
 * (forward passes only); the pixel-space gradient, Guided Backprop and Deconvnet. Each is registered in
 * src/methods/index.ts and run by id through the method registry.
 */
export { camFlow, camLayers, camMethod } from './pipeline.js';
export { channelSum, type CamMethod } from './core.js';
export { gradCamMap, gradCam } from './gradcam.js';
export { gradCamPlusPlusMap, gradCamPlusPlus } from './gradcampp.js';
export { layerCamMap, layerCam } from './layercam.js';
export { hiResCamMap, hiResCam } from './hirescam.js';
export { xGradCamMap, xGradCam } from './xgradcam.js';
export { scoreCamFlow, scoreCam, type ScoreCamOptions } from './scorecam.js';
export { pixelAttribution, inputGradient, guidedBackprop, deconvnet, type PixelMethod, type PixelAttribution } from './guided.js';
