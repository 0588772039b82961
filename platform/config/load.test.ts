import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach, expectVendgateError, tempDir } from '../../testing/index.ts';
import { applyPlatformEnv, loadPlatformConfig } from './load.ts';

const cleanups = cleanupsAfterEach();
const SEED = 'q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=';

function configFile(yaml: string): string {
  const tmp = tempDir('vendgate-pconf-');
  cleanups.push(tmp.cleanup);
  const path = join(tmp.dir, 'vendgate-platform.yaml');
  writeFileSync(path, yaml);
  return path;
}

const BASE = `
broker: { url: mqtt://127.0.0.1:1883 }
signing: { keys: [{ keyId: k2026, privateKey: { env: SIGN_KEY } }] }
privacy: { payerHashKey: { env: PAYER_KEY } }
`;
const ENV = { SIGN_KEY: SEED, PAYER_KEY: 'a-payer-key-of-32-bytes-or-more!' };

describe('the platform config', () => {
  it('loads a file with defaults, secrets from env and files, and the sqlite path under the data dir', () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const pw = join(tmp.dir, 'mqtt-password');
    writeFileSync(pw, 's3cret\n');
    const path = configFile(`${BASE}\ndataDir: /var/lib/vg\n`);
    const c = loadPlatformConfig({
      path,
      env: {
        ...ENV,
        VENDGATE_PLATFORM_BROKER__PASSWORD__FILE: pw,
        VENDGATE_PLATFORM_FLEET__ACK_INTERVAL_MS: '7',
      },
    });
    expect(c.store).toEqual({ backend: 'sqlite', poolSize: 10, sqlitePath: '/var/lib/vg/platform.db' });
    expect(c.broker).toEqual({ url: 'mqtt://127.0.0.1:1883', protocolVersion: 5, password: 's3cret' });
    expect(c.signing.keys).toEqual([{ keyId: 'k2026', privateKey: SEED }]);
    expect(c.privacy.payerHashKey.toString()).toBe(ENV.PAYER_KEY);
    expect(c.fleet.ackIntervalMs).toBe(7);
  });

  it('names a missing secret by field and variable, never showing a value', async () => {
    const err = await expectVendgateError(
      () => loadPlatformConfig({ path: configFile(BASE), env: { PAYER_KEY: ENV.PAYER_KEY } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('signing.keys.0.privateKey: environment variable SIGN_KEY is not set');
  });

  it('refuses a secret pasted inline without echoing it', async () => {
    const path = configFile(BASE.replace('{ env: PAYER_KEY }', 'hunter2-hunter2-hunter2'));
    const err = await expectVendgateError(
      () => loadPlatformConfig({ path, env: ENV }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('privacy.payerHashKey');
    expect(err.message).not.toContain('hunter2');
  });

  it('refuses postgres without a URL and a shared group on MQTT 3.1.1', async () => {
    const err = await expectVendgateError(
      () =>
        loadPlatformConfig({
          path: configFile(`${BASE}\nstore: { backend: postgres }\n`),
          env: {
            ...ENV,
            VENDGATE_PLATFORM_BROKER__SHARED_GROUP: 'g',
            VENDGATE_PLATFORM_BROKER__PROTOCOL_VERSION: '4',
          },
        }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('store.postgresUrl');
    expect(err.message).toContain('broker.sharedGroup');
  });

  it('maps every VENDGATE_PLATFORM_A__B_C variable to a.bC and leaves other variables alone', () => {
    const segment = fc.stringMatching(/^[A-Z][A-Z0-9]{0,6}(_[A-Z0-9]{1,5}){0,2}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.integer(), (parts, n) => {
        const out = applyPlatformEnv(
          {},
          { [`VENDGATE_PLATFORM_${parts.join('__')}`]: String(n), OTHER: 'x' },
        ) as Record<string, unknown>;
        let node: unknown = out;
        for (const p of parts) {
          const key = p.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
          node = (node as Record<string, unknown>)[key];
        }
        expect(node).toBe(n);
        expect(Object.keys(out)).toHaveLength(1);
      }),
    );
  });
});
