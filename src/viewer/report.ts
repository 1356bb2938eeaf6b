/**
 * report.html: one self-contained file — the viewer's script and style and the data (image and maps
 * inlined) — that opens from disk and makes no network request (its Content-Security-Policy forbids
 * every fetch: only inline script/style and data: images are allowed). The same viewer script
 * (assets/viewer/viewer.js) draws the `naflow serve` app.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../defaults.js';
import type { ViewerData } from './data.js';

/** The folder of the viewer's static files (shipped in the package's `assets/`). */
export const VIEWER_ASSETS = path.join(PACKAGE_ROOT, 'assets', 'viewer');

const cache = new Map<string, string>();

/** A file of assets/viewer/ (viewer.js, viewer.css, app.js), read once. */
export function viewerAsset(name: 'viewer.js' | 'viewer.css' | 'app.js'): string {
  let s = cache.get(name);
  if (s === undefined) {
    s = fs.readFileSync(path.join(VIEWER_ASSETS, name), 'utf8');
    cache.set(name, s);
  }
  return s;
}

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON safe inside a <script> element: no `<` (so no `</script>` or `<!--`), U+2028/9 escaped. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inline script text: `</script` cannot end the element early. */
export const inlineScript = (js: string): string => js.replace(/<\/(script)/gi, '<\\/$1');

/**
 * One viewer page (report.html and the serve app): the head with the viewer's style, `body` inside
 * <main>, then `data` (elements the scripts read), the viewer's script and `scripts` (inlined in order).
 */
export function viewerPage(page: { title: string; head: string; body: string; data?: string; scripts: string[] }): string {
  const scripts = [inlineScript(viewerAsset('viewer.js')), ...page.scripts].map((js) => `<script>\n${js}\n</script>\n`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${page.head}<title>${escapeHtml(page.title)}</title>
<style>
${viewerAsset('viewer.css')}
</style>
</head>
<body>
<main>
${page.body}</main>
${page.data ?? ''}${scripts}</body>
</html>
`;
}

/** The report's Content-Security-Policy: nothing may be fetched, inline code and data: images only. */
export const REPORT_CSP = "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

export interface ReportOptions {
  /** page title (default: the data's) */
  title?: string;
}

/** The self-contained report.html for viewer data. */
export function renderReport(data: ViewerData, options: ReportOptions = {}): string {
  const title = options.title ?? data.title;
  const sizes = data.flows.length ? ` · ${data.layers.length} layers · methods: ${data.flows.map((f) => f.label).join(', ')}` : '';
  return viewerPage({
    title,
    head: `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">\n<meta name="generator" content="naflow ${escapeHtml(data.naflow)}">\n`,
    body: `<h1>${escapeHtml(title)}</h1>
<div id="naflow-viewer" class="nv-root"></div>
<noscript><p>This report draws the maps with JavaScript; enable it to see them.</p></noscript>
<footer>naflow ${escapeHtml(data.naflow)}${escapeHtml(sizes)}. Keys: ← → move through the layers, Home / End jump to the first / last, space plays and pauses. A self-contained file: it makes no network requests.</footer>
`,
    data: `<script type="application/json" id="naflow-data">${jsonForScript(data)}</script>\n`,
    scripts: [
      "window.naflowViewer = NaflowViewer.mount(document.getElementById('naflow-viewer'), JSON.parse(document.getElementById('naflow-data').textContent));",
    ],
  });
}
