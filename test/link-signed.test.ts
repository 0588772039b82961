import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair, publicKeyFromBase64 } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { CommandGuard } from '../gateway/link/command-guard.ts';
import { ephemeralGatewayKey, type GatewayKey } from '../gateway/link/gateway-key.ts';
import { PlatformLink } from '../gateway/link/link.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { cleanupsAfterEach, expectVendgateError, freePort, tempDir, waitUntil } from '../testing/index.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();
const platformKeys = generateRawKeyPair();

/** A wall clock a test can step (as NTP or a boot without RTC does); the monotonic one is the system's. */
class SteppableClock implements Clock {
  offsetMs = 0;
  wallMs(): number {
    return Date.now() + this.offsetMs;
  }
  monoMs(): number {
    return systemClock.monoMs();
  }
}

interface Site {
  broker: EmbeddedBroker;
  gatewayId: string;
  db: Db;
  outbox: Outbox;
  link: PlatformLink;
  gatewayKey: GatewayKey;
  append(n: number): void;
  platform(opts?: Partial<ConstructorParameters<typeof SimPlatform>[0]>): Promise<SimPlatform>;
}

async function site(
  opts: { resendAfterMs?: number; clock?: Clock; gatewayKey?: GatewayKey } = {},
): Promise<Site> {
  const broker = await startEmbeddedBroker({ port: await freePort(), log });
  cleanups.push(() => broker.close());
  const gatewayId = `gw-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'vendgate.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const outbox = new Outbox(db, { gatewayId, maxRows: 100_000, telemetryTtlMs: 60_000 });
  const gatewayKey = opts.gatewayKey ?? ephemeralGatewayKey();
  const link = new PlatformLink({
    brokerUrl: broker.url,
    gatewayId,
    outbox,
    guard: new CommandGuard(db, {
      gatewayId,
      keys: new Map([['default', publicKeyFromBase64(platformKeys.publicKey)]]),
      maxSkewMs: 30_000,
      maxLifetimeMs: 3600_000,
    }),
    db,
    log,
    gatewayKey,
    status: () => ({ version: 'test' }),
    resendAfterMs: opts.resendAfterMs ?? 500,
    statusEveryMs: 50,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  link.start();
  cleanups.push(() => link.stop());
  await waitUntil(() => link.connected, { timeoutMs: 5000, what: 'link connected' });
  let n = 0;
  return {
    broker,
    gatewayId,
    db,
    outbox,
    link,
    gatewayKey,
    append(count) {
      db.transaction(() => {
        for (let i = 0; i < count; i++) {
          n++;
          outbox.append('order.state', { orderId: `order-state-${n}`, state: 'received', duplicate: false });
        }
      })();
      link.notify();
    },
    async platform(extra = {}) {
      const p = new SimPlatform({
        brokerUrl: broker.url,
        gatewayId,
        privateKey: platformKeys.privateKey,
        gatewayPublicKey: gatewayKey.publicKey,
        ackIntervalMs: 10,
        ...extra,
      });
      await p.connect();
      cleanups.push(() => p.close());
      return p;
    },
  };
}

/** Another local client of the broker, as any process on the box could be. */
async function intruder(url: string) {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the signed platform link, on aedes over loopback', () => {
  it('a forged ack deletes nothing from the outbox', async () => {
    const s = await site();
    const p = await s.platform();
    p.acking = false;
    s.append(5);
    await waitUntil(() => p.events.length === 5, { timeoutMs: 5000, what: 'five events' });
    const c = await intruder(s.broker.url);
    const ack = gatewayTopics(s.gatewayId).ack;
    await c.publishAsync(ack, JSON.stringify({ upTo: 2147483647 }), { qos: 1 });
    // Validly shaped and signed, but with a key the gateway does not trust.
    await c.publishAsync(ack, p.signAck(5, {}, generateRawKeyPair().privateKey), { qos: 1 });
    // Signed by the platform, but for another gateway.
    await c.publishAsync(ack, p.signAck(5, { gatewayId: 'another-gateway' }), { qos: 1 });
    await waitUntil(() => s.link.refusedAcks === 3, { timeoutMs: 5000, what: 'three refused acks' });
    expect(s.outbox.stats().pending).toBe(5);
    expect(s.link.ackedSeq).toBe(0);
  });

  it('a signed ack beyond the last published seq is refused, not clamped, and deletes nothing', async () => {
    const s = await site();
    const p = await s.platform();
    p.acking = false;
    s.append(3);
    await waitUntil(() => p.events.length === 3, { timeoutMs: 5000, what: 'three events' });
    await p.publishAck(p.signAck(2147483647));
    await waitUntil(() => s.link.refusedAcks === 1, { timeoutMs: 5000, what: 'the refusal' });
    expect(s.outbox.stats().pending).toBe(3);
    p.acking = true;
    await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 5000, what: 'the real ack' });
    expect(s.link.ackedSeq).toBe(3);
  });

  it('a response signed for another request is refused and the request waits for its real answer', async () => {
    const s = await site();
    const p = await s.platform();
    const seen: Array<{ correlationId: string }> = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    p.onRequest('order.create', async (_data, ctx) => {
      seen.push(ctx);
      if (seen.length === 2) await held;
      return { orderId: `order-${seen.length}00000`, paymentUrl: `https://pay.example/${seen.length}` };
    });
    const first = await s.link.request('order.create', { slot: 1 }, 5000);
    expect(first).toMatchObject({ orderId: 'order-100000' });
    const second = s.link.request('order.create', { slot: 2 }, 5000);
    await waitUntil(() => seen.length === 2, { timeoutMs: 5000, what: 'the second request' });
    // The first answer, re-signed with the second request's correlation id: it is bound to the first request's body.
    await p.publishResponse('order.create', {
      correlationId: seen[1]!.correlationId,
      requestSha256: '0'.repeat(64),
      data: { orderId: 'order-evil00', paymentUrl: 'https://evil.example/qr' },
    });
    // Unsigned, as any local client could publish it.
    const c = await intruder(s.broker.url);
    await c.publishAsync(
      gatewayTopics(s.gatewayId).response('order.create'),
      JSON.stringify({
        correlationId: seen[1]!.correlationId,
        data: { paymentUrl: 'https://evil.example/qr' },
      }),
      { qos: 1 },
    );
    await pause(200);
    release();
    await expect(second).resolves.toMatchObject({
      orderId: 'order-200000',
      paymentUrl: 'https://pay.example/2',
    });
  });

  it('a request nobody answers genuinely times out even when forged answers arrive', async () => {
    const s = await site();
    const p = await s.platform();
    p.onRequest('order.create', async (_d, ctx) => {
      await p.publishResponse(
        'order.create',
        {
          correlationId: ctx.correlationId,
          data: 'forged',
        },
        generateRawKeyPair().privateKey,
      );
      await pause(10_000);
    });
    await expectVendgateError(s.link.request('order.create', {}, 500), ErrorCode.RequestTimeout);
  });

  it('a platform learns where to resume from the status watermark', async () => {
    const s = await site();
    const first = await s.platform();
    s.append(50);
    await waitUntil(() => s.link.ackedSeq === 50, { timeoutMs: 5000, what: 'fifty acknowledged' });
    await first.close();
    s.append(10);
    // The retained status catches up with the watermark.
    await pause(200);
    const fresh = await s.platform({ adoptFirstSeq: true });
    await waitUntil(() => fresh.lastStatus !== undefined, { timeoutMs: 5000, what: 'the retained status' });
    expect(fresh.lastStatus).toMatchObject({ state: 'online', ackedSeq: 50 });
    // lastSeq is as of the status' issuedAt: never behind the watermark.
    expect(fresh.lastStatus?.lastSeq).toBeGreaterThanOrEqual(50);
    expect(fresh.lastStatus?.eventKey).toEqual({
      alg: 'Ed25519',
      keyId: s.gatewayKey.keyId,
      publicKey: s.gatewayKey.publicKey,
    });
    await waitUntil(() => s.outbox.stats().pending === 0, {
      timeoutMs: 10_000,
      what: 'the resend acknowledged',
    });
    expect(fresh.events.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 51 + i));
    expect(fresh.seqGaps()).toEqual([]);
  });

  it('the simulated platform refuses events signed by a key it did not pin, and the outbox keeps them', async () => {
    const s = await site();
    const p = await s.platform({ gatewayPublicKey: ephemeralGatewayKey().publicKey });
    s.append(3);
    await waitUntil(() => p.invalidEvents >= 3, { timeoutMs: 5000, what: 'three refused events' });
    expect(p.events).toEqual([]);
    expect(s.outbox.stats().pending).toBe(3);
  });

  it('resends on time after the wall clock steps back 3 minutes', async () => {
    const clock = new SteppableClock();
    const s = await site({ resendAfterMs: 300, clock });
    const p = await s.platform();
    p.acking = false;
    s.append(2);
    await waitUntil(() => p.events.length === 2, { timeoutMs: 5000, what: 'two events' });
    clock.offsetMs = -180_000;
    const t0 = performance.now();
    await waitUntil(() => p.duplicateDeliveries >= 2, { timeoutMs: 5000, what: 'a resend' });
    // Not 3 minutes: the resend timer reads the monotonic clock.
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('carries at most 256 unacknowledged events per round from a large backlog, and drains it once acks flow', async () => {
    const s = await site({ resendAfterMs: 400 });
    const p = await s.platform();
    p.acking = false;
    s.append(5000);
    await waitUntil(() => p.events.length === 256, { timeoutMs: 10_000, what: 'the first window' });
    await waitUntil(() => p.duplicateDeliveries >= 256, { timeoutMs: 10_000, what: 'one resend round' });
    // Each resend round starts again from the last ack and stops after the window: nothing past seq 256 went out.
    expect(p.events.length).toBe(256);
    expect(Math.max(...p.events.map((e) => e.seq))).toBe(256);
    p.acking = true;
    await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 60_000, what: 'the backlog drained' });
    expect(p.seqGaps()).toEqual([]);
    expect(p.events).toHaveLength(5000);
  });
});
