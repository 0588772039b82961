import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { applyEnvOverrides, loadConfig, MASK, maskSecrets, parseConfig } from './load.ts';
import { HTTP_LIMIT_DEFAULTS } from './schema.ts';

function configFile(text: string): { path: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'vendgate.yaml');
  writeFileSync(path, text);
  return { path, cleanup };
}

describe('configuration', () => {
  it('is valid when empty, with the documented defaults', () => {
    const c = parseConfig({});
    expect(c.gatewayId).toBe('vendgate-1');
    expect(c.http).toEqual({ enabled: true, host: '127.0.0.1', port: 8080, limits: HTTP_LIMIT_DEFAULTS });
    expect(c.broker.embedded.host).toBe('127.0.0.1');
    expect(c.machines).toEqual([]);
  });

  it('names the field, the value and what was expected when a value is wrong', () => {
    try {
      parseConfig({
        http: { port: 70000 },
        machines: [{ id: 'm 1', port: '/dev/x', slots: [{ slot: 1, price: 3.5 }] }],
      });
      expect.fail('should have thrown');
    } catch (err) {
      expect(isVendgateError(err, ErrorCode.ConfigInvalid)).toBe(true);
      const msg = (err as Error).message;
      expect(msg).toContain('http.port');
      expect(msg).toContain('70000');
      expect(msg).toContain('machines.0.id');
      expect(msg).toContain('"m 1"');
      expect(msg).toContain('machines.0.slots.0.price');
      expect(msg).toContain('minor units');
    }
  });

  it('refuses duplicate machine ids and duplicate slots', () => {
    const m = { id: 'm1', port: '/dev/x', slots: [{ slot: 1 }, { slot: 1 }] };
    expect(() => parseConfig({ machines: [m, m] })).toThrow(
      /duplicate machine id "m1"[\s\S]*|duplicate slot 1/,
    );
  });

  it('treats a machine that names no driver as a slot-board, with only slot-board settings', () => {
    const c = parseConfig({ machines: [{ id: 'm1', port: '/dev/x', slots: [{ slot: 1 }] }] });
    const m = c.machines[0]!;
    expect(m.driver).toBe('slot-board');
    expect(m).toMatchObject({ silenceTimeoutMs: 1500, currency: 'CNY' });
    expect(m).not.toHaveProperty('mdb');
  });

  it('gives an mdb machine its reader settings with their defaults, and no slot-board settings', () => {
    const c = parseConfig({ machines: [{ id: 'c1', driver: 'mdb', port: '/dev/x' }] });
    const m = c.machines[0]!;
    expect(m.driver).toBe('mdb');
    if (m.driver !== 'mdb') throw new Error('narrowed by driver');
    expect(m.mdb).toEqual({ scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 90 });
    expect(m).not.toHaveProperty('silenceTimeoutMs');
  });

  it("refuses one driver's settings on another driver's machine", () => {
    expect(() =>
      parseConfig({
        machines: [{ id: 'm1', port: '/dev/x', slots: [{ slot: 1 }], mdb: { scaleFactor: 1 } }],
      }),
    ).toThrow(/machines\.0: Unrecognized key: "mdb"/);
    expect(() =>
      parseConfig({ machines: [{ id: 'c1', driver: 'mdb', port: '/dev/x', silenceTimeoutMs: 100 }] }),
    ).toThrow(/machines\.0: Unrecognized key: "silenceTimeoutMs"/);
  });

  it('refuses an mdb reader in a currency it cannot announce, and a slot-board with nothing to sell', () => {
    expect(() =>
      parseConfig({ machines: [{ id: 'c1', driver: 'mdb', port: '/dev/x', currency: 'BRL' }] }),
    ).toThrow(/machines\.0\.currency: an mdb reader supports CNY, HKD/);
    expect(() => parseConfig({ machines: [{ id: 'm1', port: '/dev/x' }] })).toThrow(
      /machines\.0\.slots: a slot-board machine needs at least one slot/,
    );
  });

  it('refuses unknown fields, so a typo does not silently fall back to a default', () => {
    expect(() => parseConfig({ htpp: { port: 1 } })).toThrow(/htpp/);
  });

  it('reads a YAML file and lets the environment override nested fields with their types', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'vendgate.yaml');
      writeFileSync(path, 'gatewayId: shop-7\nhttp:\n  port: 9000\n');
      const { config } = loadConfig({
        path,
        env: { VENDGATE_HTTP__PORT: '9100', VENDGATE_LOG__PRETTY: 'true' },
      });
      expect(config.gatewayId).toBe('shop-7');
      expect(config.http.port).toBe(9100);
      expect(config.log.pretty).toBe(true);
    } finally {
      cleanup();
    }
  });

  it('says which line of a broken YAML file is wrong', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'vendgate.yaml');
      writeFileSync(path, 'gatewayId: a\nhttp: [1, 2\n');
      expect(() => loadConfig({ path, env: {} })).toThrow(/not valid YAML at line/);
    } finally {
      cleanup();
    }
  });

  it('refuses a file whose root is a list, a scalar or a line of text instead of starting on defaults', async () => {
    for (const [text, kind] of [
      ['- gatewayId: a\n- http: {}\n', 'a list'],
      ['42\n', 'a number'],
      ['true\n', 'a boolean'],
      ['just some words\n', 'a line of text'],
    ] as const) {
      const f = configFile(text);
      try {
        const err = await expectVendgateError(
          () => loadConfig({ path: f.path, env: {} }),
          ErrorCode.ConfigInvalid,
        );
        expect(err.message).toContain(`its root is ${kind}`);
      } finally {
        f.cleanup();
      }
    }
  });

  it('still reads an empty file as the defaults', () => {
    const f = configFile('');
    try {
      expect(loadConfig({ path: f.path, env: {} }).config.gatewayId).toBe('vendgate-1');
    } finally {
      f.cleanup();
    }
  });

  it('never quotes the broken line of a YAML file, which may hold a password', async () => {
    const f = configFile('broker:\n  password: "Secr3t\n');
    try {
      const err = await expectVendgateError(
        () => loadConfig({ path: f.path, env: {} }),
        ErrorCode.ConfigYamlSyntax,
      );
      expect(err.message).toMatch(/at line \d+, column \d+/);
      expect(err.message).not.toContain('Secr3t');
    } finally {
      f.cleanup();
    }
  });

  it('names the environment variable behind a wrong value, with what was expected', async () => {
    const err = await expectVendgateError(
      () => loadConfig({ path: '/nonexistent/vendgate.yaml', env: { VENDGATE_HTTP__PORT: 'abc' } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('VENDGATE_HTTP__PORT: expected a number (got "abc"; it sets http.port)');
    expect(err.context.env).toEqual(['VENDGATE_HTTP__PORT']);
  });

  it('names the environment variable that adds an unknown field', async () => {
    const err = await expectVendgateError(
      () => loadConfig({ path: '/nonexistent/vendgate.yaml', env: { VENDGATE_HTPP__PORT: '1' } }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toMatch(/VENDGATE_HTPP__PORT: Unrecognized key: "htpp"/);
  });

  it('keeps a list when an environment variable changes one of its items', () => {
    const raw = { machines: [{ id: 'm1', port: '/dev/a', slots: [{ slot: 1 }] }] };
    expect(applyEnvOverrides(raw, { VENDGATE_MACHINES__0__PORT: '/dev/b' })).toEqual({
      machines: [{ id: 'm1', port: '/dev/b', slots: [{ slot: 1 }] }],
    });
  });

  it('never shows a secret in an error, from the file or from the environment', async () => {
    const f = configFile('broker:\n  password: 12\ncoupons:\n  userKey: Secr3t\n');
    try {
      const err = await expectVendgateError(
        () => loadConfig({ path: f.path, env: { VENDGATE_HTTP__TOKEN: 'Tok3n' } }),
        ErrorCode.ConfigInvalid,
      );
      expect(err.message).toContain('coupons.userKey: at least 16 characters');
      expect(err.message).toContain('VENDGATE_HTTP__TOKEN');
      expect(err.message).toContain('broker.password');
      expect(err.message).not.toMatch(/Secr3t|Tok3n|got 12/);
    } finally {
      f.cleanup();
    }
  });

  it('masks every password, token and key of a config, at any depth, and nothing else', () => {
    const secret = fc.string({ minLength: 1 }).map((s) => `S!${s}`);
    const plainValue = fc.string().map((s) => `P!${s}`);
    const key = fc.constantFrom('password', 'userKey', 'token', 'secret', 'privateKey', 'uplinkPassword');
    const plain = fc.constantFrom('host', 'port', 'id', 'secretEnv', 'publicKeys', 'beaconKey');
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc
          .array(
            fc.oneof(
              fc.tuple(key, secret),
              fc.tuple(plain, plainValue),
              fc.tuple(fc.oneof(key, plain), tie('node')),
            ),
            { maxLength: 4 },
          )
          .map((entries) => Object.fromEntries(entries)),
        fc.array(tie('node'), { maxLength: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(tree, (value) => {
        const masked = JSON.stringify(maskSecrets(value));
        const secrets: string[] = [];
        const plainValues: string[] = [];
        const walk = (v: unknown, underSecret: boolean): void => {
          if (typeof v === 'string') (underSecret ? secrets : plainValues).push(v);
          else if (Array.isArray(v)) for (const x of v) walk(x, underSecret);
          else if (v && typeof v === 'object')
            for (const [k, x] of Object.entries(v))
              walk(x, underSecret || /password|userKey|token|^secret$|privateKey/i.test(k));
        };
        walk(value, false);
        // A string that is also a plain value elsewhere in the tree is shown there, rightly.
        for (const s of secrets)
          if (!plainValues.includes(s)) expect(masked).not.toContain(JSON.stringify(s));
        for (const p of plainValues) expect(masked).toContain(JSON.stringify(p).slice(1, -1));
        if (secrets.length > 0) expect(masked).toContain(MASK);
      }),
    );
  });

  it('maps UPPER_SNAKE environment names to camelCase paths', () => {
    expect(
      applyEnvOverrides({}, { VENDGATE_GATEWAY_ID: 'x', VENDGATE_BROKER__EMBEDDED__PORT: '1884' }),
    ).toEqual({
      gatewayId: 'x',
      broker: { embedded: { port: 1884 } },
    });
  });
});
