import { stringify } from 'yaml';
import { z } from 'zod';
import { buildApi } from '../api/server.ts';
import { DisplayHub } from '../devices/display/hub.ts';
import { ConfigSchema } from '../gateway/config/schema.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { openStore } from '../gateway/store/db.ts';
import { renderErrorsMarkdown } from './errors-doc.ts';
import { buildAsyncApi, buildContractDoc, buildJsonSchemas } from './gen-asyncapi.ts';

/**
 * Every generated document, by path relative to the repository root. The
 * sources are the zod schemas, the fastify routes and the error catalogue; `npm run docs` writes
 * these files and test/docs-fresh.test.ts fails when a committed one is stale.
 */
export async function buildDocs(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  files['docs/asyncapi.yaml'] = buildAsyncApi();
  files['docs/contract.md'] = buildContractDoc();
  for (const [name, schema] of Object.entries(buildJsonSchemas())) {
    files[`docs/schemas/${name}`] = `${JSON.stringify(schema, null, 2)}\n`;
  }
  files['docs/config.schema.json'] =
    `${JSON.stringify(z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
  files['docs/openapi.yaml'] = await buildOpenApi();
  files['docs/errors.md'] = renderErrorsMarkdown();
  return files;
}

async function buildOpenApi(): Promise<string> {
  const db = openStore({ path: ':memory:' });
  try {
    const outbox = new Outbox(db, { gatewayId: 'docs', maxRows: 10, telemetryTtlMs: 1 });
    const ledger = new OrderLedger({ db, outbox, catalog: catalogFrom([]) });
    const app = await buildApi({
      ledger,
      displays: new DisplayHub(),
      health: () => {
        throw new Error('not called while generating docs');
      },
      coupons: {
        campaigns: () => [],
        redeemed: () => new Map(),
        beacons: () => {
          throw new Error('not called while generating docs');
        },
      },
    });
    await app.ready();
    const doc = app.swagger();
    await app.close();
    return stringify(doc, { sortMapEntries: false });
  } finally {
    db.close();
  }
}
