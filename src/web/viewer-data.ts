/**
 * The viewer's data object (what assets/viewer/viewer.js draws; src/viewer/data.ts builds the same in
 * Node) from an explanation a worker sent back, built in the page: the maps encoded by the shared
 * browser-safe code (src/viewdata/), the model-sized image as a PNG data URL drawn with a canvas.
 */
import { colormapTables, viewerMaps } from '../viewdata/index.js';
import { browser } from './dom.js';
import type { WorkerExplainResult } from './worker-protocol.js';

interface PixelCanvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { createImageData(w: number, h: number): { data: Uint8ClampedArray }; putImageData(d: unknown, x: number, y: number): void } | null;
  toDataURL(type: string): string;
}

/** RGB pixels as a PNG data URL (the browser's PNG encoder). */
export function rgbDataUrl(rgb: { data: Uint8Array; width: number; height: number }): string {
  const doc = browser.document as unknown as { createElement(tag: 'canvas'): PixelCanvas } | undefined;
  if (!doc) throw new Error('rgbDataUrl needs a page (document)');
  const c = doc.createElement('canvas');
  c.width = rgb.width;
  c.height = rgb.height;
  const ctx = c.getContext('2d');
  if (!ctx) throw new Error('this browser offers no 2D canvas');
  const img = ctx.createImageData(rgb.width, rgb.height);
  for (let i = 0, n = rgb.width * rgb.height; i < n; i++) {
    img.data[4 * i] = rgb.data[3 * i];
    img.data[4 * i + 1] = rgb.data[3 * i + 1];
    img.data[4 * i + 2] = rgb.data[3 * i + 2];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return c.toDataURL('image/png');
}

export interface PageViewerOptions {
  modelName?: string;
  imageFile?: string;
  version?: string;
}

/** The viewer's data (format 'naflow-viewer/1', as src/viewer/data.ts's viewerData) for a worker's explanation. */
export function viewerDataOf(result: WorkerExplainResult, options: PageViewerOptions = {}) {
  const { layers, flows } = viewerMaps(result);
  const d = result.decision;
  return {
    format: 'naflow-viewer/1' as const,
    title: `NAFlow: ${d.label ?? `class ${d.classIndex}`}${options.imageFile ? ` — ${options.imageFile}` : ''}`,
    naflow: options.version ?? '0.1.0',
    model: options.modelName ? { name: options.modelName, file: null, sha256: null } : null,
    image: result.image ? { src: rgbDataUrl(result.image), width: result.image.width, height: result.image.height, file: options.imageFile ?? null } : null,
    decision: { classIndex: d.classIndex, label: d.label, id: d.id, score: d.score },
    mode: result.mode,
    elapsedMs: Math.round(result.elapsedMs),
    layers,
    flows,
    colormaps: colormapTables(),
    defaults: { colormap: 'jet', normalize: 'layer' as const, opacity: 0.4 },
  };
}
