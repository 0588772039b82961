import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { SignedCommand } from '../../contract/commands.ts';
import { sealEventBatch } from '../../contract/event-batch.ts';
import { requestDigest, sealBody } from '../../contract/signed.ts';
import { generateRawKeyPair, publicKeyFromBase64, verifyBody } from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { silentLogger } from '../../core/log.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { ephemeralGatewayKey } from '../../gateway/link/gateway-key.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { waitUntil } from '../../testing/wait.ts';
import { SimPlatform } from './platform.ts';

const log = silentLogger();
const keys = generateRawKeyPair();
const gatewayKey = ephemeralGatewayKey();
const cleanups = cleanupsAfterEach();
/** What the gateway publishes: the JSON text signed with its key. */
const signed = (body: unknown, key = gatewayKey) => sealBody(JSON.stringify(body), key.privateKey, key.keyId);
/** The body of a message the platform signed, after checking the signature. */
function opened(payload: Buffer): Record<string, unknown> {
  const s = SignedCommand.parse(JSON.parse(payload.toString()));
  if (!verifyBody(s.body, s.sig, publicKeyFromBase64(keys.publicKey)))
    throw new Error('not signed by the platform');
  return JSON.parse(s.body) as Record<string, unknown>;
}

async function setup(
  gatewayId = 'gw-sim',
  onEvent?: (e: { seq: number; type: string }) => void,
): Promise<{
  broker: EmbeddedBroker;
  platform: SimPlatform;
  gw: MqttClient;
  acks: number[];
  commands: Array<{ topic: string; payload: string }>;
  emit: (seq: number, type: string, data: unknown) => Promise<void>;
}> {
  const broker = await startEmbeddedBroker({ port: 0, log });
  cleanups.push(() => broker.close());
  const platform = new SimPlatform({
    brokerUrl: broker.url,
    gatewayId,
    privateKey: keys.privateKey,
    gatewayPublicKey: gatewayKey.publicKey,
    ackIntervalMs: 10,
    ...(onEvent ? { onEvent } : {}),
  });
  await platform.connect();
  cleanups.push(() => platform.close());
  // A bare MQTT client stands in for the gateway.
  const gw = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  cleanups.push(() => gw.endAsync(true));
  const t = gatewayTopics(gatewayId);
  const acks: number[] = [];
  const commands: Array<{ topic: string; payload: string }> = [];
  gw.on('message', (topic, payload) => {
    if (topic === t.ack) acks.push(opened(payload).upTo as number);
    else commands.push({ topic, payload: payload.toString() });
  });
  await gw.subscribeAsync([t.ack, t.commandWildcard], { qos: 1 });
  const emit = async (seq: number, type: string, data: unknown) => {
    const env = { id: randomUUID(), seq, gatewayId, ts: Date.now(), type, data };
    await gw.publishAsync(t.event(type), signed(env), { qos: 1 });
  };
  return { broker, platform, gw, acks, commands, emit };
}

const state = (n: number) => ({ orderId: `order-${1000 + n}`, state: 'received', duplicate: false });

describe('the simulated platform', () => {
  it('stores events once by seq, counts resends, and acks the highest contiguous seq', async () => {
    const { platform, acks, emit } = await setup();
    await emit(1, 'order.state', state(1));
    await emit(2, 'order.state', state(2));
    await emit(4, 'order.state', state(4));
    await waitUntil(() => acks.at(-1) === 2, { timeoutMs: 2000, what: 'ack 2' });
    expect(platform.seqGaps()).toEqual([3]);
    await emit(2, 'order.state', state(2)); // a resend
    await emit(3, 'order.state', state(3));
    await waitUntil(() => acks.at(-1) === 4, { timeoutMs: 2000, what: 'ack 4' });
    expect(platform.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(platform.duplicateDeliveries).toBe(1);
    expect(platform.seqGaps()).toEqual([]);
  });

  it('hands every new event to onEvent once, and not its redeliveries', async () => {
    const seen: string[] = [];
    const { platform, emit } = await setup('gw-sim', (e) => seen.push(`${e.seq}:${e.type}`));
    await emit(1, 'order.state', state(1));
    await emit(1, 'order.state', state(1)); // a resend
    await emit(2, 'vend.succeeded', {
      orderId: 'order-1001',
      machineId: 'm1',
      slot: 1,
      price: { amount: 350, currency: 'CNY' },
    });
    await waitUntil(() => platform.duplicateDeliveries === 1 && seen.length === 2, {
      timeoutMs: 2000,
      what: 'both events',
    });
    expect(seen).toEqual(['1:order.state', '2:vend.succeeded']);
  });

  it('treats seqs reported in outbox.dropped as accounted for', async () => {
    const { platform, acks, emit } = await setup();
    await emit(1, 'order.state', state(1));
    await emit(4, 'outbox.dropped', {
      cause: 'bound',
      count: 2,
      seqs: [2, 3],
      totalDropped: 2,
      totalExpired: 0,
    });
    await waitUntil(() => acks.at(-1) === 4, { timeoutMs: 2000, what: 'ack 4' });
    expect(platform.seqGaps()).toEqual([]);
  });

  it('counts refunds and vends per order', async () => {
    const { platform, emit } = await setup();
    const price = { amount: 350, currency: 'CNY' };
    await emit(1, 'vend.succeeded', { orderId: 'order-0001', machineId: 'm1', slot: 1, price });
    await emit(2, 'refund.requested', { orderId: 'order-0002', refund: price, code: 6101, reason: 'jammed' });
    await emit(2, 'refund.requested', { orderId: 'order-0002', refund: price, code: 6101, reason: 'jammed' });
    await waitUntil(() => platform.contiguousSeq === 2, { timeoutMs: 2000 });
    expect(platform.vends).toEqual(new Map([['order-0001', 1]]));
    expect(platform.refunds).toEqual(new Map([['order-0002', 1]]));
    expect(platform.eventsOfType('refund.requested')).toHaveLength(1);
  });

  it('signs every order.paid with a fresh command id and nonce, even for the same order', async () => {
    const { platform, commands } = await setup();
    const order = {
      orderId: 'order-0003',
      machineId: 'm1',
      slot: 2,
      price: { amount: 200, currency: 'CNY' },
      provider: 'alipay',
      expiresAt: Date.now() + 60_000,
    };
    const a = await platform.placeOrder(order);
    const b = await platform.placeOrder(order, { issuedAt: Date.now() - 5000 });
    await waitUntil(() => commands.length === 2, { timeoutMs: 2000 });
    expect(a.id).not.toBe(b.id);
    expect(a.body.nonce).not.toBe(b.body.nonce);
    expect(b.body.issuedAt).toBeLessThan(a.body.issuedAt);
    for (const c of commands) {
      expect(c.topic).toBe(gatewayTopics('gw-sim').command('order.paid'));
      const signed = SignedCommand.parse(JSON.parse(c.payload));
      expect(verifyBody(signed.body, signed.sig, publicKeyFromBase64(keys.publicKey))).toBe(true);
      expect(JSON.parse(signed.body).data).toEqual(order);
    }
  });

  it('answers requests through the registered handler', async () => {
    const { platform, gw } = await setup();
    const t = gatewayTopics('gw-sim');
    platform.onRequest('order.create', (data) => ({ orderId: 'order-9999', got: data }));
    const res = new Promise<unknown>((resolve) => {
      gw.on('message', (topic, payload) => {
        if (topic === t.response('order.create')) resolve(opened(payload));
      });
    });
    await gw.subscribeAsync(t.responseWildcard, { qos: 1 });
    const now = Date.now();
    const request = {
      correlationId: 'corr-0001',
      type: 'order.create',
      gatewayId: 'gw-sim',
      issuedAt: now,
      expiresAt: now + 5000,
      data: { slot: 3 },
    };
    // Unsigned, then signed by another key: both refused, neither answered.
    await gw.publishAsync(t.request('order.create'), JSON.stringify(request), { qos: 1 });
    await gw.publishAsync(t.request('order.create'), signed(request, ephemeralGatewayKey()), { qos: 1 });
    await gw.publishAsync(t.request('order.create'), signed(request), { qos: 1 });
    expect(await res).toMatchObject({
      correlationId: 'corr-0001',
      type: 'order.create',
      gatewayId: 'gw-sim',
      requestSha256: requestDigest(JSON.stringify(request)),
      keyId: 'default',
      data: { orderId: 'order-9999', got: { slot: 3 } },
    });
    expect(platform.refusedMessages).toBe(2);
  });

  it('refuses unsigned events and events signed by any key but the gateway one, and acks none of them', async () => {
    const { platform, gw, acks, emit } = await setup();
    const t = gatewayTopics('gw-sim');
    const env = (seq: number) => ({
      id: randomUUID(),
      seq,
      gatewayId: 'gw-sim',
      ts: Date.now(),
      type: 'order.state',
      data: state(seq),
    });
    await gw.publishAsync(t.event('order.state'), JSON.stringify(env(1)), { qos: 1 });
    await gw.publishAsync(t.event('order.state'), signed(env(1), ephemeralGatewayKey()), { qos: 1 });
    const forged = JSON.parse(signed(env(1))) as { body: string; sig: string; keyId: string };
    forged.body = forged.body.replace('"seq":1', '"seq":2');
    await gw.publishAsync(t.event('order.state'), JSON.stringify(forged), { qos: 1 });
    await waitUntil(() => platform.invalidEvents === 3, { timeoutMs: 2000, what: 'three refusals' });
    expect(platform.events).toEqual([]);
    await emit(1, 'order.state', state(1));
    await waitUntil(() => acks.at(-1) === 1, { timeoutMs: 2000, what: 'ack 1' });
    expect(acks).toEqual([1]);
  });

  it('takes each event of a signed batch as if it came alone, and refuses a forged or misaddressed batch whole', async () => {
    const { platform, gw, acks } = await setup();
    const t = gatewayTopics('gw-sim');
    const env = (seq: number) =>
      JSON.stringify({
        id: randomUUID(),
        seq,
        gatewayId: 'gw-sim',
        ts: Date.now(),
        type: 'order.state',
        data: state(seq),
      });
    const batch = (seqs: number[], key = gatewayKey, gatewayId = 'gw-sim') =>
      sealEventBatch(gatewayId, seqs.map(env), key.privateKey, key.keyId);
    await gw.publishAsync(t.eventBatch, batch([1, 2], ephemeralGatewayKey()), { qos: 1 });
    await gw.publishAsync(t.eventBatch, batch([1, 2], gatewayKey, 'gw-other'), { qos: 1 });
    await waitUntil(() => platform.invalidEvents === 2, { timeoutMs: 2000, what: 'two batches refused' });
    expect(platform.events).toEqual([]);
    await gw.publishAsync(t.eventBatch, batch([1, 2, 4]), { qos: 1 });
    await gw.publishAsync(t.eventBatch, batch([2, 3]), { qos: 1 });
    await waitUntil(() => acks.at(-1) === 4, { timeoutMs: 2000, what: 'ack 4' });
    expect(platform.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(platform.duplicateDeliveries).toBe(1);
    expect(platform.batchesReceived).toBe(2);
  });

  it('says what it was waiting for when waitFor times out', async () => {
    const { platform } = await setup();
    await expect(platform.waitFor(() => false, 50, 'the moon')).rejects.toThrow(
      /the moon not reached within 50 ms/,
    );
  });
});
