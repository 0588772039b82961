import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDocs } from '../scripts/docs.ts';

describe('the generated contract documents', () => {
  it('are committed and match the schemas they are generated from (run `npm run docs` when this fails)', async () => {
    const files = await buildDocs();
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining([
        'docs/asyncapi.yaml',
        'docs/openapi.yaml',
        'docs/config.schema.json',
        'docs/errors.md',
      ]),
    );
    for (const [path, text] of Object.entries(files)) {
      expect(existsSync(path), `${path} is missing`).toBe(true);
      expect(readFileSync(path, 'utf8'), `${path} is stale`).toBe(text);
    }
  });
});
