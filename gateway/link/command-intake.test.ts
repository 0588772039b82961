import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CommandBody } from '../../contract/commands.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  signBody,
  verifyBody,
  verifyBodyAsync,
} from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../../testing/index.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { CommandGuard } from './command-guard.ts';
import { type AcceptedCommand, CommandIntake, type CommandIntakeOptions } from './command-intake.ts';

const platform = generateRawKeyPair();
const attacker = generateRawKeyPair();
const topic = gatewayTopics('gw1').command('order.paid');
const cleanups = cleanupsAfterEach();

let n = 0;
function command(seed = platform.privateKey, id: string = randomUUID()): { id: string; payload: Buffer } {
  n++;
  const now = Date.now();
  const body: CommandBody = {
    id,
    type: 'order.paid',
    gatewayId: 'gw1',
    issuedAt: now - 1000,
    expiresAt: now + 600_000,
    nonce: randomBytes(16).toString('hex'),
    data: {
      orderId: `order-${String(n).padStart(6, '0')}`,
      machineId: 'm1',
      slot: 1,
      price: { amount: 350, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: now + 600_000,
    },
  };
  const text = JSON.stringify(body);
  const sig = signBody(text, privateKeyFromBase64(seed));
  return { id: body.id, payload: Buffer.from(JSON.stringify({ body: text, sig })) };
}

/**
 * An intake on a real store, guard and outbox. `commits` may replace the
 * group commit (a failing one stands for a full disk). The output records
 * what happened to the connection, and whether the command was committed
 * (seen from a second, read-only connection) when its PUBACK was let go.
 */
function setup(
  opts: { groupCommit?: boolean; commits?: (db: Database.Database) => CommandIntakeOptions['commits'] } = {},
) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'vendgate.db');
  const db = openStore({ path });
  const reader = new Database(path, { readonly: true });
  cleanups.push(() => {
    reader.close();
    db.close();
    tmp.cleanup();
  });
  const guard = new CommandGuard(db, {
    gatewayId: 'gw1',
    keys: new Map([['default', publicKeyFromBase64(platform.publicKey)]]),
    maxSkewMs: 30_000,
    maxLifetimeMs: 3600_000,
  });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10_000, telemetryTtlMs: 60_000 });
  const accepted: AcceptedCommand[] = [];
  const redelivered: AcceptedCommand[] = [];
  const verified = { inline: 0, pooled: 0 };
  let decided = 0;
  const committedIds = () =>
    (reader.prepare('SELECT command_id FROM seen_commands').all() as { command_id: string }[]).map(
      (r) => r.command_id,
    );
  const output = {
    corked: 0,
    destroyed: false,
    /** The committed command ids at each uncork. */
    uncorks: [] as string[][],
    cork() {
      output.corked++;
    },
    uncork() {
      output.corked--;
      output.uncorks.push(committedIds());
    },
    destroy() {
      output.destroyed = true;
    },
  };
  const intake = new CommandIntake({
    guard,
    db,
    outbox,
    commits: opts.commits ? opts.commits(db) : opts.groupCommit === false ? undefined : new GroupCommit(db),
    log: silentLogger(),
    accept: (c) => accepted.push(c),
    redelivered: (c) => redelivered.push(c),
    decided: () => decided++,
    verify: {
      inline: (...a) => {
        verified.inline++;
        return verifyBody(...a);
      },
      pooled: (...a) => {
        verified.pooled++;
        return verifyBodyAsync(...a);
      },
    },
  });
  const rejected = () =>
    (
      reader.prepare("SELECT envelope FROM outbox WHERE type = 'command.rejected' ORDER BY seq").all() as {
        envelope: string;
      }[]
    ).map((r) => (JSON.parse(r.envelope) as { data: { code: number; commandId?: string } }).data);
  return { intake, output, accepted, redelivered, verified, decided: () => decided, committedIds, rejected };
}

describe('command intake under group commit', () => {
  it('holds the connection output corked until the command is committed', async () => {
    const s = setup();
    const c = command();
    s.intake.receive(topic, 'order.paid', c.payload, s.output);
    expect(s.output.corked).toBe(1);
    expect(s.committedIds()).toEqual([]);
    await waitUntil(() => s.output.corked === 0, { what: 'the uncork' });
    expect(s.output.uncorks).toEqual([[c.id]]);
    expect(s.accepted.map((a) => a.id)).toEqual([c.id]);
    expect(s.decided()).toBe(1);
  });

  it('lets no PUBACK of a burst go before every command ahead of it is committed', async () => {
    const s = setup();
    const burst = Array.from({ length: 20 }, () => command());
    for (const c of burst) s.intake.receive(topic, 'order.paid', c.payload, s.output);
    await waitUntil(() => s.output.uncorks.length === burst.length, { what: 'every uncork' });
    expect(s.output.corked).toBe(0);
    s.output.uncorks.forEach((committed, i) => {
      expect(committed).toEqual(expect.arrayContaining(burst.slice(0, i + 1).map((c) => c.id)));
    });
  });

  it('checks a lone command inline and the commands behind it in a burst on the thread pool', async () => {
    const s = setup();
    s.intake.receive(topic, 'order.paid', command().payload, s.output);
    await waitUntil(() => s.accepted.length === 1, { what: 'the lone command' });
    expect(s.verified).toEqual({ inline: 1, pooled: 0 });
    for (let i = 0; i < 4; i++) s.intake.receive(topic, 'order.paid', command().payload, s.output);
    await waitUntil(() => s.accepted.length === 5, { what: 'the burst' });
    expect(s.verified).toEqual({ inline: 2, pooled: 3 });
  });

  it('decides in arrival order even when later signatures verify first: the first copy wins, its replay is refused', async () => {
    const s = setup();
    const first = command();
    // A replay: the first command's id over other bytes.
    const replay = command(platform.privateKey, first.id);
    const forged = command(attacker.privateKey);
    const rest = Array.from({ length: 10 }, () => command());
    s.intake.receive(topic, 'order.paid', first.payload, s.output);
    s.intake.receive(topic, 'order.paid', replay.payload, s.output);
    s.intake.receive(topic, 'order.paid', forged.payload, s.output);
    for (const c of rest) s.intake.receive(topic, 'order.paid', c.payload, s.output);
    await waitUntil(() => s.decided() === 13, { what: 'every command decided' });
    expect(s.accepted.map((a) => a.id)).toEqual([first.id, ...rest.map((c) => c.id)]);
    expect(s.rejected().map((r) => r.code)).toEqual([
      ErrorCode.CommandReplayed,
      ErrorCode.CommandSignatureInvalid,
    ]);
    expect(s.rejected()[0]?.commandId).toBe(first.id);
  });

  it('drops the connection before the held PUBACK when the commit fails, and records nothing', async () => {
    const s = setup({
      commits: () => ({
        run: () => Promise.reject(new Error('disk I/O error (simulated)')),
      }),
    });
    const c = command();
    s.intake.receive(topic, 'order.paid', c.payload, s.output);
    await waitUntil(() => s.output.destroyed, { what: 'the connection dropped' });
    expect(s.output.corked).toBe(0);
    expect(s.committedIds()).toEqual([]);
    expect(s.decided()).toBe(0);
  });

  it('keeps deciding the commands after a refused one, on the same connection', async () => {
    const s = setup();
    const c1 = command();
    s.intake.receive(topic, 'order.paid', Buffer.from('not json'), s.output);
    s.intake.receive(topic, 'order.paid', c1.payload, s.output);
    await waitUntil(() => s.decided() === 2, { what: 'both decided' });
    expect(s.accepted.map((a) => a.id)).toEqual([c1.id]);
    expect(s.rejected().map((r) => r.code)).toEqual([ErrorCode.PayloadNotJson]);
    expect(s.output.destroyed).toBe(false);
  });
});

describe('command intake without group commit', () => {
  it('decides and commits a command before receive returns', () => {
    const s = setup({ groupCommit: false });
    const c = command();
    s.intake.receive(topic, 'order.paid', c.payload, s.output);
    expect(s.committedIds()).toEqual([c.id]);
    expect(s.accepted.map((a) => a.id)).toEqual([c.id]);
    expect(s.output.corked).toBe(0);
    expect(s.decided()).toBe(1);
  });

  it('hands an identical copy of an accepted command to be answered, neither accepted again nor refused', () => {
    const s = setup({ groupCommit: false });
    const c = command();
    s.intake.receive(topic, 'order.paid', c.payload, undefined);
    s.intake.receive(topic, 'order.paid', c.payload, undefined);
    expect(s.accepted.map((a) => a.id)).toEqual([c.id]);
    expect(s.redelivered.map((a) => a.id)).toEqual([c.id]);
    expect(s.rejected()).toEqual([]);
  });

  it('queues a command.rejected event for a refused command, naming the topic and the reason', () => {
    const s = setup({ groupCommit: false });
    s.intake.receive(topic, 'order.paid', command(attacker.privateKey).payload, undefined);
    expect(s.accepted).toEqual([]);
    expect(s.rejected()).toEqual([
      expect.objectContaining({ topic, code: ErrorCode.CommandSignatureInvalid, reason: expect.any(String) }),
    ]);
  });
});
