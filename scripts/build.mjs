#!/usr/bin/env node
// `npm run build`: bundles the gateway (main/cli.ts and everything it
// imports from this repo) into dist/vendgate.mjs with esbuild. npm packages
// stay external. The bundle runs on plain node without the tsx loader, which
// saves ~50 MB of resident memory in production; development, tests and the
// simulators run the TypeScript sources through bin/vendgate.js instead.
//
// Split into chunks (dist/vendgate-HASH.mjs beside the entry): each dynamic
// import() in the sources (the gateway, the platform, the demo, the DEX and
// beacon tools, the HTTP API) loads its own chunk only when it runs. In one
// file, esbuild hoists every npm import of every module to the top, so
// `vendgate start` loaded the platform's pg, fastify and qrcode and parsed
// the whole platform and simulators: ~20 MB more resident at idle and ~20 MB
// more at the remote-vend bench's peak. The chunks sit in dist/ itself, so
// paths taken from import.meta.url (../package.json) resolve as they did.
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// The previous build's chunks: their names change with their contents.
for (const f of (() => {
  try {
    return readdirSync('dist');
  } catch {
    return [];
  }
})()) {
  if (/^vendgate-[A-Z0-9]+\.mjs(\.map)?$/.test(f)) rmSync(`dist/${f}`);
}

await build({
  entryPoints: { vendgate: 'main/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'vendgate-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
console.log('built dist/vendgate.mjs (and its chunks, dist/vendgate-*.mjs)');
