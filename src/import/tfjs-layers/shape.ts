/** Keras reshaping layers → naflow Flatten / Reshape / Transpose / Pad / Slice / Resize; pass-through layers. */
import { prod, resolveReshape } from '../tfjs-common.js';
import { NeedsShape, padPairs, pair } from './chain.js';
import type { LayerHandler, LayerHandlerTable } from './handler.js';

const dropout: LayerHandler = ({ c, x, xs }) => c.emit('dropout', 'Dropout', [x], {}, xs);

export const SHAPE_HANDLERS: LayerHandlerTable = {
  Flatten: ({ c, x, xs }) => c.emit('flatten', 'Flatten', [x], { axis: 1 }, xs ? [xs[0], prod(xs.slice(1))] : undefined),
  Reshape: ({ c, cfg, x, xs }) => {
    const shape = resolveReshape(xs, [-1, ...cfg.numList('target_shape')]);
    return c.emit('reshape', 'Reshape', [x], { shape }, xs ? [xs[0], ...shape.slice(1)] : undefined);
  },
  Permute: ({ c, cfg, x, xs }) => {
    const perm = [0, ...cfg.numList('dims')];
    return c.emit('transpose', 'Transpose', [x], { perm }, xs ? perm.map((p) => xs[p]) : undefined);
  },
  ZeroPadding2D: ({ c, cfg, x, xs }) => {
    const [[t, bt], [l, r]] = padPairs(cfg.get('padding'), 1);
    const out = xs ? [xs[0], xs[1] < 0 ? -1 : xs[1] + t + bt, xs[2] < 0 ? -1 : xs[2] + l + r, xs[3]] : undefined;
    return c.emit(
      'pad',
      'Pad',
      [x],
      {
        pads: [
          [0, 0],
          [t, bt],
          [l, r],
          [0, 0],
        ],
        mode: 'constant',
        value: 0,
      },
      out,
    );
  },
  Cropping2D: ({ im, c, cfg, x }) => {
    const s = im.needShape(x);
    const [[t, bt], [l, r]] = padPairs(cfg.get('cropping'), 0);
    if (s[1] < 0 || s[2] < 0) throw new NeedsShape();
    const out = [s[0], s[1] - t - bt, s[2] - l - r, s[3]];
    return c.emit('crop', 'Slice', [x], { starts: [t, l], ends: [s[1] - bt, s[2] - r], axes: [1, 2], steps: [1, 1] }, out);
  },
  UpSampling2D: ({ im, c, cfg, x }) => {
    const s = im.needShape(x);
    const [sh, sw] = pair(cfg.get('size'), [2, 2]);
    const mode = cfg.get('interpolation') === 'bilinear' ? 'bilinear' : 'nearest';
    const size: [number, number] = [s[1] * sh, s[2] * sw];
    const attrs = { size, mode, alignCorners: false, halfPixelCenters: mode === 'bilinear' };
    return c.emit('resize', 'Resize', [x], attrs, [s[0], size[0], size[1], s[3]]);
  },
  InputLayer: ({ c, x, xs }) => c.emit('identity', 'Identity', [x], {}, xs),
  Dropout: dropout,
  SpatialDropout1D: dropout,
  SpatialDropout2D: dropout,
  SpatialDropout3D: dropout,
  GaussianNoise: dropout,
  GaussianDropout: dropout,
  AlphaDropout: dropout,
  ActivityRegularization: dropout,
};
