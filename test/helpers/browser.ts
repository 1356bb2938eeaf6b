/**
 * Headless Chromium for the viewer's browser tests: Debian's /usr/bin/chromium (`.ci/run` installs it)
 * driven by playwright-core, which downloads nothing. Tests skip with a message where it is absent
 * (NAFLOW_CHROMIUM names another binary). Screenshots are kept in test-artifacts/ (NAFLOW_ARTIFACTS).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../src/defaults.js';

export const CHROMIUM = process.env.NAFLOW_CHROMIUM ?? '/usr/bin/chromium';

/** false when the browser is there, else why the browser tests skip. */
export const browserSkip: string | false = fs.existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: install Debian's chromium (apt-get install chromium; .ci/run does) to run the browser tests`;

export const ARTIFACTS = process.env.NAFLOW_ARTIFACTS ?? path.join(PACKAGE_ROOT, 'test-artifacts');

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** page errors and console errors seen so far */
  errors: string[];
  /** every URL the page requested */
  requests: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1200, height: 900 }): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
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
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  return {
    context,
    page,
    errors,
    requests,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Save a screenshot as a test artefact; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The RGBA pixels of a canvas (selector) in the page. */
export async function canvasPixels(page: Page, selector: string): Promise<Uint8Array> {
  // (browser-side code as a string: this project compiles without the DOM typings)
  const b64 = (await page.evaluate(
    `(() => { const c = document.querySelector(${JSON.stringify(selector)}); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;` +
      ` let s = ''; for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode.apply(null, d.subarray(i, i + 8192)); return btoa(s); })()`,
  )) as string;
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/** How many bytes of two pixel buffers differ. */
export function differing(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n + Math.abs(a.length - b.length);
}
