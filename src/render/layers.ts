/**
 * Which layers carry a picture. A 1×1 tensor (a squeeze-excitation gate, a global pool) has a map of
 * one value: drawn, it is a flat colour the size of the image. Such layers are 45 of MobileNetV3-S's
 * 117 and 96 of EfficientNet-B0's 236, so the strip, GIF and viewer leave them out by default (their
 * raw maps are still written).
 */
export function carriesPicture(shape: readonly number[]): boolean {
  return shape[0] * shape[1] > 1;
}
