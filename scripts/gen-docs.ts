import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildDocs } from './docs.ts';

// `npm run docs`: writes the generated AsyncAPI, OpenAPI, JSON Schema and error catalogue files.
const files = await buildDocs();
for (const [path, text] of Object.entries(files)) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}
