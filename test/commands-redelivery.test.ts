import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair, publicKeyFromBase64 } from '../contract/signing.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { type PaidOrder, SimPlatform } from '../firmware-sim/platform/platform.ts';
import { startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { CommandRouter } from '../gateway/commands/router.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { CommandGuard } from '../gateway/link/command-guard.ts';
import { type AcceptedCommand, PlatformLink } from '../gateway/link/link.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { openStore } from '../gateway/store/db.ts';
import { GroupCommit } from '../gateway/store/group-commit.ts';
import { cleanupsAfterEach, FakeMachine, freePort, tempDir, waitUntil } from '../testing/index.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();

/**
 * A loopback TCP proxy between the gateway and the broker that can hold
 * back what the gateway sends (its PUBACKs among it) and then cut the
 * connection, so the broker never learns a command arrived and delivers
 * it again on the next connect (MQTT 3.1.1 section 4.4).
 */
async function holdingProxy(port: number) {
  const pairs = new Set<[Socket, Socket]>();
  let holding = false;
  const server = createServer({ noDelay: true }, (inbound) => {
    const outbound = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.on('data', (chunk) => {
      if (!holding) outbound.write(chunk);
    });
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const proxyPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `mqtt://127.0.0.1:${proxyPort}`,
    /** From now on, nothing the gateway sends reaches the broker. */
    hold() {
      holding = true;
    },
    /** Drops every connection, what was held with it; later connections pass freely. */
    cut() {
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
      holding = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let n = 0;
function order(): PaidOrder {
  n++;
  return {
    orderId: `redeliver-${n}`,
    machineId: 'm1',
    slot: 1,
    price: { amount: 350, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: Date.now() + 600_000,
  };
}

/** The gateway's command path on real parts: aedes over loopback TCP, the store on disk, group commit. */
async function site() {
  const gatewayId = `gw-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'vendgate.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const broker = await startEmbeddedBroker({ port: await freePort(), log });
  cleanups.push(() => broker.close());
  const proxy = await holdingProxy(broker.port);
  cleanups.push(() => proxy.close());
  const keys = generateRawKeyPair();
  const outbox = new Outbox(db, { gatewayId, maxRows: 10_000, telemetryTtlMs: 60_000 });
  const ledger = new OrderLedger({
    db,
    outbox,
    catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
  });
  const machine = new FakeMachine('m1');
  const runner = new VendRunner({ ledger, machines: new Map([['m1', machine]]), log });
  cleanups.push(() => runner.stop());
  let router: CommandRouter | undefined;
  const link = new PlatformLink({
    brokerUrl: proxy.url,
    gatewayId,
    outbox,
    guard: new CommandGuard(db, {
      gatewayId,
      keys: new Map([['default', publicKeyFromBase64(keys.publicKey)]]),
      maxSkewMs: 30_000,
      maxLifetimeMs: 3600_000,
      admit: (c) => router?.admit(c),
    }),
    db,
    commits: new GroupCommit(db),
    log,
    status: () => ({}),
    reconnectMinMs: 50,
    resendAfterMs: 300,
  });
  router = new CommandRouter({
    link,
    coupons: { applyCommand: async () => ({ ok: true }) as never },
    cashless: { owns: () => false, onPaid: () => {} },
    ledger,
    runner,
    outbox,
    log,
  });
  router.start();
  cleanups.push(() => router?.stop());
  const redelivered: AcceptedCommand[] = [];
  link.on('redelivered', (c) => redelivered.push(c));
  const platform = new SimPlatform({ brokerUrl: broker.url, gatewayId, privateKey: keys.privateKey });
  await platform.connect();
  cleanups.push(() => platform.close());
  link.start();
  cleanups.push(() => link.stop());
  await waitUntil(() => link.connected, { timeoutMs: 5000, what: 'link connected' });
  const dataOf = (type: string) => platform.eventsOfType(type).map((e) => e.data as Record<string, unknown>);
  return { link, ledger, machine, platform, proxy, redelivered, dataOf };
}

describe('an accepted paid order that arrives again', () => {
  it('a QoS 1 redelivery of an accepted order is answered with its state, not as a replay', async () => {
    const s = await site();
    const o = order();
    // The gateway records the order, but its PUBACK never reaches the broker.
    s.proxy.hold();
    await s.platform.placeOrder(o);
    await waitUntil(() => s.ledger.get(o.orderId) !== undefined, { timeoutMs: 5000, what: 'order recorded' });
    s.proxy.cut();
    // On reconnect the broker delivers the unacknowledged command again.
    await waitUntil(() => s.redelivered.length === 1, { timeoutMs: 10_000, what: 'the broker redelivery' });
    await waitUntil(() => s.dataOf('order.state').length === 1, {
      timeoutMs: 10_000,
      what: 'the state answer',
    });

    expect(s.redelivered[0]).toMatchObject({ type: 'order.paid', data: { orderId: o.orderId } });
    expect(s.dataOf('order.state')[0]).toMatchObject({ orderId: o.orderId, duplicate: true });
    expect(s.dataOf('command.rejected')).toEqual([]);
    await waitUntil(() => s.ledger.get(o.orderId)?.state === 'dispensed', { what: 'dispensed' });
    expect(s.machine.dispensedCount).toBe(1);
  });

  it('a platform retry of the same signed bytes is answered with the order state, never dispensed twice', async () => {
    const s = await site();
    const o = order();
    const cmd = await s.platform.placeOrder(o);
    await waitUntil(() => s.ledger.get(o.orderId)?.state === 'dispensed', {
      timeoutMs: 5000,
      what: 'dispensed',
    });
    await s.platform.replay(cmd);
    await s.platform.replay(cmd);
    await waitUntil(() => s.dataOf('order.state').length === 2, {
      timeoutMs: 5000,
      what: 'two state answers',
    });
    expect(s.dataOf('order.state')).toEqual([
      { orderId: o.orderId, state: 'dispensed', duplicate: true },
      { orderId: o.orderId, state: 'dispensed', duplicate: true },
    ]);
    expect(s.dataOf('command.rejected')).toEqual([]);
    expect(s.machine.dispensedCount).toBe(1);
  });

  it('a different body under a used command id or nonce is still refused as a replay', async () => {
    const s = await site();
    const first = order();
    const cmd = await s.platform.placeOrder(first);
    await waitUntil(() => s.ledger.get(first.orderId) !== undefined, {
      timeoutMs: 5000,
      what: 'order recorded',
    });
    const other = order();
    await s.platform.sendCommand('order.paid', other, { id: cmd.id });
    await s.platform.sendCommand('order.paid', other, { nonce: cmd.body.nonce });
    await waitUntil(() => s.dataOf('command.rejected').length === 2, {
      timeoutMs: 5000,
      what: 'two refusals',
    });
    expect(s.dataOf('command.rejected').map((r) => r.code)).toEqual([
      ErrorCode.CommandReplayed,
      ErrorCode.CommandReplayed,
    ]);
    expect(s.ledger.get(other.orderId)).toBeUndefined();
    expect(s.dataOf('order.state')).toEqual([]);
  });
});
