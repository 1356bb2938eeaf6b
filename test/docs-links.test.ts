/**
 * Every relative link in README.md and docs/*.md resolves: the file exists and, for a Markdown target,
 * the #anchor is one of its headings (GitHub's slugs). A moved or renamed document fails here.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, (block) => block.replace(/[^\n]/g, ' '));
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of withoutCode(fs.readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const s = slug(m[1]);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    anchors.add(n ? `${s}-${n}` : s);
  }
  return anchors;
}

function brokenLinks(file: string): string[] {
  const text = withoutCode(fs.readFileSync(file, 'utf8'));
  const broken: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/i.test(target)) continue; // http:, mailto:
    const [p, fragment] = target.split('#');
    const dest = p ? path.resolve(path.dirname(file), decodeURIComponent(p)) : file;
    const where = `${path.relative(root, file)}:${text.slice(0, m.index).split('\n').length}`;
    if (!fs.existsSync(dest)) broken.push(`${where}: no file ${target}`);
    else if (fragment !== undefined && dest.endsWith('.md') && !anchorsOf(dest).has(fragment)) broken.push(`${where}: no heading #${fragment}`);
  }
  return broken;
}

test('every relative link in README.md and docs/*.md resolves', () => {
  const docs = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(root, 'docs', f));
  const files = [path.join(root, 'README.md'), ...docs];
  assert.ok(files.length > 10, 'README.md and the docs/ pages are found');
  assert.deepEqual(files.flatMap(brokenLinks), []);
});

test('the link check fails on a missing file and on a missing heading', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-links-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.md'), '# Title\n\n## Sub `part`\n\n[ok](#sub-part) [bad](#nope) [gone](b.md) ```x](c.md)```\n');
    assert.deepEqual(
      brokenLinks(path.join(dir, 'a.md')).map((s) => s.replace(/^.*?: /, '')),
      ['no heading #nope', 'no file b.md'],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
