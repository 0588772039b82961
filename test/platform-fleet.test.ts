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
  /** The envelope of event `seq`, the same id every time it is sent again. */
  const envelope = (seq: number, over: { id?: string; data?: unknown } = {}) => {
    const id = over.id ?? ids.get(seq) ?? randomUUID();
    ids.set(seq, id);
    return {
      id,
      seq,
      gatewayId,
      ts: Date.now(),
      type: 'machine.status',
      data: over.data ?? { machineId: 'm1', online: seq % 2 === 0 },
    };
  };
  return {
    acks,
    responses,
    lastAck: () => acks.at(-1) ?? 0,
    envelope,
    async event(seq: number, over: { id?: string; data?: unknown } = {}) {
      await client.publishAsync(t.event('machine.status'), signer.seal(envelope(seq, over)), { qos: 1 });
    },
    /** One signed batch on `evts` of these seqs (or envelopes as given), as the gateway sends them. */
    async batch(events: ReadonlyArray<number | Record<string, unknown>>, bodyGatewayId = gatewayId) {
      const envelopes = events.map((e) => (typeof e === 'number' ? envelope(e) : e));
      await client.publishAsync(t.eventBatch, signer.sealBatch(bodyGatewayId, envelopes), { qos: 1 });
    },
    sealBatch: signer.sealBatch,
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
  it('stores nothing and acks nothing of a forged or tampered batch, and takes the genuine one after', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store } = await storeFor(backend);
    const link = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    const gw = await rawGateway(rig.brokerUrl, 'gw-forged', rig.keys.publicKey);
    const t = gatewayTopics('gw-forged');
    await gw.birth();
    const envelopes = [1, 2, 3].map((seq) => gw.envelope(seq));
    // Signed by another key under this gateway's name, then a genuine batch with one byte changed.
    await gw.publish(t.eventBatch, gatewaySigner().sealBatch('gw-forged', envelopes));
    const genuine = Buffer.from(gw.sealBatch('gw-forged', envelopes));
    const tampered = Buffer.from(genuine);
    const at = tampered.indexOf('online');
    tampered[at] = 'O'.charCodeAt(0);
    await gw.publish(t.eventBatch, tampered.toString('utf8'));
    await waitUntil(() => link.stats().invalid === 2, { what: 'two batches refused' });
    await link.idle();
    expect(await store.events.count('gw-forged')).toBe(0);
    expect(link.stats()).toMatchObject({ stored: 0, acksSent: 0 });
    await gw.publish(t.eventBatch, genuine.toString('utf8'));
    await waitUntil(() => gw.lastAck() === 3, { what: 'ack 3' });
    // The first ack the gateway ever heard is the genuine batch's.
    expect(gw.acks).toEqual([3]);
    expect(link.stats()).toMatchObject({ stored: 3, invalid: 2 });
  });

  it('refuses a batch whose signed body names another gateway than its topic', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store } = await storeFor(backend);
    const link = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    const gw = await rawGateway(rig.brokerUrl, 'gw-one', rig.keys.publicKey);
    await gw.birth();
    await gw.batch([1, 2], 'gw-other');
    await waitUntil(() => link.stats().invalid === 1, { what: 'the batch refused' });
    await link.idle();
    expect(await store.events.count('gw-one')).toBe(0);
    expect(await store.events.count('gw-other')).toBe(0);
    await gw.batch([1, 2]);
    await waitUntil(() => gw.lastAck() === 2, { what: 'ack 2' });
    expect(gw.acks).toEqual([2]);
  });

  it('stores the good events of a batch with one bad event, and acks only up to the bad one', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store } = await storeFor(backend);
    const link = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    const gw = await rawGateway(rig.brokerUrl, 'gw-mixed', rig.keys.publicKey);
    await gw.birth();
    const { id: _dropped, ...noId } = gw.envelope(2);
    await gw.batch([1, noId, 3, { ...gw.envelope(4), gatewayId: 'gw-elsewhere' }, 5]);
    await waitUntil(() => link.stats().stored === 3, { what: 'the three good events stored' });
    await waitUntil(() => gw.lastAck() === 1, { what: 'ack 1' });
    expect(link.stats()).toMatchObject({ received: 5, invalid: 2 });
    expect((await store.events.list('gw-mixed')).map((e) => e.seq)).toEqual([1, 3, 5]);
    // The gateway's resend from its ack fills the holes; what was stored is a duplicate.
    await gw.batch([2, 3, 4, 5]);
    await waitUntil(() => gw.lastAck() === 5, { what: 'ack 5' });
    expect(link.stats()).toMatchObject({ stored: 5, duplicates: 2 });
  });

  it('stores every event of a batch exactly once across a platform restart in the middle of it', async () => {
    const rig = await startRig({ gateway: 'none', broker: 'aedes', platform: false });
    const { store, open } = await storeFor(backend);
    let link: FleetLink = await startLink(store, rig.brokerUrl, rig.keys.privateKey, 4);
    // The platform goes down with the batch half stored: event 3's handler fails, so 3 is
    // neither stored nor acked, while 1, 2, 4 and 5 committed.
    link.onEvent('machine.status', (e) => {
      if (e.seq === 3) throw new Error('the platform went down here');
    });
    const gw = await rawGateway(rig.brokerUrl, 'gw-restart', rig.keys.publicKey);
    await gw.birth();
    await gw.batch([1, 2, 3, 4, 5]);
    await waitUntil(() => gw.lastAck() === 2, { what: 'ack 2' });
    await link.idle();
    expect(link.stats()).toMatchObject({ stored: 4, handlerFailures: 1 });
    await link.stop();
    await store.close();
    const reopened = await open();
    link = await startLink(reopened, rig.brokerUrl, rig.keys.privateKey, 4);
    const handled: number[] = [];
    link.onEvent('machine.status', (e) => {
      handled.push(e.seq);
    });
    // The gateway resends from its last ack, in a batch cut its own way, with a new event behind.
    await gw.batch([3, 4, 5, 6]);
    await waitUntil(() => gw.lastAck() === 6, { what: 'ack 6 after the restart' });
    expect(handled).toEqual([3, 6]);
    expect(link.stats()).toMatchObject({ stored: 2, duplicates: 2 });
    const events = await reopened.events.list('gw-restart');
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(6);
  });
});
