#!/usr/bin/env node
// naflow command line: the compiled CLI lives in dist/ (built by `npm run build`, or on install).
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('naflow: not built yet: run `npm run build` in the naflow package first\n');
    process.exit(2);
  }
  throw e;
}
await cli.main(process.argv);
