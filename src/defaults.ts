/**
 * Bundled defaults, resolved relative to the naflow package root (the folder holding naflow's own
 * package.json), so they work from `dist/`, from the sources, and when naflow is installed as a
 * dependency (`node_modules/naflow/…`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'naflow') return dir;
      } catch {
        /* not ours; keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find naflow's package.json above ${start}`);
    dir = up;
  }
}

/** Absolute path of the naflow package root. */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The bundled default model: Tiny Darknet (ImageNet-1k), a TensorFlow.js layers model. */
export const DEFAULT_MODEL = path.join(PACKAGE_ROOT, 'models', 'tiny-darknet', 'model.json');

/** The bundled default image: Chelsea the cat (CC0). */
export const DEFAULT_IMAGE = path.join(PACKAGE_ROOT, 'assets', 'photos', 'chelsea.png');

/** Folder of the bundled demo photos. */
export const PHOTOS_DIR = path.join(PACKAGE_ROOT, 'assets', 'photos');
