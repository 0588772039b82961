import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../core/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { applyEnvOverrides, loadConfig, parseConfig } from './load.ts';

describe('configuration', () => {
  it('is valid when empty, with the documented defaults', () => {
    const c = parseConfig({});
    expect(c.gatewayId).toBe('vendgate-1');
    expect(c.http).toEqual({ enabled: true, host: '127.0.0.1', port: 8080 });
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

  it('maps UPPER_SNAKE environment names to camelCase paths', () => {
    expect(
      applyEnvOverrides({}, { VENDGATE_GATEWAY_ID: 'x', VENDGATE_BROKER__EMBEDDED__PORT: '1884' }),
    ).toEqual({
      gatewayId: 'x',
      broker: { embedded: { port: 1884 } },
    });
  });
});
