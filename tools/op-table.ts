/**
 * Writes docs/ops.md, the op table generated from the op registry (src/ops/table.ts).
 * Run: npx tsc -p tsconfig.json && node dist/tools/op-table.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/defaults.js';
import '../src/ops/index.js';
import { opTable } from '../src/ops/table.js';

const file = path.join(PACKAGE_ROOT, 'docs', 'ops.md');
fs.writeFileSync(file, opTable());
console.log(`wrote ${path.relative(PACKAGE_ROOT, file)}`);
