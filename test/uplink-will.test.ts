import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { generateRawKeyPair } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { gatewayProcess } from './support/gateway-process.ts';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './support/mosquitto.ts';
import { createTestPki, type TestPki } from './support/pki.ts';

/**
 * The MQTT will (MQTT 3.1.1 section 3.1.2.5) is the broker's to publish when
 * the gateway vanishes without a DISCONNECT. On the uplink, Mosquitto
 * publishes the retained `offline` status the moment the kernel closes the
 * killed process's socket; with the embedded broker alone the broker dies
 * with the process and the platform keeps the last `online` (why a deployed
 * site needs an uplink).
 */
describe.skipIf(!mosquittoAvailable())('the gateway process killed with SIGKILL', () => {
  const cleanups = cleanupsAfterEach();
  let tmp: ReturnType<typeof tempDir>;
  let pki: TestPki;
  let mosquitto: MosquittoHandle;

  beforeAll(async () => {
    tmp = tempDir('vendgate-uplink-will-');
    pki = createTestPki(tmp.dir);
    mosquitto = await startMosquitto({
      tls: { caFile: pki.ca.cert, certFile: pki.server.cert, keyFile: pki.server.key },
    });
  });
  afterAll(async () => {
    await mosquitto?.stop();
    tmp?.cleanup();
  });

  /** The gateway CLI (`vendgate start --config`) as its own process, and a platform that trusts it. */
  const gatewayWith = (gatewayId: string, over: Partial<ConfigInput>) => {
    const dir = tempDir('vendgate-will-site-');
    cleanups.push(dir.cleanup);
    const keys = generateRawKeyPair();
    const proc = gatewayProcess(dir.dir, {
      gatewayId,
      dataDir: dir.dir,
      log: { level: 'warn', pretty: false },
      platform: { publicKeys: { default: keys.publicKey } },
      http: { enabled: false },
      ...over,
    });
    cleanups.push(() => proc.stop());
    const platformOn = async (brokerUrl: string) => {
      const platform = new SimPlatform({ brokerUrl, gatewayId, privateKey: keys.privateKey });
      await platform.connect();
      cleanups.push(() => platform.close());
      return platform;
    };
    return { proc, platformOn };
  };

  it('on the uplink: Mosquitto publishes the retained offline will', async () => {
    const gatewayId = `will-${process.pid}`;
    const { proc, platformOn } = gatewayWith(gatewayId, {
      broker: { embedded: { host: '127.0.0.1', port: 0, users: [] } },
      uplink: {
        url: mosquitto.tlsUrl!,
        tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
      },
    });
    // The platform is already running when the gateway starts.
    const platform = await platformOn(mosquitto.url);
    proc.start();
    await waitUntil(() => platform.lastStatus?.state === 'online', {
      timeoutMs: 30_000,
      what: 'the gateway process online on the uplink',
    });

    proc.kill('SIGKILL');
    await waitUntil(() => platform.lastStatus?.state === 'offline', {
      timeoutMs: 10_000,
      what: 'the offline will at the platform',
    });
    expect(platform.lastStatus).toMatchObject({ state: 'offline', gatewayId });

    // Retained: a platform replica that connects later learns it too.
    const late = await connectMqttAsync(mosquitto.url, { reconnectPeriod: 0 });
    cleanups.push(() => late.endAsync(true));
    const seen: { payload: string; retain: boolean }[] = [];
    late.on('message', (_t, payload, packet) =>
      seen.push({ payload: payload.toString(), retain: packet.retain }),
    );
    await late.subscribeAsync(gatewayTopics(gatewayId).status, { qos: 1 });
    await waitUntil(() => seen.length > 0, { timeoutMs: 5000, what: 'the retained status' });
    expect(seen[0]!.retain).toBe(true);
    // The will is a signed status like every other: its body says offline.
    const will = JSON.parse(seen[0]!.payload) as { body: string };
    expect(JSON.parse(will.body)).toMatchObject({ state: 'offline', gatewayId });
  });

  it('with the embedded broker alone: the broker dies with it and the platform keeps the last online', async () => {
    const gatewayId = `will-embedded-${process.pid}`;
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const { proc, platformOn } = gatewayWith(gatewayId, {
      broker: { embedded: { host: '127.0.0.1', port, users: [] } },
    });
    proc.start();
    await waitUntil(
      async () => {
        try {
          (await connectMqttAsync(url, { reconnectPeriod: 0 })).end(true);
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: 'the embedded broker of the gateway process' },
    );
    const onEmbedded = await platformOn(url);
    await waitUntil(() => onEmbedded.lastStatus?.state === 'online', { timeoutMs: 30_000, what: 'online' });

    proc.kill('SIGKILL');
    await waitUntil(() => !onEmbedded.connected, { timeoutMs: 10_000, what: 'the broker connection gone' });
    expect(onEmbedded.lastStatus?.state).toBe('online');
  });
});
