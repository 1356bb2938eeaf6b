/** TF image resizes → naflow Resize (same alignCorners / halfPixelCenters conventions). */
import { attrBool } from './attrs.js';
import { firstInput, type TfGraphHandler, type TfGraphHandlerTable } from './handler.js';

const resize: TfGraphHandler = (g, n, ins) => {
  const { x, xs } = firstInput(g, ins);
  const size = g.constInts(ins[1], n, 'the size') as [number, number];
  g.final(
    n,
    'Resize',
    [x.name],
    {
      size: [size[0], size[1]],
      mode: n.op === 'ResizeBilinear' ? 'bilinear' : 'nearest',
      alignCorners: attrBool(n, 'align_corners', false),
      halfPixelCenters: attrBool(n, 'half_pixel_centers', false),
    },
    xs ? [xs[0], size[0], size[1], xs[3]] : undefined,
  );
  return true;
};

export const RESIZE_HANDLERS: TfGraphHandlerTable = {
  ResizeBilinear: resize,
  ResizeNearestNeighbor: resize,
};
