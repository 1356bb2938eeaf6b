/** CAM baselines: Grad-CAM, Grad-CAM++, LayerCAM, HiResCAM on one shared all-layers pipeline; Score-CAM (forward passes only). */
export { camFlow, CAM_METHODS, type CamMethodName, type CamFlow, type CamFlowOptions, type CamLayer } from './pipeline.js';
export { channelSum, type CamMethod } from './core.js';
export { gradCamMap } from './gradcam.js';
export { gradCamPlusPlusMap } from './gradcampp.js';
export { layerCamMap } from './layercam.js';
export { hiResCamMap } from './hirescam.js';
export { scoreCamFlow, type ScoreCamOptions } from './scorecam.js';
export { pixelAttribution, PIXEL_METHODS, type PixelMethod, type PixelAttribution } from './guided.js';
