import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMMAND_MAX_PAYLOAD_BYTES,
  type CommandBody,
  CommandSchemas,
  SignedCommand,
} from '../../contract/commands.ts';
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

function refused(r: GuardResult): Extract<GuardResult, { ok: false }> {
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
      redelivered: false,
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

  it('answers an identical copy of an accepted command as a redelivery, not a replay', () => {
    const { guard } = setup();
    const b = body();
    expect(guard.check('order.paid', signed(b))).toMatchObject({ ok: true, redelivered: false });
    expect(guard.check('order.paid', signed(b))).toMatchObject({
      ok: true,
      redelivered: true,
      command: { id: b.id, type: 'order.paid', data: paid },
    });
  });

  it('refuses another body under a used id, and a used nonce under a new id, as replays', () => {
    const { guard } = setup();
    const b = body();
    expect(guard.check('order.paid', signed(b)).ok).toBe(true);
    const otherBody = refused(guard.check('order.paid', signed({ ...b, issuedAt: b.issuedAt + 1 })));
    expect(otherBody).toMatchObject({ code: ErrorCode.CommandReplayed, commandId: b.id });
    const otherNonce = refused(
      guard.check('order.paid', signed({ ...b, nonce: randomBytes(16).toString('hex') })),
    );
    expect(otherNonce.code).toBe(ErrorCode.CommandReplayed);
    const usedNonce = refused(guard.check('order.paid', signed({ ...b, id: randomUUID() })));
    expect(usedNonce.code).toBe(ErrorCode.CommandReplayed);
    expect(usedNonce.reason).toMatch(/nonce/);
  });

  it('tells a redelivery from a replay after the store is reopened', () => {
    const s = setup();
    const b = body();
    expect(s.guard.check('order.paid', signed(b)).ok).toBe(true);
    s.db.close();
    const again = s.make();
    expect(again.guard.check('order.paid', signed(b))).toMatchObject({ ok: true, redelivered: true });
    expect(refused(again.guard.check('order.paid', signed({ ...b, data: { ...paid, slot: 5 } }))).code).toBe(
      ErrorCode.CommandReplayed,
    );
  });

  it('refuses a copy of a command recorded before body hashes were kept, as a replay', () => {
    const { guard, db } = setup();
    const b = body();
    expect(guard.check('order.paid', signed(b)).ok).toBe(true);
    db.prepare('UPDATE seen_commands SET body_sha256 = NULL').run();
    expect(refused(guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandReplayed);
  });

  it('defers a command for capacity without recording its id or nonce, and takes the same bytes once there is room', () => {
    let full = true;
    const admitted: string[] = [];
    const { guard, db } = setup({
      admit: (c) => {
        if (!full) {
          admitted.push(c.id);
          return undefined;
        }
        return { code: ErrorCode.OutboxFull, reason: 'the outbox is full', retryAfterMs: 2500 };
      },
    });
    const b = body();
    const r = refused(guard.check('order.paid', signed(b)));
    expect(r).toMatchObject({
      code: ErrorCode.OutboxFull,
      retryAfterMs: 2500,
      commandId: b.id,
      commandType: 'order.paid',
    });
    expect(db.prepare('SELECT COUNT(*) AS n FROM seen_commands').get()).toEqual({ n: 0 });
    expect(refused(guard.check('order.paid', signed(b))).retryAfterMs).toBe(2500);
    full = false;
    expect(guard.check('order.paid', signed(b))).toMatchObject({ ok: true, redelivered: false });
    expect(admitted).toEqual([b.id]);
  });

  it('answers a redelivery of an accepted command even while new commands are deferred', () => {
    let full = false;
    const { guard } = setup({
      admit: () => (full ? { code: ErrorCode.OutboxFull, reason: 'full', retryAfterMs: 1000 } : undefined),
    });
    const b = body();
    expect(guard.check('order.paid', signed(b)).ok).toBe(true);
    full = true;
    expect(guard.check('order.paid', signed(b))).toMatchObject({ ok: true, redelivered: true });
    expect(refused(guard.check('order.paid', signed(body()))).code).toBe(ErrorCode.OutboxFull);
  });

  it('refuses a replay of a command whose data was invalid as that, not as accepted', () => {
    const { guard } = setup();
    const b = body({ data: { ...paid, slot: 0 } });
    expect(refused(guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandBodyInvalid);
    expect(refused(guard.check('order.paid', signed(b))).code).toBe(ErrorCode.CommandBodyInvalid);
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

  it('refuses a type named like a member of Object.prototype as unknown, not with a TypeError', () => {
    const { guard } = setup();
    const names = [...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'prototype'];
    expect(names).toContain('constructor');
    for (const type of names) {
      const r = refused(guard.check(type, signed(body({ type }))));
      expect(r, type).toMatchObject({ code: ErrorCode.CommandUnknownType, commandType: type });
    }
  });

  it('refuses any type that is not a command type, whatever its name', () => {
    const { guard } = setup();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ minLength: 1, maxLength: 64 }),
          fc.constantFrom('constructor', 'toString', 'valueOf'),
        ),
        (type) => {
          fc.pre(!Object.hasOwn(CommandSchemas, type));
          const r = guard.check(type, signed(body({ type })));
          expect(refused(r).code).toBe(ErrorCode.CommandUnknownType);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('quotes only a short excerpt of a long value from the wire in a reason', () => {
    const { guard } = setup();
    const longTopic = 'x'.repeat(60 * 1024);
    const r = refused(guard.check(longTopic, signed(body())));
    expect(r.code).toBe(ErrorCode.CommandMisaddressed);
    expect(r.reason.length).toBeLessThanOrEqual(400);
    expect(r.reason).toContain(`(${longTopic.length} chars)`);
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

  it('takes a command of exactly the size the contract states, and refuses one byte more', () => {
    expect(MAX_COMMAND_BYTES).toBe(COMMAND_MAX_PAYLOAD_BYTES);
    expect(SignedCommand.description).toContain(String(COMMAND_MAX_PAYLOAD_BYTES));
    expect(SignedCommand.shape.body.maxLength).toBe(COMMAND_MAX_PAYLOAD_BYTES);
    const { guard } = setup();
    // Pad the signed body with JSON whitespace up to the limit, then one past it.
    const atLimit = (extra: number, b: CommandBody) => {
      const base = JSON.stringify(b);
      const bare = signed(`${base}`).length;
      return signed(`${base}${' '.repeat(COMMAND_MAX_PAYLOAD_BYTES - bare + extra)}`);
    };
    const exactly = atLimit(0, body());
    expect(exactly.length).toBe(COMMAND_MAX_PAYLOAD_BYTES);
    expect(guard.check('order.paid', exactly).ok).toBe(true);
    const over = atLimit(1, body());
    expect(over.length).toBe(COMMAND_MAX_PAYLOAD_BYTES + 1);
    expect(refused(guard.check('order.paid', over)).code).toBe(ErrorCode.PayloadTooLarge);
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
