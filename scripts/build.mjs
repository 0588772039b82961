#!/usr/bin/env node
// `npm run build`: bundles the gateway (main/cli.ts and everything it
// imports from this repo) into dist/vendgate.mjs with esbuild. npm packages
// stay external. The bundle runs on plain node without the tsx loader, which
// saves ~50 MB of resident memory in production; development, tests and the
// simulators run the TypeScript sources through bin/vendgate.js instead.
import { build } from 'esbuild';

await build({
  entryPoints: ['main/cli.ts'],
  outfile: 'dist/vendgate.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
console.log('built dist/vendgate.mjs');
