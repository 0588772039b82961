import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach, expectVendgateError, tempDir } from '../../testing/index.ts';
import { applyPlatformEnv, loadPlatformConfig, parsePlatformConfig, resolveRefs } from './load.ts';

const cleanups = cleanupsAfterEach();
const SEED = 'q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=';

function dir(): string {
  const tmp = tempDir('vendgate-pconf-');
  cleanups.push(tmp.cleanup);
  return tmp.dir;
}

function configFile(yaml: string): string {
  const path = join(dir(), 'platform.yaml');
  writeFileSync(path, yaml);
  return path;
}

const BASE = `
store: { payerHashKey: env:PAYER_KEY }
broker: { url: mqtt://127.0.0.1:1883 }
signing: { keys: [{ keyId: k2026, privateKey: env:SIGN_KEY }] }
providers: { alipay: { appId: "2021000000000042" } }
payments: { publicBaseUrl: https://pay.example.com }
`;
const ENV = { SIGN_KEY: SEED, PAYER_KEY: 'YS1wYXllci1rZXktb2YtMzItYnl0ZXMtb3ItbW9yZSE=' };

describe('the platform config', () => {
  it('loads a file with defaults, secrets from env and files, and paths from the file folder', () => {
    const folder = dir();
    writeFileSync(join(folder, 'mqtt-password'), 's3cret\n');
    const path = join(folder, 'platform.yaml');
    writeFileSync(path, `${BASE}\ndataDir: ./state\n`);
    const c = loadPlatformConfig(path, {
      ...ENV,
      VENDGATE_PLATFORM_BROKER__PASSWORD: 'file:mqtt-password',
      VENDGATE_PLATFORM_FLEET__ACK_INTERVAL_MS: '7',
    });
    expect(c.dataDir).toBe(join(folder, 'state'));
    expect(c.broker).toEqual({ url: 'mqtt://127.0.0.1:1883', password: 's3cret' });
    expect(c.signing.keys).toEqual([{ keyId: 'k2026', privateKey: SEED }]);
    expect(c.store.payerHashKey).toBe(ENV.PAYER_KEY);
    expect(c.fleet.ackIntervalMs).toBe(7);
    expect(c.privacy.retentionDays).toBe(90);
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8090 });
  });

  it('takes env:NAME values from the environment, and names an unset variable without a value', async () => {
    expect(resolveRefs({ a: ['env:X', 'plain'], b: { c: 'env:X' } }, { X: 'secret' })).toEqual({
      a: ['secret', 'plain'],
      b: { c: 'secret' },
    });
    const err = await expectVendgateError(
      () => loadPlatformConfig(configFile(BASE), { PAYER_KEY: ENV.PAYER_KEY }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('signing.keys[0].privateKey: environment variable SIGN_KEY is not set');
  });

  it('names an unreadable secret file by field and path', async () => {
    const err = await expectVendgateError(
      () => parsePlatformConfig({ broker: { password: 'file:/nonexistent/pw' } }, { env: {} }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('broker.password: cannot read secret file /nonexistent/pw (ENOENT)');
  });

  it('refuses a config breaking its schema, naming the fields and never the secrets', async () => {
    const err = await expectVendgateError(
      () =>
        parsePlatformConfig(
          {
            store: { payerHashKey: 'env:PAYER_KEY' },
            broker: { url: 'http://nope', password: 'top-secret-password' },
            signing: { keys: [{ keyId: 'k', privateKey: 'env:SIGN_KEY' }] },
            providers: {},
          },
          { env: ENV },
        ),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('broker.url');
    expect(err.message).toContain('providers: lists neither wechat nor alipay');
    expect(err.message).not.toContain('top-secret');
    expect(err.message).not.toContain(SEED);
  });

  it('refuses postgres without a URL and a shared group on MQTT 3.1.1', async () => {
    const err = await expectVendgateError(
      () =>
        loadPlatformConfig(
          configFile(`${BASE}\n`.replace('{ payerHashKey', '{ backend: postgres, payerHashKey')),
          {
            ...ENV,
            VENDGATE_PLATFORM_BROKER__SHARED_GROUP: 'g',
            VENDGATE_PLATFORM_BROKER__PROTOCOL_VERSION: '4',
          },
        ),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('store.postgresUrl');
    expect(err.message).toContain('broker.sharedGroup');
  });

  it('says which file is not YAML, and on which line', async () => {
    const err = await expectVendgateError(
      () => loadPlatformConfig(configFile('store: {\n  a: [\n'), ENV),
      ErrorCode.ConfigYamlSyntax,
    );
    expect(err.message).toMatch(/platform\.yaml is not valid YAML at line \d/);
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

  it('never lets an environment variable reach the object prototype', () => {
    const out = applyPlatformEnv({}, { VENDGATE_PLATFORM___PROTO____POLLUTED: 'yes' }) as Record<
      string,
      unknown
    >;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(out)).toEqual([]);
  });
});
