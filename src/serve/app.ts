/**
 * The `naflow serve` page: one HTML document with the viewer's style and script and the app's script
 * (assets/viewer/app.js) inline. It talks only to its own server (the CSP allows nothing else).
 */
import { inlineScript, viewerAsset, viewerPage } from '../viewer/report.js';
import { listMethods } from '../methods/index.js';

export const APP_CSP =
  "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let cached: string | undefined;

const escapeHtml = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One checkbox per baseline the registry offers beside NAFlow. */
function compareCheckboxes(): string {
  return listMethods({ comparable: true })
    .map(
      (m) =>
        `    <span><input type="checkbox" id="cmp-${m.id}" value="${m.id}"><label for="cmp-${m.id}" title="${escapeHtml(m.description)}">${escapeHtml(m.label)}</label></span>`,
    )
    .join('\n');
}

export function appHtml(): string {
  cached ??= viewerPage({
    title: 'naflow — attention flow viewer',
    head: '<link rel="icon" href="data:,">\n',
    body: `<h1>naflow: attention at every layer</h1>
<section class="nv-root" aria-label="Explain an image">
<form class="app-form" id="app-form">
  <div>
    <label for="app-file" class="drop" id="app-drop"><span>Drop an image here or <u>choose one</u><br><small>PNG, JPEG or WebP</small></span><img id="app-thumb" alt="" hidden></label>
    <input type="file" id="app-file" accept="image/png,image/jpeg,image/webp" class="visually-hidden">
  </div>
  <div><label for="app-model">Model</label><select id="app-model"></select></div>
  <div><label for="app-mode">Mode</label><select id="app-mode"><option value="paper">paper (least-squares inverses)</option><option value="reference">reference (authors' code)</option></select></div>
  <fieldset id="app-compare"><legend>Side by side with</legend>
${compareCheckboxes()}
  </fieldset>
  <div><button type="submit" class="go" id="app-go" disabled>Explain</button></div>
</form>
<div class="status" id="app-status" role="status" aria-live="polite">Choose an image to start.</div>
<div class="downloads" id="app-downloads" hidden><a id="app-report" download>Download report.html</a><a id="app-maps" download>Download raw maps (.zip)</a></div>
</section>
<div id="naflow-viewer" class="nv-root"></div>
<footer>naflow serve: explanations are queued and computed on this machine; nothing leaves it. Keys: ← → layers, space play/pause.</footer>
`,
    scripts: [inlineScript(viewerAsset('app.js'))],
  });
  return cached;
}
