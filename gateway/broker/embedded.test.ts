import { networkInterfaces } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttOver, untilConnected } from '../../contract/mqtt-client.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, expectVendgateError } from '../../testing/index.ts';
import { type EmbeddedBroker, isLoopback, startEmbeddedBroker } from './embedded.ts';
import { filterCovers, topicMatches } from './topic-filter.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();

async function broker(
  opts: Partial<Parameters<typeof startEmbeddedBroker>[0]> = {},
): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({ port: 0, log, ...opts });
  cleanups.push(() => b.close());
  return b;
}

/** Connects, resolving with the client or rejecting with the broker's refusal. */
function connectTo(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
    cleanups.push(() => c.endAsync(true));
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before connect')));
  });
}

/** The granted QoS per filter; mqtt.js rejects when any is refused (128), so read the SUBACK. */
async function grants(c: MqttClient, filters: string[]): Promise<Array<[string, number]>> {
  const suback = await c.subscribeAsync(filters, { qos: 1 }).then(
    (granted) => granted.map((g) => g.qos),
    (err: { packet?: { granted?: number[] } }) => {
      if (!err.packet?.granted) throw err;
      return err.packet.granted;
    },
  );
  return filters.map((f, i) => [f, suback[i] ?? -1]);
}

function received(c: MqttClient, topic: string, ms: number): Promise<string[]> {
  const got: string[] = [];
  c.on('message', (t, p) => {
    if (t === topic) got.push(p.toString());
  });
  return new Promise((r) => setTimeout(() => r(got), ms));
}

const users = [
  {
    username: 'gateway',
    password: 'gw-secret',
    publish: ['vendgate/v1/gw1/status', 'vendgate/v1/gw1/evt/#'],
    subscribe: ['vendgate/v1/gw1/cmd/#', 'vendgate/v1/gw1/ack'],
  },
  {
    username: 'platform',
    password: 'pf-secret',
    publish: ['vendgate/v1/+/cmd/#', 'vendgate/v1/+/ack'],
    subscribe: ['vendgate/v1/#'],
  },
];

const gatewayLogin = { username: 'gateway', password: 'gw-secret', clientId: 'gateway' };
const platformLogin = { username: 'platform', password: 'pf-secret', clientId: 'platform' };

describe('topic filters', () => {
  it('match topics level by level with + and #', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
  });

  it('say whether a subscription lies inside an allowed filter', () => {
    expect(filterCovers('a/#', 'a/+/c')).toBe(true);
    expect(filterCovers('a/+/c', 'a/b/c')).toBe(true);
    expect(filterCovers('a/b/c', 'a/+/c')).toBe(false);
    expect(filterCovers('a/+', 'a/#')).toBe(false);
    expect(filterCovers('a/+/c', 'a/+/c')).toBe(true);
  });

  it('recognise loopback addresses', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.8.9.10')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
    expect(isLoopback('::ffff:192.168.1.2')).toBe(false);
  });
});

describe('embedded broker', () => {
  it('relays QoS 1 messages between loopback clients without a login', async () => {
    const b = await broker();
    expect(b.url).toBe(`mqtt://127.0.0.1:${b.port}`);
    const sub = await connectTo(b.url);
    await sub.subscribeAsync('t/1', { qos: 1 });
    const got = received(sub, 't/1', 200);
    const pub = await connectTo(b.url);
    await pub.publishAsync('t/1', 'hello', { qos: 1 });
    expect(await got).toEqual(['hello']);
  });

  it('refuses clients from non-loopback addresses when no users are configured', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (!external) return; // no non-loopback interface on this machine: nothing to prove
    const b = await broker({ host: '0.0.0.0' });
    await expect(connectTo(`mqtt://${external.address}:${b.port}`)).rejects.toThrow(/Not authorized|closed/i);
    await expect(connectTo(`mqtt://127.0.0.1:${b.port}`)).resolves.toBeDefined();
  });

  it('refuses a wrong password and a missing login when users are configured', async () => {
    const b = await broker({ users, allowAnonymousLoopback: false });
    await expect(connectTo(b.url, { username: 'gateway', password: 'nope' })).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(connectTo(b.url, { username: 'nobody', password: 'gw-secret' })).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(connectTo(b.url)).rejects.toThrow(/Bad username or password/i);
    await expect(
      connectTo(b.url, { username: 'gateway', password: 'gw-secret', clientId: 'gateway' }),
    ).resolves.toBeDefined();
  });

  it('keeps the old meaning of trustLoopback false without users: loopback clients are still admitted', async () => {
    const b = await broker({ trustLoopback: false });
    await expect(connectTo(b.url)).resolves.toBeDefined();
  });

  it('refuses to start with users when anonymous loopback access is not said either way', async () => {
    await expectVendgateError(startEmbeddedBroker({ port: 0, log, users }), ErrorCode.ConfigInvalid);
  });

  it('with allowAnonymousLoopback false refuses anonymous loopback clients even without users', async () => {
    const b = await broker({ allowAnonymousLoopback: false });
    await expect(connectTo(b.url)).rejects.toThrow(/Not authorized/i);
  });

  it('refuses limits that are not positive integers', async () => {
    await expectVendgateError(
      startEmbeddedBroker({ port: 0, log, maxPacketSize: 0 }),
      ErrorCode.ConfigInvalid,
    );
    await expectVendgateError(
      startEmbeddedBroker({ port: 0, log, connectTimeoutMs: 1.5 }),
      ErrorCode.ConfigInvalid,
    );
  });

  it('with trustLoopback admits anonymous loopback clients with full rights, while users still need their password', async () => {
    const b = await broker({ users, trustLoopback: true });
    const local = await connectTo(b.url);
    expect(await grants(local, ['vendgate/v1/gw2/cmd/#'])).toEqual([['vendgate/v1/gw2/cmd/#', 1]]);
    await expect(connectTo(b.url, { username: 'gateway', password: 'nope' })).rejects.toThrow(
      /Bad username or password/i,
    );
    await expect(
      connectTo(b.url, { username: 'gateway', password: 'gw-secret', clientId: 'gateway' }),
    ).resolves.toBeDefined();
  });

  it('refuses subscriptions outside the user ACL and grants those inside it', async () => {
    const b = await broker({ users, allowAnonymousLoopback: false });
    const gw = await connectTo(b.url, gatewayLogin);
    const granted = await grants(gw, [
      'vendgate/v1/gw1/cmd/#',
      'vendgate/v1/gw1/ack',
      'vendgate/v1/gw2/cmd/#',
      'vendgate/v1/#',
    ]);
    expect(granted).toEqual([
      ['vendgate/v1/gw1/cmd/#', 1],
      ['vendgate/v1/gw1/ack', 1],
      ['vendgate/v1/gw2/cmd/#', 128],
      ['vendgate/v1/#', 128],
    ]);
  });

  it('refuses publishes outside the user ACL and never forwards them', async () => {
    const b = await broker({ users, allowAnonymousLoopback: false });
    const platform = await connectTo(b.url, platformLogin);
    await platform.subscribeAsync('vendgate/v1/#', { qos: 1 });
    const got = received(platform, 'vendgate/v1/gw1/cmd/order.paid', 300);
    const gw = await connectTo(b.url, gatewayLogin);
    const closed = new Promise<void>((r) => gw.once('close', () => r()));
    // A gateway must not be able to forge a command to itself.
    gw.publish('vendgate/v1/gw1/cmd/order.paid', '{}', { qos: 1 });
    await closed;
    expect(await got).toEqual([]);
  });

  it("forwards a gateway's event batch from its own connection only, never from a login whose ACL names it", async () => {
    const withBatches = users.map((u) =>
      u.username === 'gateway' ? { ...u, publish: [...u.publish, 'vendgate/v1/gw1/evts'] } : u,
    );
    const b = await broker({ users: withBatches, allowAnonymousLoopback: false, gatewayId: 'gw1' });
    const platform = await connectTo(b.url, platformLogin);
    await platform.subscribeAsync('vendgate/v1/#', { qos: 1 });
    const got = received(platform, 'vendgate/v1/gw1/evts', 500);
    const own = await untilConnected(connectMqttOver(() => b.openInProcess(), { clientId: 'vendgate-gw1' }));
    cleanups.push(() => own.endAsync(true));
    await own.publishAsync('vendgate/v1/gw1/evts', 'from the gateway', { qos: 1 });
    const gw = await connectTo(b.url, gatewayLogin);
    const closed = new Promise<void>((r) => gw.once('close', () => r()));
    gw.publish('vendgate/v1/gw1/evts', 'forged', { qos: 1 });
    await closed;
    expect(await got).toEqual(['from the gateway']);
  });

  it('keeps enforcing the right ACL when a new connection takes over a client id', async () => {
    const b = await broker({ users, allowAnonymousLoopback: false });
    const platform = await connectTo(b.url, platformLogin);
    await platform.subscribeAsync('vendgate/v1/#', { qos: 1 });
    const got = received(platform, 'vendgate/v1/gw1/evt/x', 500);
    const first = await connectTo(b.url, {
      username: 'gateway',
      password: 'gw-secret',
      clientId: 'gateway-1',
    });
    const firstClosed = new Promise<void>((r) => first.once('close', () => r()));
    const second = await connectTo(b.url, {
      username: 'gateway',
      password: 'gw-secret',
      clientId: 'gateway-1',
    });
    await firstClosed;
    await second.publishAsync('vendgate/v1/gw1/evt/x', 'after takeover', { qos: 1 });
    expect(await got).toEqual(['after takeover']);
  });

  it('refuses a last will outside the ACL', async () => {
    const b = await broker({ users, allowAnonymousLoopback: false });
    const platform = await connectTo(b.url, platformLogin);
    await platform.subscribeAsync('vendgate/v1/#', { qos: 1 });
    const refused = received(platform, 'vendgate/v1/gw1/ack', 400);
    const allowed = received(platform, 'vendgate/v1/gw1/status', 400);
    const bad = await connectTo(b.url, {
      ...gatewayLogin,
      clientId: 'gateway-bad',
      will: { topic: 'vendgate/v1/gw1/ack', payload: Buffer.from('{"upTo":999}'), qos: 1, retain: false },
    });
    const good = await connectTo(b.url, {
      username: 'gateway',
      password: 'gw-secret',
      clientId: 'gateway-good',
      will: { topic: 'vendgate/v1/gw1/status', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    (bad.stream as unknown as { destroy(): void }).destroy();
    (good.stream as unknown as { destroy(): void }).destroy();
    expect(await refused).toEqual([]);
    expect(await allowed).toEqual(['offline']);
  });

  it('refuses client publishes to $SYS/ even for a user allowed everything', async () => {
    const b = await broker({
      users: [
        { username: 'root', password: 'root-pw', publish: ['#', '$SYS/#'], subscribe: ['#', '$SYS/#'] },
      ],
      allowAnonymousLoopback: false,
    });
    const watcher = await connectTo(b.url, { username: 'root', password: 'root-pw', clientId: 'root-1' });
    await watcher.subscribeAsync('$SYS/#', { qos: 0 });
    const got = received(watcher, '$SYS/fake/new/clients', 300);
    const c = await connectTo(b.url, { username: 'root', password: 'root-pw', clientId: 'root-2' });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('$SYS/fake/new/clients', 'x', { qos: 1 });
    await closed;
    expect(await got).toEqual([]);
  });

  it('refuses $SYS/ publishes in loopback mode too', async () => {
    const b = await broker();
    const c = await connectTo(b.url);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('$SYS/x', 'y', { qos: 1 });
    await closed;
  });

  it('lets the acl hook narrow what the built-in rules allow', async () => {
    const b = await broker({ acl: (req) => !(req.action === 'subscribe' && req.topic === 'secret/#') });
    const c = await connectTo(b.url);
    expect(await grants(c, ['open/#', 'secret/#'])).toEqual([
      ['open/#', 1],
      ['secret/#', 128],
    ]);
  });

  it('says which port is taken when it cannot listen', async () => {
    const b = await broker();
    await expect(startEmbeddedBroker({ port: b.port, log })).rejects.toThrow(/cannot listen/);
  });
});
