/**
 * The embedded broker as the gateway runs it on a site: the gateway's own
 * clients in-process, display devices and the platform logging in over TCP,
 * and any other local process trying its luck. Real sockets, real aedes.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttOver, untilConnected } from '../contract/mqtt-client.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { silentLogger } from '../core/log.ts';
import {
  type DisplayState,
  displayBrokerUser,
  displayTopics,
  MqttPaymentDisplay,
} from '../devices/display/mqtt-display.ts';
import { DisplaySim } from '../firmware-sim/display/sim.ts';
import {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from '../gateway/broker/embedded.ts';
import { cleanupsAfterEach, waitUntil } from '../testing/index.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();
const GW = 'gw1';
const t = gatewayTopics(GW);

const platformUser = {
  username: 'platform',
  password: 'platform-secret',
  publish: ['vendgate/v1/+/cmd/#', 'vendgate/v1/+/ack', 'vendgate/v1/+/res/#'],
  subscribe: ['vendgate/v1/+/evt/#', 'vendgate/v1/+/status', 'vendgate/v1/+/req/#'],
};
const m1 = displayBrokerUser({ gatewayId: GW, displayId: 'm1', password: 'display-m1-secret' });
const m2 = displayBrokerUser({ gatewayId: GW, displayId: 'm2', password: 'display-m2-secret' });

async function site(extra: Partial<EmbeddedBrokerOptions> = {}): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({
    port: 0,
    log,
    gatewayId: GW,
    users: [platformUser, m1, m2],
    allowAnonymousLoopback: false,
    ...extra,
  });
  cleanups.push(() => b.close());
  return b;
}

/** The gateway's link: in-process, with its own client id. */
async function gatewayLink(b: EmbeddedBroker, clientId = `vendgate-${GW}`): Promise<MqttClient> {
  const c = await untilConnected(connectMqttOver(() => b.openInProcess(), { clientId, reconnectPeriod: 0 }));
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** A TCP client; resolves once connected, rejects with the broker's refusal. */
function tcpClient(b: EmbeddedBroker, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(b.url, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
    cleanups.push(() => c.endAsync(true));
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before connect')));
  });
}

function recorder(c: MqttClient): Array<{ topic: string; payload: string }> {
  const got: Array<{ topic: string; payload: string }> = [];
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}

/** Publishes and resolves once the broker closed the connection for it (MQTT 3.1.1 has no refusal ack). */
async function publishRefused(c: MqttClient, topic: string, payload: string): Promise<void> {
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  c.publish(topic, payload, { qos: 1 });
  await closed;
}

/** A message through the broker to `c` on a topic it hears, proving everything sent before it was handled. */
async function roundTrip(b: EmbeddedBroker, c: MqttClient, topic: string): Promise<void> {
  const gw = await gatewayLink(b, `vendgate-${GW}-probe-${Math.random()}`);
  const marker = `marker-${Math.random()}`;
  const seen = new Promise<void>((r) => c.on('message', (_t, p) => p.toString() === marker && r()));
  await gw.publishAsync(topic, marker, { qos: 1 });
  await seen;
}

describe('who may write the gateway topics', () => {
  it('a local process without a login cannot connect, so cannot publish an ack', async () => {
    const b = await site();
    await expect(tcpClient(b, {})).rejects.toThrow(/bad username or password/i);
  });

  it('a local process without a login cannot connect even when the broker has no users, once allowAnonymousLoopback is false', async () => {
    const b = await site({ users: [] });
    await expect(tcpClient(b, {})).rejects.toThrow(/not authorized/i);
  });

  it('a logged-in display cannot publish an ack, an event, a status, a command or a response', async () => {
    const b = await site();
    const gw = await gatewayLink(b);
    await gw.subscribeAsync([t.ack, t.commandWildcard, t.responseWildcard], { qos: 1 });
    const heard = recorder(gw);
    for (const topic of [
      t.ack,
      t.command('order.paid'),
      t.response('order.create'),
      t.status,
      t.event('x'),
    ]) {
      const d = await tcpClient(b, { username: m1.username, password: m1.password, clientId: 'display-m1' });
      await publishRefused(d, topic, JSON.stringify({ upTo: 2147483647 }));
    }
    await roundTrip(b, gw, t.ack);
    expect(heard.map((h) => h.topic)).toEqual([t.ack]);
  });

  it("a display cannot put its own payment QR on another display or read another display's screen", async () => {
    const b = await site();
    const d = await tcpClient(b, { username: m1.username, password: m1.password, clientId: 'display-m1' });
    const granted = await d.subscribeAsync(displayTopics(GW, 'm2').render, { qos: 1 }).then(
      (g) => g.map((x) => x.qos),
      (e: { packet?: { granted?: number[] } }) => e.packet?.granted,
    );
    expect(granted).toEqual([0x80]);
    await publishRefused(d, displayTopics(GW, 'm2').render, '{"qr":"https://attacker.example/pay"}');
  });

  it('the platform, whose ACL names them, may publish commands and acks, and the gateway gets them', async () => {
    const b = await site();
    const gw = await gatewayLink(b);
    await gw.subscribeAsync([t.ack, t.commandWildcard], { qos: 1 });
    const heard = recorder(gw);
    const p = await tcpClient(b, { username: 'platform', password: 'platform-secret', clientId: 'platform' });
    await p.publishAsync(t.command('order.paid'), 'cmd', { qos: 1 });
    await p.publishAsync(t.ack, 'ack', { qos: 1 });
    await waitUntil(() => heard.length === 2, { what: 'the command and the ack' });
    expect(heard.map((h) => h.payload)).toEqual(['cmd', 'ack']);
  });

  it('a user whose ACL is "#" gets the site topics but none of the gateway tree, in either direction', async () => {
    const b = await site({
      users: [{ username: 'tool', password: 'tool-secret', publish: ['#'], subscribe: ['#'] }],
    });
    const gw = await gatewayLink(b);
    await gw.subscribeAsync(t.ack, { qos: 1 });
    const heardByGateway = recorder(gw);
    const tool = await tcpClient(b, { username: 'tool', password: 'tool-secret', clientId: 'tool' });
    await tool.subscribeAsync('#', { qos: 1 });
    const heardByTool = recorder(tool);
    await gw.publishAsync(t.command('order.paid'), 'secret command', { qos: 1 });
    await gw.publishAsync('site/lights', 'on', { qos: 1 });
    await waitUntil(() => heardByTool.length >= 1, { what: 'the site message' });
    await tool.publishAsync('site/lights', 'off', { qos: 1 });
    await waitUntil(() => heardByTool.length >= 2, { what: 'its own site message' });
    expect(heardByTool.map((h) => h.topic)).toEqual(['site/lights', 'site/lights']);
    await publishRefused(tool, t.ack, '{"upTo":2147483647}');
    expect(heardByGateway).toEqual([]);
  });
});

describe("who may use the gateway's client ids", () => {
  it("a display that connects with the gateway's client id is refused and the gateway stays connected", async () => {
    const b = await site();
    const gw = await gatewayLink(b);
    await gw.subscribeAsync(t.commandWildcard, { qos: 1 });
    const heard = recorder(gw);
    let gatewayClosed = false;
    gw.on('close', () => {
      gatewayClosed = true;
    });
    const p = await tcpClient(b, { username: 'platform', password: 'platform-secret', clientId: 'platform' });
    for (let order = 1; order <= 5; order++) {
      await p.publishAsync(t.command('order.paid'), `order ${order}`, { qos: 1 });
      await expect(
        tcpClient(b, { username: m1.username, password: m1.password, clientId: `vendgate-${GW}` }),
      ).rejects.toThrow(/identifier rejected/i);
    }
    await waitUntil(() => heard.length === 5, { what: 'all five orders' });
    expect(heard.map((h) => h.payload)).toEqual([1, 2, 3, 4, 5].map((n) => `order ${n}`));
    expect(gatewayClosed).toBe(false);
    expect(gw.connected).toBe(true);
  });

  it("a trusted local process cannot take the gateway's ids either, nor one a gateway client holds", async () => {
    const b = await site({ allowAnonymousLoopback: true });
    await gatewayLink(b);
    const other = await gatewayLink(b, 'gateway-tool');
    for (const clientId of [`vendgate-${GW}`, `vendgate-${GW}-displays`, 'gateway-tool']) {
      await expect(tcpClient(b, { clientId }), clientId).rejects.toThrow(/identifier rejected/i);
    }
    expect(other.connected).toBe(true);
    // Any other id is fine for a trusted local process.
    await expect(tcpClient(b, { clientId: 'local-dashboard' })).resolves.toBeDefined();
  });

  it("a display cannot connect with another display's id, nor with an id of nobody's", async () => {
    const b = await site();
    const own = await tcpClient(b, { username: m2.username, password: m2.password, clientId: 'display-m2' });
    for (const clientId of ['display-m2', 'platform', 'mqttjs_12345678']) {
      await expect(
        tcpClient(b, { username: m1.username, password: m1.password, clientId }),
        clientId,
      ).rejects.toThrow(/identifier rejected/i);
    }
    expect(own.connected).toBe(true);
    await expect(
      tcpClient(b, { username: m1.username, password: m1.password, clientId: 'display-m1-second' }),
    ).resolves.toBeDefined();
  });

  it('a user reconnecting with its own id takes its own session over, as MQTT says [MQTT-3.1.4-2]', async () => {
    const b = await site();
    const first = await tcpClient(b, {
      username: m1.username,
      password: m1.password,
      clientId: 'display-m1',
    });
    const closed = new Promise<void>((r) => first.once('close', () => r()));
    const second = await tcpClient(b, {
      username: m1.username,
      password: m1.password,
      clientId: 'display-m1',
    });
    await closed;
    expect(second.connected).toBe(true);
  });
});

describe('display devices keep working', () => {
  it('a display reads its own render topic and reports its own state, while the gateway drives it in-process', async () => {
    const b = await site();
    const gw = await gatewayLink(b, `vendgate-${GW}-displays`);
    const displays = new MqttPaymentDisplay({ client: gw, gatewayId: GW, locales: { m1: 'en' }, log });
    await displays.start();
    cleanups.push(() => displays.stop());
    const sim = new DisplaySim({
      url: b.url,
      gatewayId: GW,
      displayId: 'm1',
      username: m1.username,
      password: m1.password,
      log,
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    await displays.show('m1', { kind: 'dispensing', item: { name: 'Cola' } });
    const seq = displays.current('m1')!.seq;
    const st: DisplayState = await displays.waitForState('m1', (s) => s.online && s.seq === seq);
    expect(st.error).toBeUndefined();
    expect(sim.current?.screen).toEqual({ kind: 'dispensing', item: { name: 'Cola' } });
  });
});
