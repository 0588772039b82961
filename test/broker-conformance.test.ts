/**
 * MQTT 3.1.1 conformance of the embedded broker as vendgate runs it with
 * users (logins required, client ids bound, the contract's tree closed to
 * accounts whose ACL does not name it). The first block follows the ten
 * client tests of the Eclipse Paho interoperability suite
 * (paho.mqtt.testing, interoperability/client_test.py), written anew with
 * mqtt.js; the second checks each normative rule those tests lean on with
 * hand-built packets and the exact bytes the broker answers.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttOver, untilConnected } from '../contract/mqtt-client.ts';
import { silentLogger } from '../core/log.ts';
import { displayBrokerUser } from '../devices/display/mqtt-display.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { cleanupsAfterEach, waitUntil } from '../testing/index.ts';
import { connack, connectPacket, RawMqttSocket, rawConnect, subscribePacket } from './broker-raw-mqtt.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();
const GW = 'gw1';

const topics = ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'] as const;
const wildtopics = ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'] as const;
/** A filter the conformance account may not subscribe to: the gateway's commands. */
const nosubscribe = `vendgate/v1/${GW}/cmd/#`;

const login = { username: 'paho', password: 'paho-interop-secret' };

async function siteBroker(): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({
    port: 0,
    log,
    gatewayId: GW,
    allowAnonymousLoopback: false,
    users: [
      // The account the interoperability clients log in with: the site's free topics, and
      // `$TopicA/...` so the $-topics test can publish there, but nothing of the contract's tree.
      { ...login, clientId: 'myclientid*', publish: ['#', '$TopicA/#'], subscribe: ['#'] },
      displayBrokerUser({ gatewayId: GW, displayId: 'm1', password: 'display-m1-secret' }),
    ],
  });
  cleanups.push(() => b.close());
  return b;
}

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** An mqtt.js client that records what it receives; resolves once connected. */
async function client(
  b: EmbeddedBroker,
  clientId: string,
  opts: IClientOptions = {},
): Promise<{ c: MqttClient; messages: Received[]; sessionPresent: boolean }> {
  const messages: Received[] = [];
  const c = mqtt.connect(b.url, { ...login, clientId, reconnectPeriod: 0, protocolVersion: 4, ...opts });
  cleanups.push(() => c.endAsync(true));
  c.on('message', (topic, payload, packet) =>
    messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }),
  );
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    c.once('connect', (ack) => resolve(ack.sessionPresent));
    c.once('error', reject);
  });
  return { c, messages, sessionPresent };
}

/** Publishes and waits for the QoS flow to finish, then for a round trip through the broker. */
async function settle(c: MqttClient): Promise<void> {
  const marker = `myclientid-settle/${Math.random()}`;
  await c.subscribeAsync(marker, { qos: 1 });
  const got = new Promise<void>((r) => c.on('message', (t) => t === marker && r()));
  await c.publishAsync(marker, 'x', { qos: 1 });
  await got;
}

describe('Paho interoperability client tests, against the broker with users', () => {
  it('basic: QoS 0, 1 and 2 publishes all reach a QoS 2 subscriber, and a clean session is never present', async () => {
    const b = await siteBroker();
    const first = await client(b, 'myclientid');
    await first.c.endAsync();
    const a = await client(b, 'myclientid');
    expect(a.sessionPresent).toBe(false);
    await a.c.subscribeAsync(topics[0], { qos: 2 });
    await a.c.publishAsync(topics[0], 'qos 0', { qos: 0 });
    await a.c.publishAsync(topics[0], 'qos 1', { qos: 1 });
    await a.c.publishAsync(topics[0], 'qos 2', { qos: 2 });
    await waitUntil(() => a.messages.length >= 3, { what: 'three messages' });
    await settle(a.c);
    expect(a.messages.filter((m) => m.topic === topics[0]).map((m) => m.payload)).toEqual([
      'qos 0',
      'qos 1',
      'qos 2',
    ]);
  });

  it('retained messages: each is sent to a new subscriber, and a zero-byte retained message clears it', async () => {
    const b = await siteBroker();
    const a = await client(b, 'myclientid');
    await a.c.publishAsync(topics[1], 'qos 0', { qos: 0, retain: true });
    await a.c.publishAsync(topics[2], 'qos 1', { qos: 1, retain: true });
    await a.c.publishAsync(topics[3], 'qos 2', { qos: 2, retain: true });
    await settle(a.c);
    await a.c.subscribeAsync(wildtopics[5], { qos: 2 });
    await waitUntil(() => a.messages.filter((m) => m.retain).length >= 3, { what: 'three retained' });
    expect(
      a.messages
        .filter((m) => m.retain)
        .map((m) => m.topic)
        .sort(),
    ).toEqual([topics[1], topics[2], topics[3]].sort());
    await a.c.endAsync();

    const again = await client(b, 'myclientid');
    await again.c.publishAsync(topics[1], '', { qos: 0, retain: true });
    await again.c.publishAsync(topics[2], '', { qos: 1, retain: true });
    await again.c.publishAsync(topics[3], '', { qos: 2, retain: true });
    await settle(again.c);
    await again.c.subscribeAsync(wildtopics[5], { qos: 2 });
    await settle(again.c);
    expect(again.messages.filter((m) => m.retain)).toEqual([]);
  });

  it('offline message queueing: QoS 1 and 2 messages published while a persistent session is away arrive on its return', async () => {
    const b = await siteBroker();
    const a = await client(b, 'myclientid', { clean: false });
    await a.c.subscribeAsync(wildtopics[5], { qos: 2 });
    await a.c.endAsync();
    const sender = await client(b, 'myclientid2');
    expect(sender.sessionPresent).toBe(false);
    await sender.c.publishAsync(topics[1], 'qos 0', { qos: 0 });
    await sender.c.publishAsync(topics[2], 'qos 1', { qos: 1 });
    await sender.c.publishAsync(topics[3], 'qos 2', { qos: 2 });
    await settle(sender.c);
    await sender.c.endAsync();
    const back = await client(b, 'myclientid', { clean: false });
    expect(back.sessionPresent).toBe(true);
    await waitUntil(() => back.messages.length >= 2, { what: 'the queued messages' });
    await settle(back.c);
    const got = back.messages.filter((m) => !m.topic.startsWith('myclientid-settle'));
    // The broker may or may not queue QoS 0 for offline clients; QoS 1 and 2 it must.
    expect([2, 3]).toContain(got.length);
    expect(got.map((m) => m.payload)).toEqual(expect.arrayContaining(['qos 1', 'qos 2']));
  });

  it('will message: a client that goes away without DISCONNECT has its will delivered', async () => {
    const b = await siteBroker();
    const watcher = await client(b, 'myclientid2', { clean: false });
    await watcher.c.subscribeAsync(topics[2], { qos: 2 });
    const a = await client(b, 'myclientid', {
      keepalive: 2,
      will: { topic: topics[2], payload: Buffer.from('client not disconnected'), qos: 0, retain: false },
    });
    (a.c.stream as unknown as { destroy(): void }).destroy();
    await waitUntil(() => watcher.messages.length >= 1, { what: 'the will' });
    expect(watcher.messages).toEqual([
      { topic: topics[2], payload: 'client not disconnected', qos: 0, retain: false },
    ]);
  });

  it('overlapping subscriptions: one message at the highest QoS, or one per subscription at its QoS', async () => {
    const b = await siteBroker();
    const a = await client(b, 'myclientid');
    await a.c.subscribeAsync({ [wildtopics[6]]: { qos: 2 }, [wildtopics[0]]: { qos: 1 } });
    await a.c.publishAsync(topics[3], 'overlapping topic filters', { qos: 2 });
    await waitUntil(() => a.messages.length >= 1, { what: 'the overlapping message' });
    await settle(a.c);
    const qos = a.messages.filter((m) => m.topic === topics[3]).map((m) => m.qos);
    expect([[2], [1, 2]]).toContainEqual([...qos].sort());
  });

  it('keepalive: a client silent for 1.5 keepalive periods is disconnected and its will published', async () => {
    const b = await siteBroker();
    const watcher = await client(b, 'myclientid2', { keepalive: 0 });
    await watcher.c.subscribeAsync(topics[4], { qos: 2 });
    // A client that sends no PINGREQ: a raw socket that stops after CONNECT ([MQTT-3.1.2-24]).
    const { raw, connack: ack } = await rawConnect(b.port, {
      clientId: 'myclientid',
      ...login,
      keepalive: 1,
      will: { topic: topics[4], payload: 'keepalive expiry' },
    });
    expect(ack).toEqual(connack(false, 0));
    await raw.closed;
    await waitUntil(() => watcher.messages.length >= 1, { what: 'the will' });
    expect(watcher.messages.map((m) => m.payload)).toEqual(['keepalive expiry']);
  });

  it('redelivery on reconnect: unacknowledged QoS 1 and 2 messages are sent again to the returning session', async () => {
    const b = await siteBroker();
    // A client that stops answering incoming publishes: a raw socket that never sends PUBACK or PUBREC.
    const paused = await rawConnect(b.port, { clientId: 'myclientid2', clean: false, ...login });
    expect(paused.connack).toEqual(connack(false, 0));
    paused.raw.send(subscribePacket(1, [[wildtopics[6], 2]]));
    expect(await paused.raw.nextPacket()).toEqual(Buffer.from([0x90, 0x03, 0x00, 0x01, 0x02]));
    const sender = await client(b, 'myclientid');
    await sender.c.publishAsync(topics[1], '', { qos: 1 });
    await sender.c.publishAsync(topics[3], '', { qos: 2 });
    const first = [await paused.raw.nextPacket(), await paused.raw.nextPacket()];
    // PUBLISH at QoS 1 (0x32) and QoS 2 (0x34), DUP 0 the first time.
    expect(first.map((p) => p?.[0])).toEqual([0x32, 0x34]);
    paused.raw.destroy();
    await paused.raw.closed;
    const back = await client(b, 'myclientid2', { clean: false });
    expect(back.sessionPresent).toBe(true);
    await waitUntil(() => back.messages.length >= 2, { what: 'the redelivered messages' });
    expect(back.messages.map((m) => m.topic).sort()).toEqual([topics[1], topics[3]].sort());
  });

  it('zero-length client id: refused with a persistent session, accepted with a clean one', async () => {
    const b = await siteBroker();
    // mqtt.js will not send an empty id with clean false, so that half is a raw CONNECT.
    const { raw, connack: refused } = await rawConnect(b.port, { clientId: '', clean: false, ...login });
    expect(refused).toEqual(connack(false, 0x02));
    await raw.closed;
    const ok = await client(b, '', { clean: true });
    expect(ok.c.connected).toBe(true);
  });

  it('subscribe failure: a filter outside the ACL is answered 0x80 in the SUBACK', async () => {
    const b = await siteBroker();
    const a = await client(b, 'myclientid');
    const granted = await a.c.subscribeAsync(nosubscribe, { qos: 2 }).then(
      (g) => g.map((x) => x.qos),
      (err: { packet?: { granted?: number[] } }) => err.packet?.granted,
    );
    expect(granted).toEqual([0x80]);
  });

  it('$-topics: a filter starting with a wildcard does not match a topic starting with $', async () => {
    const b = await siteBroker();
    const a = await client(b, 'myclientid2', { keepalive: 0 });
    await a.c.subscribeAsync(wildtopics[5], { qos: 2 });
    await a.c.publishAsync(`$${topics[1]}`, '', { qos: 1 });
    await settle(a.c);
    expect(a.messages.filter((m) => m.topic.startsWith('$'))).toEqual([]);
    expect(a.c.connected).toBe(true);
  });
});

describe('the MQTT 3.1.1 rules behind them, in raw packets', () => {
  it('[MQTT-3.2.2-1] answers a clean-session CONNECT with return code 0 and Session Present 0', async () => {
    const b = await siteBroker();
    const { connack: ack } = await rawConnect(b.port, { clientId: 'myclientid', ...login });
    expect(ack).toEqual(connack(false, 0));
  });

  it('[MQTT-3.2.2-2] sets Session Present 1 when a persistent session returns', async () => {
    const b = await siteBroker();
    const first = await rawConnect(b.port, { clientId: 'myclientid', clean: false, ...login });
    expect(first.connack).toEqual(connack(false, 0));
    // aedes keeps a session's state as its subscriptions: one makes the session worth keeping.
    first.raw.send(subscribePacket(1, [['TopicA', 1]]));
    expect(await first.raw.nextPacket()).toEqual(Buffer.from([0x90, 0x03, 0x00, 0x01, 0x01]));
    first.raw.destroy();
    await first.raw.closed;
    await waitUntil(async () => {
      const again = await rawConnect(b.port, { clientId: 'myclientid', clean: false, ...login });
      again.raw.destroy();
      return again.connack?.equals(connack(true, 0)) === true;
    });
  });

  it('[MQTT-3.1.3-8] answers an empty client id with CleanSession 0 with 0x02 and closes', async () => {
    const b = await siteBroker();
    const { raw, connack: ack } = await rawConnect(b.port, { clientId: '', clean: false, ...login });
    // [MQTT-3.2.2-4]: a non-zero return code goes with Session Present 0.
    expect(ack).toEqual(connack(false, 0x02));
    // [MQTT-3.2.2-5]: and the server closes the connection after it.
    expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
  });

  it('[MQTT-3.1.3-6] accepts an empty client id with CleanSession 1, assigning one', async () => {
    const b = await siteBroker();
    const { raw, connack: ack } = await rawConnect(b.port, { clientId: '', clean: true, ...login });
    expect(ack).toEqual(connack(false, 0));
    raw.send(subscribePacket(1, [['TopicA', 1]]));
    expect(await raw.nextPacket()).toEqual(Buffer.from([0x90, 0x03, 0x00, 0x01, 0x01]));
  });

  it("[MQTT-3.1.3-9] answers a client id the login may not use with 0x02 and closes: another user's, the gateway's", async () => {
    const b = await siteBroker();
    for (const clientId of ['display-m1', `vendgate-${GW}`, `vendgate-${GW}-displays`, 'someone-else']) {
      const { raw, connack: ack } = await rawConnect(b.port, { clientId, ...login });
      expect(ack, clientId).toEqual(connack(false, 0x02));
      expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
    }
  });

  it('[MQTT-3.2.2-5] answers a bad password with 0x04 and a missing login with 0x04, then closes', async () => {
    const b = await siteBroker();
    for (const c of [
      { clientId: 'myclientid', username: 'paho', password: 'wrong-password' },
      { clientId: 'myclientid' },
    ]) {
      const { raw, connack: ack } = await rawConnect(b.port, c);
      expect(ack).toEqual(connack(false, 0x04));
      await raw.closed;
    }
  });

  it('[MQTT-3.1.0-1] closes a connection whose first packet is not CONNECT, answering nothing', async () => {
    const b = await siteBroker();
    const raw = await RawMqttSocket.open(b.port);
    raw.send(subscribePacket(1, [['TopicA', 0]]));
    expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
  });

  it('[MQTT-3.1.0-2] closes a connection that sends a second CONNECT', async () => {
    const b = await siteBroker();
    const { raw, connack: ack } = await rawConnect(b.port, { clientId: 'myclientid', ...login });
    expect(ack).toEqual(connack(false, 0));
    raw.send(connectPacket({ clientId: 'myclientid', ...login }));
    expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
  });

  it('[MQTT-3.1.2-1] may close a connection whose protocol name is not MQTT, and does', async () => {
    const b = await siteBroker();
    const { raw, connack: ack } = await rawConnect(b.port, {
      clientId: 'myclientid',
      ...login,
      protocolName: 'hj',
    });
    expect(ack).toBeUndefined();
    await raw.closed;
  });

  it('[MQTT-3.8.4-5] [MQTT-3.9.3-1] [MQTT-2.3.1-7] answers each filter in order, 0x80 for a refused one, under the same packet id', async () => {
    const b = await siteBroker();
    const { raw } = await rawConnect(b.port, { clientId: 'myclientid', clean: false, ...login });
    raw.send(
      subscribePacket(0x1234, [
        ['TopicA/#', 1],
        [nosubscribe, 2],
        ['Topic/C', 2],
        [`vendgate/v1/${GW}/display/m1/render`, 0],
        ['TopicA', 0],
      ]),
    );
    expect(await raw.nextPacket()).toEqual(
      Buffer.from([0x90, 0x07, 0x12, 0x34, 0x01, 0x80, 0x02, 0x80, 0x00]),
    );
  });

  it('[MQTT-3.8.4-5] keeps refusing a filter when a persistent session is restored', async () => {
    const b = await siteBroker();
    const first = await rawConnect(b.port, { clientId: 'myclientid', clean: false, ...login });
    first.raw.send(
      subscribePacket(1, [
        [nosubscribe, 1],
        ['TopicA', 1],
      ]),
    );
    expect(await first.raw.nextPacket()).toEqual(Buffer.from([0x90, 0x04, 0x00, 0x01, 0x80, 0x01]));
    first.raw.destroy();
    const back = await client(b, 'myclientid', { clean: false });
    await waitUntil(() => back.sessionPresent);
    // The gateway (in-process) sends a command and a site message; the restored session gets only the latter.
    const gw = await untilConnected(connectMqttOver(() => b.openInProcess(), { clientId: `vendgate-${GW}` }));
    cleanups.push(() => gw.endAsync(true));
    await gw.publishAsync(`vendgate/v1/${GW}/cmd/order.paid`, '{}', { qos: 1 });
    await gw.publishAsync('TopicA', 'allowed', { qos: 1 });
    await waitUntil(() => back.messages.some((m) => m.topic === 'TopicA'), { what: 'the allowed message' });
    expect(back.messages.filter((m) => m.topic.startsWith('vendgate/'))).toEqual([]);
  });

  it('[MQTT-4.7.2-1] does not deliver a $-topic to a subscription that starts with a wildcard', async () => {
    const b = await siteBroker();
    const { raw } = await rawConnect(b.port, { clientId: 'myclientid', ...login });
    raw.send(
      subscribePacket(2, [
        ['#', 0],
        ['+/B', 0],
      ]),
    );
    expect(await raw.nextPacket()).toEqual(Buffer.from([0x90, 0x04, 0x00, 0x02, 0x00, 0x00]));
    const pub = await client(b, 'myclientid2');
    await pub.c.publishAsync('$TopicA/B', 'dollar', { qos: 1 });
    await pub.c.publishAsync('TopicA/B', 'plain', { qos: 1 });
    const p = await raw.nextPacket();
    // The only PUBLISH that arrives is the plain one (QoS 0: 0x30, topic "TopicA/B", payload "plain").
    expect(p?.subarray(4, 12).toString()).toBe('TopicA/B');
    expect(p?.subarray(12).toString()).toBe('plain');
  });
});
