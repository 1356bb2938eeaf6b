/**
 * The few browser APIs the web adapter uses, typed here: the project compiles without the DOM
 * typings (its Node code must not see `window`), so these are reached through `globalThis`.
 */

/** A `File` (or any `Blob` with a name), as a file input or a drop gives it. */
export interface WebFile {
  readonly name: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface ImageBitmapLike {
  readonly width: number;
  readonly height: number;
  close(): void;
}

export interface Canvas2D {
  fillStyle: string;
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: 'low' | 'medium' | 'high';
  fillRect(x: number, y: number, w: number, h: number): void;
  drawImage(img: ImageBitmapLike, sx: number, sy: number, sw: number, sh: number, dx: number, dy: number, dw: number, dh: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}

interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d', options?: { willReadFrequently?: boolean; alpha?: boolean }): Canvas2D | null;
}

export interface BrowserGlobals {
  createImageBitmap?(
    blob: unknown,
    options?: { imageOrientation?: 'from-image' | 'none'; premultiplyAlpha?: 'none' | 'premultiply' | 'default'; colorSpaceConversion?: 'none' | 'default' },
  ): Promise<ImageBitmapLike>;
  Blob: new (parts: readonly unknown[], options?: { type?: string }) => unknown;
  OffscreenCanvas?: new (w: number, h: number) => CanvasLike;
  document?: { createElement(tag: 'canvas'): CanvasLike };
  fetch(url: string): Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
}

export const browser = globalThis as unknown as BrowserGlobals;

/** A 2D canvas of w×h: an OffscreenCanvas where there is one (also in a worker), else a DOM canvas. */
export function canvas2d(w: number, h: number): Canvas2D {
  let c: CanvasLike | undefined;
  if (browser.OffscreenCanvas) c = new browser.OffscreenCanvas(w, h);
  else if (browser.document) {
    c = browser.document.createElement('canvas');
    c.width = w;
    c.height = h;
  }
  const ctx = c?.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser offers no 2D canvas (OffscreenCanvas or document)');
  return ctx;
}
