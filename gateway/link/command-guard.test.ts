import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandBody } from '../../contract/commands.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  signBody,
} from '../../contract/signing.ts';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach, tempDir } from '../../testing/index.ts';
import { type Db, openStore } from '../store/db.ts';
import {
  CommandGuard,
  type CommandGuardOptions,
  type GuardResult,
  MAX_COMMAND_BYTES,
} from './command-guard.ts';

const NOW = 1_750_000_000_000;
const platform = generateRawKeyPair();
const attacker = generateRawKeyPair();

const cleanups = cleanupsAfterEach();

function setup(opts: Partial<CommandGuardOptions> = {}) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'vendgate.db');
  const dbs: Db[] = [];
  cleanups.push(() => {
    for (const d of dbs) if (d.open) d.close();
    tmp.cleanup();
  });
  const make = () => {
    const db = openStore({ path });
    dbs.push(db);
    return {
      db,
      guard: new CommandGuard(db, {
        gatewayId: 'gw1',
        keys: new Map([['default', publicKeyFromBase64(platform.publicKey)]]),
        maxSkewMs: 30_000,
        maxLifetimeMs: 3600_000,
        now: () => NOW,
        ...opts,
      }),
    };
  };
  return { make, ...make() };
}

const paid = {
  orderId: 'order-000001',
  machineId: 'm1',
  slot: 4,
  price: { amount: 350, currency: 'CNY' },
  provider: 'wechat',
  expiresAt: NOW + 600_000,
};

function body(overrides: Partial<CommandBody> = {}): CommandBody {
  return {
    id: randomUUID(),
    type: 'order.paid',
    gatewayId: 'gw1',
    issuedAt: NOW - 1000,
    expiresAt: NOW + 60_000,
    nonce: randomBytes(16).toString('hex'),
    data: paid,
    ...overrides,
  };
}

function signed(b: CommandBody | string, seed = platform.privateKey, extra: object = {}): Buffer {
  const text = typeof b === 'string' ? b : JSON.stringify(b);
  return Buffer.from(
    JSON.stringify({ body: text, sig: signBody(text, privateKeyFromBase64(seed)), ...extra }),
  );
}

function refused(r: GuardResult): { code: number; reason: string; commandId?: string; commandType?: string } {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.command)}`);
  return r;
}

describe('the command guard', () => {
  it('accepts a command signed by the platform for this gateway', () => {
    const { guard } = setup();
    const b = body();
    const r = guard.check('order.paid', signed(b));
    expect(r).toEqual({
      ok: true,
      command: { id: b.id, type: 'order.paid', issuedAt: b.issuedAt, expiresAt: b.expiresAt, data: paid },
    });
  });

  it('refuses a command signed by another key', () => {
    const { guard } = setup();
    expect(refused(guard.check('order.paid', signed(body(), attacker.privateKey))).code).toBe(
      ErrorCode.CommandSignatureInvalid,
    );
  });

  it('refuses a body altered after signing', () => {
    const { guard } = setup();
    const b = body();
    const text = JSON.stringify(b);
    const sig = signBody(text, privateKeyFromBase64(platform.privateKey));
    const tampered = text.replace('"amount":350', '"amount":1');
    const r = refused(guard.check('order.paid', Buffer.from(JSON.stringify({ body: tampered, sig }))));
    expect(r.code).toBe(ErrorCode.CommandSignatureInvalid);
  });

  it('refuses a command naming an unknown key id', () => {
    const { guard } = setup();
    const r = refused(guard.check('order.paid', signed(body(), platform.privateKey, { keyId: 'k2' })));
    expect(r.code).toBe(ErrorCode.CommandSignatureInvalid);
    expect(r.reason).toMatch(/k2/);
  });

  it('refuses an unsigned command', () => {
    const { guard } = setup();
    const r = refused(
      guard.check('order.paid', Buffer.from(JSON.stringify({ body: JSON.stringify(body()) }))),
    );
    expect(r.code).toBe(ErrorCode.CommandUnsigned);
  });

  it('refuses an expired command and says when it expired', () => {
    const { guard } = setup();
    const b = body({ issuedAt: NOW - 120_000, expiresAt: NOW - 1 });
    const r = refused(guard.check('order.paid', signed(b)));
    expect(r).toMatchObject({ code: ErrorCode.CommandExpired, commandId: b.id, commandType: 'order.paid' });
    expect(r.reason).toContain(new Date(NOW - 1).toISOString());
  });

  it('refuses a command issued further in the future than the allowed clock skew', () => {
    const { guard } = setup();
    expect(refused(guard.check('order.paid', signed(body({ issuedAt: NOW + 30_001 })))).code).toBe(
      ErrorCode.CommandNotYetValid,
    );
    expect(guard.check('order.paid', signed(body({ issuedAt: NOW + 29_000 }))).ok).toBe(true);
  });

  it('refuses a validity window longer than allowed', () => {
    const { guard } = setup();
    const r = refused(guard.check('order.paid', signed(body({ expiresAt: NOW + 4000_000 }))));
    expect(r.code).toBe(ErrorCode.CommandBodyInvalid);
  });

  it('refuses a replayed command, and a reused nonce under a new id', () => {
    const { guard } = setup();
    const b = body();
    expect(guard.check('order.paid', signed(b)).ok).toBe(true);
    expect(refused(guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandReplayed);
    expect(refused(guard.check('order.paid', signed({ ...b, id: randomUUID() }))).code).toBe(
      ErrorCode.CommandReplayed,
    );
  });

  it('still refuses a replay after the store is reopened', () => {
    const s = setup();
    const b = body();
    expect(s.guard.check('order.paid', signed(b)).ok).toBe(true);
    s.db.close();
    const again = s.make();
    expect(refused(again.guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandReplayed);
  });

  it('refuses a command addressed to another gateway', () => {
    const { guard } = setup();
    const r = refused(guard.check('order.paid', signed(body({ gatewayId: 'gw2' }))));
    expect(r.code).toBe(ErrorCode.CommandMisaddressed);
    expect(r.reason).toMatch(/gw2/);
  });

  it('refuses a command whose type differs from its topic', () => {
    const { guard } = setup();
    expect(refused(guard.check('coupon.claim', signed(body()))).code).toBe(ErrorCode.CommandMisaddressed);
  });

  it('refuses an unknown command type', () => {
    const { guard } = setup();
    const r = refused(guard.check('self.destruct', signed(body({ type: 'self.destruct' }))));
    expect(r).toMatchObject({ code: ErrorCode.CommandUnknownType, commandType: 'self.destruct' });
  });

  it('refuses invalid command data and says which field', () => {
    const { guard } = setup();
    const r = refused(guard.check('order.paid', signed(body({ data: { ...paid, slot: 0 } }))));
    expect(r.code).toBe(ErrorCode.CommandBodyInvalid);
    expect(r.reason).toMatch(/slot/);
    const extra = refused(guard.check('order.paid', signed(body({ data: { ...paid, discount: 100 } }))));
    expect(extra.code).toBe(ErrorCode.CommandBodyInvalid);
  });

  it('does not burn the command id of a command refused for its data', () => {
    const { guard } = setup();
    const b = body({ data: { ...paid, slot: 0 } });
    expect(refused(guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandBodyInvalid);
    expect(guard.check('order.paid', signed({ ...b, data: paid })).ok).toBe(true);
  });

  it('refuses a signed body that is not a command body', () => {
    const { guard } = setup();
    expect(refused(guard.check('order.paid', signed('[1,2,3]'))).code).toBe(ErrorCode.CommandBodyInvalid);
    expect(refused(guard.check('order.paid', signed('{not json'))).code).toBe(ErrorCode.CommandBodyInvalid);
  });

  it('refuses an oversized payload before parsing it', () => {
    const { guard } = setup();
    const r = refused(guard.check('order.paid', Buffer.alloc(MAX_COMMAND_BYTES + 1, 0x20)));
    expect(r.code).toBe(ErrorCode.PayloadTooLarge);
  });

  it('refuses a payload that is not JSON', () => {
    const { guard } = setup();
    expect(refused(guard.check('order.paid', Buffer.from('order paid!'))).code).toBe(
      ErrorCode.PayloadNotJson,
    );
  });

  it('refuses a malformed envelope', () => {
    const { guard } = setup();
    expect(refused(guard.check('order.paid', Buffer.from('{"body":"{}","sig":"short"}'))).code).toBe(
      ErrorCode.PayloadInvalid,
    );
    expect(refused(guard.check('order.paid', Buffer.from('"a string"'))).code).toBe(ErrorCode.PayloadInvalid);
  });
});
