import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttOver } from '../../contract/mqtt-client.ts';
import { generateRawKeyPair, publicKeyFromBase64 } from '../../contract/signing.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { type PaidOrder, SimPlatform } from '../../firmware-sim/platform/platform.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { CommandGuard } from '../../gateway/link/command-guard.ts';
import { type AcceptedCommand, PlatformLink } from '../../gateway/link/link.ts';
import { Outbox } from '../../gateway/outbox/outbox.ts';
import { openStore } from '../../gateway/store/db.ts';
import { GroupCommit } from '../../gateway/store/group-commit.ts';
import { cleanupsAfterEach, freePort, tempDir, waitUntil } from '../../testing/index.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();

let n = 0;
function paid(): PaidOrder {
  n++;
  return {
    orderId: `order-${n}`,
    machineId: 'm1',
    slot: 1,
    price: { amount: 350, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: Date.now() + 600_000,
  };
}

/**
 * A link that decides commands under group commit, on the embedded broker,
 * reached in-process or over loopback TCP. `commits` can be swapped for a
 * fake that fails, as a full disk would.
 */
async function site(opts: {
  inProcess: boolean;
  commits?: (real: GroupCommit, db: Database.Database) => Pick<GroupCommit, 'run'>;
  commandEventsDelayMs?: number;
}) {
  const gatewayId = `gw-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = tempDir();
  const path = join(tmp.dir, 'vendgate.db');
  const db = openStore({ path });
  // A second connection sees only what has been committed.
  const reader = new Database(path, { readonly: true });
  cleanups.push(() => {
    reader.close();
    db.close();
    tmp.cleanup();
  });
  const broker: EmbeddedBroker = await startEmbeddedBroker({ port: await freePort(), log });
  cleanups.push(() => broker.close());
  const keys = generateRawKeyPair();
  const guard = new CommandGuard(db, {
    gatewayId,
    keys: new Map([['default', publicKeyFromBase64(keys.publicKey)]]),
    maxSkewMs: 30_000,
    maxLifetimeMs: 3600_000,
  });
  const outbox = new Outbox(db, { gatewayId, maxRows: 10_000, telemetryTtlMs: 60_000 });
  const real = new GroupCommit(db);
  const link = new PlatformLink({
    brokerUrl: broker.url,
    ...(opts.inProcess
      ? { connect: (o: IClientOptions) => connectMqttOver(() => broker.openInProcess(), o) }
      : {}),
    gatewayId,
    outbox,
    guard,
    db,
    commits: opts.commits ? opts.commits(real, db) : real,
    log,
    status: () => ({}),
    reconnectMinMs: 50,
    ...(opts.commandEventsDelayMs !== undefined ? { commandEventsDelayMs: opts.commandEventsDelayMs } : {}),
  });
  const commands: AcceptedCommand[] = [];
  link.on('command', (c) => commands.push(c));
  const platform = new SimPlatform({ brokerUrl: broker.url, gatewayId, privateKey: keys.privateKey });
  await platform.connect();
  cleanups.push(() => platform.close());
  link.start();
  cleanups.push(() => link.stop());
  await waitUntil(() => link.connected, { timeoutMs: 5000, what: 'link connected' });
  const committed = (commandId: string) =>
    reader.prepare('SELECT 1 FROM seen_commands WHERE command_id = ?').get(commandId) !== undefined;
  return { broker, link, platform, commands, committed, outbox };
}

/** The command id inside a cmd/ publish, as the broker saw it acknowledged. */
function commandIdOf(packet: { topic?: string; payload?: Buffer | string } | undefined): string | undefined {
  if (!packet?.topic?.includes('/cmd/')) return undefined;
  const signed = JSON.parse(String(packet.payload)) as { body: string };
  return (JSON.parse(signed.body) as { id: string }).id;
}

describe.each([
  ['in-process', true],
  ['over loopback TCP', false],
])('a burst of commands under group commit, link %s', (_name, inProcess) => {
  it('acknowledges no command to the broker before it is committed to the store', async () => {
    const s = await site({ inProcess });
    const acked: Array<{ id: string; committed: boolean }> = [];
    // aedes emits 'ack' when a subscriber's PUBACK arrives; it is not in its typings.
    (s.broker.aedes as unknown as NodeJS.EventEmitter).on(
      'ack',
      (packet: { topic?: string; payload?: Buffer } | undefined) => {
        const id = commandIdOf(packet);
        if (id) acked.push({ id, committed: s.committed(id) });
      },
    );
    const sent = await Promise.all(Array.from({ length: 60 }, () => s.platform.placeOrder(paid())));
    await waitUntil(() => acked.length === sent.length, {
      timeoutMs: 5000,
      what: 'every command acknowledged',
    });
    expect(acked.filter((a) => !a.committed)).toEqual([]);
    expect(new Set(acked.map((a) => a.id))).toEqual(new Set(sent.map((c) => c.id)));
    expect(s.commands).toHaveLength(60);
  });
});

describe('commands whose signatures are checked off the event loop', () => {
  it('are still decided in the order they arrived: the first copy wins, replays and forgeries are refused', async () => {
    const s = await site({ inProcess: true });
    const first = s.platform.buildCommand('order.paid', paid());
    // A replay: the first command's id over another body.
    const replay = s.platform.buildCommand('order.paid', paid(), { id: first.id });
    const orders = Array.from({ length: 40 }, () => s.platform.buildCommand('order.paid', paid()));
    // One burst: a command, its replay, a forged one, then many more.
    await Promise.all([
      s.platform.replay(first),
      s.platform.replay(replay),
      s.platform.sendForged('order.paid', paid()),
      ...orders.map((c) => s.platform.replay(c)),
    ]);
    await waitUntil(() => s.platform.eventsOfType('command.rejected').length === 2, {
      timeoutMs: 5000,
      what: 'two refusals',
    });
    await waitUntil(() => s.commands.length === 41, {
      timeoutMs: 5000,
      what: 'every valid command accepted',
    });
    expect(s.commands.map((c) => c.id)).toEqual([first.id, ...orders.map((c) => c.id)]);
    const reasons = s.platform
      .eventsOfType('command.rejected')
      .map((e) => (e.data as { code: number }).code)
      .sort();
    expect(reasons).toEqual([ErrorCode.CommandSignatureInvalid, ErrorCode.CommandReplayed].sort());
  });
});

describe('a command whose commit fails', () => {
  it('is not acknowledged: the link reconnects, the broker delivers it again and it is recorded once', async () => {
    let failures = 1;
    const s = await site({
      inProcess: true,
      commits: (real, db) => ({
        run<T>(work: () => T): Promise<T> {
          if (failures-- <= 0) return real.run(work);
          // As a failed COMMIT: the work ran, then everything rolled back.
          try {
            db.transaction(() => {
              work();
              throw new Error('disk I/O error (simulated)');
            })();
          } catch (err) {
            return Promise.reject(err);
          }
          return Promise.reject(new Error('unreachable'));
        },
      }),
    });
    const cmd = await s.platform.placeOrder(paid());
    await waitUntil(() => s.committed(cmd.id), {
      timeoutMs: 5000,
      what: 'the redelivered command committed',
    });
    // Decided twice (the first decision rolled back), recorded once.
    expect(s.commands.map((c) => c.id)).toEqual([cmd.id, cmd.id]);
    expect(s.platform.eventsOfType('command.rejected')).toEqual([]);
  });
});

describe('events queued by a command', () => {
  it('wait for the next drain instead of going out with the commit', async () => {
    const s = await site({ inProcess: true, commandEventsDelayMs: 60_000 });
    await s.platform.sendForged('order.paid', paid());
    await waitUntil(() => s.outbox.stats().pending === 1, { timeoutMs: 5000, what: 'the refusal queued' });
    // Committed, and no drain since: the refusal is still on the gateway.
    await new Promise((r) => setTimeout(r, 200));
    expect(s.platform.eventsOfType('command.rejected')).toEqual([]);
    s.link.notify(); // as a vend outcome does
    await waitUntil(() => s.platform.eventsOfType('command.rejected').length === 1, {
      timeoutMs: 5000,
      what: 'the refusal published',
    });
    expect(s.platform.eventsOfType('command.rejected')[0]?.data).toMatchObject({
      code: ErrorCode.CommandSignatureInvalid,
    });
  });

  it('go out on their own after the delay when nothing else drains', async () => {
    const s = await site({ inProcess: true, commandEventsDelayMs: 20 });
    await s.platform.sendForged('order.paid', paid());
    await waitUntil(() => s.platform.eventsOfType('command.rejected').length === 1, {
      timeoutMs: 5000,
      what: 'the refusal published',
    });
  });
});
