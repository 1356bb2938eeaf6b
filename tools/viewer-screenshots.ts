/**
 * The README's viewer screenshots (docs/viewer-report.png, docs/viewer-serve.png): report.html of the
 * bundled model and photo beside LayerCAM, and the serve app after an upload, in Debian's headless
 * Chromium.  Run: npm run build && node dist/tools/viewer-screenshots.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { DEFAULT_IMAGE, DEFAULT_MODEL, PACKAGE_ROOT } from '../src/defaults.js';
import { startServer } from '../src/serve/server.js';

const docs = path.join(PACKAGE_ROOT, 'docs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-shots-'));
const out = path.join(tmp, 'chelsea');
execFileSync(process.execPath, [path.join(PACKAGE_ROOT, 'bin/naflow.js'), 'explain', '--html', '--compare', 'layercam,gradcam', '--out', out], {
  stdio: 'inherit',
});
const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
  executablePath: process.env.NAFLOW_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1180, height: 1010 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const srv = await startServer({ port: 0, models: [{ id: 'tiny-darknet', name: 'Tiny Darknet (ImageNet)', file: DEFAULT_MODEL, kind: 'bundled' }] });
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(pathToFileURL(path.join(out, 'report.html')).href);
  await page.waitForSelector('[data-ready="true"]');
  await page.fill('.nv-layer', '44');
  await page.selectOption('.nv-compare', 'layercam');
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(docs, 'viewer-report.png') });

  await page.goto(srv.url);
  await page.waitForSelector('#app-model option', { state: 'attached' });
  await page.setInputFiles('#app-file', path.join(path.dirname(DEFAULT_IMAGE), 'coffee.png'));
  await page.check('#cmp-gradcam');
  await page.click('#app-go');
  await page.waitForSelector('#naflow-viewer[data-ready="true"]', { timeout: 120_000 });
  await page.fill('#naflow-viewer .nv-layer', '40');
  await page.selectOption('#naflow-viewer .nv-cmap', 'turbo');
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(docs, 'viewer-serve.png') });
} finally {
  await context.close();
  await srv.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log('wrote docs/viewer-report.png, docs/viewer-serve.png');
