/** ONNX Resize / Upsample → naflow Resize (the tfjs resize convention equal to ONNX's for the given sizes). */
import { attrInt, attrInts, attrStr } from './attributes.js';
import type { OnnxHandlerTable } from './handler.js';
import type { OnnxImporter } from './importer.js';
import { fmtDims, isBatchDim, type OnnxNode } from './layout.js';

const KNOWN_CTM = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** Sizes along H and W before (`inHW`) and after (`outHW`) the resize, and ONNX's scales. */
interface Sizes {
  inHW: number[];
  outHW: number[];
  scaleHW: [number, number];
}

/** The logical output dims and the H/W scales, from the scales or sizes input (or Upsample's scales). */
function resizeTarget(im: OnnxImporter, n: OnnxNode, d: number[], isUpsample: boolean): { outDims: number[]; scaleHW: [number, number] } {
  const policy = attrStr(n, 'keep_aspect_ratio_policy', 'stretch');
  const axes = (attrInts(n, 'axes') ?? [0, 1, 2, 3]).map((a) => (a < 0 ? a + 4 : a));
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (isUpsample) {
    const s = n.inputs[1] ? im.needConst(n.inputs[1], 'scales') : undefined;
    scales = s ? Array.from(s.data) : (n.attrs.scales as number[] | undefined);
    if (!scales) im.fail(`no scales`);
  } else {
    const sc = n.inputs[2] ? im.needConst(n.inputs[2], 'scales') : undefined;
    const sz = n.inputs[3] ? im.needConst(n.inputs[3], 'sizes') : undefined;
    if (sc?.data.length) scales = Array.from(sc.data);
    if (sz?.data.length) sizes = Array.from(sz.data);
    if (!scales && !sizes) im.fail(`neither scales nor sizes is given`);
  }
  const full = (v: number[], dflt: (k: number) => number): number[] => {
    if (v.length !== axes.length) im.fail(`${v.length} values for ${axes.length} axes`);
    const out = [0, 1, 2, 3].map(dflt);
    axes.forEach((a, k) => (out[a] = v[k]));
    return out;
  };
  if (sizes) {
    if (policy !== 'stretch') im.fail(`keep_aspect_ratio_policy '${policy}' is not supported`);
    const s = full(sizes, (k) => d[k]);
    const outDims = s.map((v, k) => (k === 0 ? d[0] : v));
    if (s[1] !== d[1] || (s[0] !== d[0] && !isBatchDim(d[0]))) im.fail(`resizing the batch or channel dimension is not supported`);
    return { outDims, scaleHW: [outDims[2] / d[2], outDims[3] / d[3]] };
  }
  const s = full(scales!, () => 1);
  if (s[0] !== 1 || s[1] !== 1) im.fail(`scales [${s}] resize the batch or channel dimension, which is not supported`);
  return { outDims: [d[0], d[1], Math.floor(d[2] * s[2]), Math.floor(d[3] * s[3])], scaleHW: [s[2], s[3]] };
}

/** [alignCorners, halfPixelCenters] for linear mode; naflow's linear resize uses the ratio of the sizes. */
function linearConvention(im: OnnxImporter, ctm: string, { inHW, outHW, scaleHW }: Sizes): [boolean, boolean] {
  if (ctm === 'tf_half_pixel_for_nn') im.fail(`coordinate_transformation_mode '${ctm}' with linear mode is not supported`);
  const alignCorners = ctm === 'align_corners';
  const halfPixelCenters = ctm === 'half_pixel' || ctm === 'pytorch_half_pixel';
  for (let k = 0; k < 2; k++) {
    if (alignCorners) continue;
    if (ctm === 'pytorch_half_pixel' && outHW[k] === 1 && inHW[k] !== 1) im.fail(`pytorch_half_pixel with an output size of 1 is not supported`);
    const ratioOnnx = 1 / scaleHW[k];
    const ratioTf = inHW[k] / outHW[k];
    if (Math.abs(ratioOnnx - ratioTf) > 1e-6 * ratioTf)
      im.fail(`scale ${scaleHW[k]} does not divide the size evenly (${inHW[k]}→${outHW[k]}); naflow's linear resize uses the ratio of the sizes`);
  }
  return [alignCorners, halfPixelCenters];
}

/** ONNX's nearest-neighbour source index of each output position along axis k (0: H, 1: W). */
function onnxNearestIndices(k: number, ctm: string, nearestMode: string, { inHW, outHW, scaleHW }: Sizes): number[] {
  const out: number[] = [];
  const s = scaleHW[k];
  for (let x = 0; x < outHW[k]; x++) {
    let xo: number;
    switch (ctm) {
      case 'half_pixel':
        xo = (x + 0.5) / s - 0.5;
        break;
      case 'pytorch_half_pixel':
        xo = outHW[k] > 1 ? (x + 0.5) / s - 0.5 : 0;
        break;
      case 'align_corners':
        xo = outHW[k] === 1 ? 0 : (x * (inHW[k] - 1)) / (outHW[k] - 1);
        break;
      case 'tf_half_pixel_for_nn':
        xo = (x + 0.5) / s;
        break;
      default:
        xo = x / s;
    }
    let i: number;
    const fl = Math.floor(xo);
    switch (nearestMode) {
      case 'floor':
        i = fl;
        break;
      case 'ceil':
        i = Math.ceil(xo);
        break;
      case 'round_prefer_ceil':
        i = xo - fl >= 0.5 ? fl + 1 : fl;
        break;
      default:
        i = xo - fl > 0.5 ? fl + 1 : fl;
    }
    out.push(Math.min(Math.max(i, 0), inHW[k] - 1));
  }
  return out;
}

/** tfjs' nearest-neighbour source indices along axis k for one (alignCorners, halfPixelCenters) pair. */
function tfNearestIndices(k: number, align: boolean, half: boolean, { inHW, outHW }: Sizes): number[] {
  const out: number[] = [];
  const ratio = align && outHW[k] > 1 ? (inHW[k] - 1) / (outHW[k] - 1) : inHW[k] / outHW[k];
  for (let x = 0; x < outHW[k]; x++) {
    const f = half ? ratio * (x + 0.5) : ratio * x;
    let i = Math.min(inHW[k] - 1, align ? Math.round(f) : Math.floor(f));
    if (half) i = Math.max(0, i);
    out.push(i);
  }
  return out;
}

/** The tfjs convention whose source indices equal ONNX's for these exact sizes (or an error). */
function nearestConvention(im: OnnxImporter, ctm: string, nearestMode: string, sizes: Sizes, what: string): [boolean, boolean] {
  if (!NEAREST_MODES.includes(nearestMode)) im.fail(`nearest_mode '${nearestMode}' is not supported`);
  const want = [0, 1].map((k) => onnxNearestIndices(k, ctm, nearestMode, sizes));
  const candidates: Array<[boolean, boolean]> = [
    [ctm === 'align_corners', ctm.includes('half_pixel')],
    [false, false],
    [false, true],
    [true, false],
  ];
  const hit = candidates.find(([al, hp]) => [0, 1].every((k) => tfNearestIndices(k, al, hp, sizes).every((v, i) => v === want[k][i])));
  if (!hit)
    im.fail(
      `nearest resize ${what} with coordinate_transformation_mode '${ctm}' and nearest_mode '${nearestMode}' has no equivalent in naflow's nearest-neighbour resize`,
    );
  return hit;
}

function resize(im: OnnxImporter, n: OnnxNode): void {
  const isUpsample = n.opType === 'Upsample';
  const x = im.act(n.inputs[0]);
  const d = im.need4(x, 'the input');
  let mode = attrStr(n, 'mode', 'nearest');
  if (mode === 'bilinear') mode = 'linear';
  if (mode !== 'nearest' && mode !== 'linear') im.fail(`mode '${mode}' is not supported (nearest and linear are)`);
  const ctm = isUpsample ? 'asymmetric' : attrStr(n, 'coordinate_transformation_mode', 'half_pixel');
  const nearestMode = isUpsample ? 'floor' : attrStr(n, 'nearest_mode', 'round_prefer_floor');
  if (attrInt(n, 'antialias', 0)) im.fail(`antialias=1 is not supported`);
  const { outDims, scaleHW } = resizeTarget(im, n, d, isUpsample);
  if (outDims[2] <= 0 || outDims[3] <= 0) im.fail(`output size ${fmtDims(outDims)} is empty`);
  const sizes: Sizes = { inHW: [d[2], d[3]], outHW: [outDims[2], outDims[3]], scaleHW };
  if (!KNOWN_CTM.includes(ctm)) im.fail(`coordinate_transformation_mode '${ctm}' is not supported`);
  const [alignCorners, halfPixelCenters] =
    mode === 'linear' ? linearConvention(im, ctm, sizes) : nearestConvention(im, ctm, nearestMode, sizes, `${fmtDims(d)}→${fmtDims(outDims)}`);
  im.emit('Resize', [x.ref], [n.outputs[0]], {
    size: [outDims[2], outDims[3]],
    mode: mode === 'linear' ? 'bilinear' : 'nearest',
    alignCorners,
    halfPixelCenters,
  });
  im.setAct(n.outputs[0], outDims);
}

export const RESIZE_HANDLERS: OnnxHandlerTable = {
  Resize: resize,
  Upsample: resize,
};
