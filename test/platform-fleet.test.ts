import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { requestDigest, SignedEnvelope } from '../contract/signed.ts';
import { publicKeyFromBase64, verifyBody } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { createFleetLink } from '../platform/fleet/link.ts';
import type { FleetLink } from '../platform/fleet/port.ts';
import { SigningKeyring } from '../platform/signing/keyring.ts';
import type { Store, StoreBackend } from '../platform/store/port.ts';
import { openStore } from '../platform/store/store.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../testing/index.ts';
import { gatewaySigner } from './support/gateway-signer.ts';
import { type PostgresHandle, startPostgres } from './support/postgres.ts';
import { startRig } from './support/rig.ts';

const KEY = Buffer.from('fleet-test-payer-key-0123456789');
const cleanups = cleanupsAfterEach();
let pg: PostgresHandle | undefined;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

async function storeFor(backend: StoreBackend) {
  const tmp = tempDir('vendgate-fleet-');
  cleanups.push(tmp.cleanup);
  const sqlitePath = join(tmp.dir, 'platform.db');
  const postgresUrl = backend === 'postgres' ? await pg!.createDatabase() : undefined;
  const open = async () => {
    const s = await openStore({ backend, sqlitePath, postgresUrl, payerHashKey: KEY });
    cleanups.push(() => s.close());
    return s;
  };
  return { store: await open(), open };
}

async function startLink(store: Store, brokerUrl: string, privateKey: string, protocolVersion: 4 | 5) {
  const link = createFleetLink({
    brokerUrl,
    store,
    signer: new SigningKeyring([{ keyId: 'default', privateKey }]),
    protocolVersion,
  });
  await link.start();
  cleanups.push(() => link.stop());
  return link;
}

/**
 * A hand-driven gateway on the broker: signs with its own gateway key and
 * publishes envelopes as it likes; records the signed acks and responses it
 * gets (bodies checked against the platform key).
 */
async function rawGateway(brokerUrl: string, gatewayId: string, platformPublicKey: string) {
  const client: MqttClient = await connectMqttAsync(brokerUrl, { clientId: `raw-${randomUUID()}` });
  cleanups.push(() => client.endAsync(true));
  const t = gatewayTopics(gatewayId);
  const signer = gatewaySigner();
  const platformKey = publicKeyFromBase64(platformPublicKey);
  const acks: number[] = [];
  const responses: unknown[] = [];
  client.on('message', (topic, payload) => {
    const signed = SignedEnvelope.parse(JSON.parse(payload.toString('utf8')));
    if (!verifyBody(signed.body, signed.sig, platformKey)) throw new Error(`an unverified ${topic}`);
    const body = JSON.parse(signed.body);
    if (topic === t.ack) acks.push(body.upTo);
    else responses.push(body);
  });
  await client.subscribeAsync([t.ack, t.responseWildcard], { qos: 1 });
  const ids = new Map<number, string>();
  return {
    acks,
    responses,
    lastAck: () => acks.at(-1) ?? 0,
    async event(seq: number, over: { id?: string; data?: unknown } = {}) {
      const id = over.id ?? ids.get(seq) ?? randomUUID();
      ids.set(seq, id);
      const env = {
        id,
        seq,
        gatewayId,
        ts: Date.now(),
        type: 'machine.status',
        data: over.data ?? { machineId: 'm1', online: seq % 2 === 0 },
      };
      await client.publishAsync(t.event('machine.status'), signer.seal(env), { qos: 1 });
    },
    /** The retained signed status announcing its key: the platform trusts the key on first use. */
    birth: (
      status: { lastSeq?: number; outbox?: { pending: number; dropped: number; expired: number } } = {},
    ) =>
      client.publishAsync(t.status, signer.status({ state: 'online', gatewayId, ...status }), {
        qos: 1,
        retain: true,
      }),
    seal: signer.seal,
    publish: (topic: string, payload: string, retain = false) =>
      client.publishAsync(topic, payload, { qos: 1, retain }),
  };
}

describe.each(['sqlite', 'postgres'] as const)('the fleet link on %s', (backend) => {
  it('stores each event of a real gateway once and acks it, so the gateway outbox drains', async () => {
    const rig = await startRig({ slotBoards: 1, devices: 'memory', platform: false });
    const { store } = await storeFor(backend);
    const link = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    const handled: string[] = [];
    link.onEvent('vend.succeeded', async (e, t) => {
      handled.push(e.eventId);
      // A handler's own write commits with the event: exactly once.
      await t.notifications.record('test-handler', e.eventId, null, e.receivedAt);
    });
    const orders = [rig.order('m1', 1), rig.order('m1', 2), rig.order('m1', 3)];
    for (const o of orders) await link.sendCommand(rig.gatewayId, 'order.paid', o);
    await waitUntil(
      async () => (await store.events.list(rig.gatewayId, { type: 'vend.succeeded' })).length === 3,
      {
        timeoutMs: 20_000,
        what: 'three vends stored',
      },
    );
    await waitUntil(() => rig.gw.outbox.stats().pending === 0, {
      timeoutMs: 10_000,
      what: 'the outbox drained',
    });
    const lastSeq = rig.gw.outbox.stats().lastSeq;
    const events = await store.events.list(rig.gatewayId);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect((await store.gateways.get(rig.gatewayId))?.ackedUpTo).toBe(lastSeq);
    expect(handled).toHaveLength(3);
    expect(new Set(handled).size).toBe(3);
    for (const id of handled) expect(await store.notifications.seen('test-handler', id)).toBe(true);
    const commands = await store.commands.list({ gatewayId: rig.gatewayId });
    expect(commands.map((c) => c.state)).toEqual(['published', 'published', 'published']);
    // The gateway was up before the link: its first events (the boards' sensor readings) may
    // reach the platform before the retained status that names the gateway's key, and are
    // refused then; the gateway resends them and they are stored once (checked above).
    const invalid = link.stats().invalid;
    expect(invalid).toBeLessThanOrEqual(lastSeq);
    expect(link.stats()).toMatchObject({ handlerFailures: 0, commandsSent: 3 });
    expect((await store.gateways.get(rig.gatewayId))?.online).toBe(true);
  });

  it('counts a duplicate and a gap, acks only the contiguous part, and resumes from its watermark after a restart', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store, open } = await storeFor(backend);
    let link: FleetLink = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    const gw = await rawGateway(rig.brokerUrl, 'gw-raw', rig.keys.publicKey);
    await gw.birth();
    await gw.event(1);
    await gw.event(2);
    await gw.event(2);
    await gw.event(4);
    await waitUntil(() => link.stats().received === 4, { what: 'four deliveries' });
    await link.idle();
    await waitUntil(() => gw.lastAck() === 2, { what: 'ack 2' });
    expect(link.stats()).toMatchObject({ stored: 3, duplicates: 1 });
    expect(link.stats().gapsDetected).toBeGreaterThanOrEqual(1);
    await gw.event(3);
    await waitUntil(() => gw.lastAck() === 4, { what: 'ack 4 once the gap filled' });

    await link.stop();
    await store.close();
    const reopened = await open();
    link = await startLink(reopened, rig.brokerUrl, rig.keys.privateKey, 4);
    await gw.event(4); // a resend of what was acked before the restart
    await gw.event(5);
    await waitUntil(() => gw.lastAck() === 5, { what: 'ack 5 after the restart' });
    expect(link.stats()).toMatchObject({ stored: 1, duplicates: 1 });
    expect(await reopened.events.count('gw-raw')).toBe(5);
  });

  it('learns a new gateway watermark from its birth, answers its requests and refuses malformed events', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store } = await storeFor(backend);
    const link = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    link.onRequest('order.create', (data, ctx) => ({ echo: data, gatewayId: ctx.gatewayId }));
    const gw = await rawGateway(rig.brokerUrl, 'gw-late', rig.keys.publicKey);
    const t = gatewayTopics('gw-late');
    await gw.birth({ lastSeq: 40, outbox: { pending: 0, dropped: 0, expired: 0 } });
    await waitUntil(async () => (await store.gateways.get('gw-late'))?.ackedUpTo === 40, {
      what: 'watermark 40',
    });
    await gw.event(41);
    await waitUntil(() => gw.lastAck() === 41, { what: 'ack 41' });

    const now = Date.now();
    const request = gw.seal({
      correlationId: 'corr-0001',
      type: 'order.create',
      gatewayId: 'gw-late',
      issuedAt: now,
      expiresAt: now + 10_000,
      data: { a: 1 },
    });
    await gw.publish(t.request('order.create'), request);
    await waitUntil(() => gw.responses.length === 1, { what: 'a response' });
    expect(gw.responses[0]).toMatchObject({
      correlationId: 'corr-0001',
      type: 'order.create',
      gatewayId: 'gw-late',
      requestSha256: requestDigest(SignedEnvelope.parse(JSON.parse(request)).body),
      keyId: 'default',
      data: { echo: { a: 1 }, gatewayId: 'gw-late' },
    });

    const before = link.stats().invalid;
    await gw.publish(t.event('machine.status'), 'not json');
    const misfiled = {
      id: randomUUID(),
      seq: 42,
      gatewayId: 'gw-late',
      ts: 1,
      type: 'machine.status',
      data: {},
    };
    await gw.publish(t.event('vend.succeeded'), gw.seal(misfiled));
    await gw.publish(`vendgate/v1/bad$id/evt/machine.status`, '{}');
    // Well formed and filed right, but unsigned, or signed by another key: refused too.
    await gw.publish(t.event('machine.status'), JSON.stringify(misfiled));
    await gw.publish(t.event('machine.status'), gatewaySigner().seal(misfiled));
    await waitUntil(() => link.stats().invalid === before + 5, { what: 'five refusals' });
    // A valid envelope whose data breaks its schema is stored with its problem, so it cannot stall the gateway.
    await gw.event(42, { data: { machineId: 'm1' } });
    await waitUntil(() => gw.lastAck() === 42, { what: 'ack 42' });
    expect((await store.events.get('gw-late', 42))?.problem).toMatch(/machine\.status schema at online/);
  });
});
