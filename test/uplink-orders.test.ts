import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { displayTopics } from '../devices/display/mqtt-display.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './support/mosquitto.ts';
import { createTestPki, type TestPki } from './support/pki.ts';
import { startUplinkSite } from './support/uplink-site.ts';

/**
 * Paid orders through the platform link on each kind of uplink, with a
 * slot-board simulator on a pty: Mosquitto requiring client certificates
 * over mqtts:// (certificate files) and over wss:// (PEM text from the
 * environment, one line each with literal \n, as a container's env file
 * carries it), and no uplink at all, the demo's embedded broker serving both.
 * With an uplink the embedded broker keeps serving the site's MQTT display.
 */
const DISPLAY_PASSWORD = 'display-secret-1';

type Transport =
  | 'embedded broker alone'
  | 'mqtts with certificate files'
  | 'wss with PEM from the environment';

describe.skipIf(!mosquittoAvailable())('paid orders over the platform link', () => {
  const cleanups = cleanupsAfterEach();
  let tmp: ReturnType<typeof tempDir>;
  let pki: TestPki;
  let mosquitto: MosquittoHandle;

  beforeAll(async () => {
    tmp = tempDir('vendgate-uplink-');
    pki = createTestPki(tmp.dir);
    mosquitto = await startMosquitto({
      tls: { caFile: pki.ca.cert, certFile: pki.server.cert, keyFile: pki.server.key, websockets: true },
    });
  });
  afterAll(async () => {
    await mosquitto?.stop();
    tmp?.cleanup();
  });

  const oneLine = (path: string) => readFileSync(path, 'utf8').trim().replace(/\n/g, '\\n');

  const site = (transport: Transport) => {
    const dir = tempDir('vendgate-uplink-site-');
    cleanups.push(dir.cleanup);
    if (transport === 'embedded broker alone') return startUplinkSite({ dir: dir.dir, cleanups });
    const viaEnv = transport === 'wss with PEM from the environment';
    const uplink: ConfigInput['uplink'] = viaEnv
      ? { url: `${mosquitto.wssUrl}/` }
      : {
          url: mosquitto.tlsUrl!,
          tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
        };
    return startUplinkSite({
      dir: dir.dir,
      cleanups,
      platformUrl: mosquitto.url,
      displayPassword: DISPLAY_PASSWORD,
      config: { uplink },
      ...(viaEnv
        ? {
            env: {
              VENDGATE_UPLINK__TLS__CA_PEM: oneLine(pki.ca.cert),
              VENDGATE_UPLINK__TLS__CERT_PEM: oneLine(pki.client.cert),
              VENDGATE_UPLINK__TLS__KEY_PEM: oneLine(pki.client.key),
            },
          }
        : {}),
    });
  };

  it.each<Transport>([
    'mqtts with certificate files',
    'wss with PEM from the environment',
    'embedded broker alone',
  ])('%s: the platform sees the gateway online and every paid order dispensed once', async (transport) => {
    const s = await site(transport);
    await waitUntil(() => s.platform.lastStatus?.state === 'online', {
      timeoutMs: 20_000,
      what: 'the platform seeing the gateway online',
    });
    const orders = [1, 2, 3].map((slot) => ({
      orderId: `ord-${transport.length}-${slot}-${Date.now().toString(36)}`,
      machineId: 'm1',
      slot,
      price: { amount: 350, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 3600_000,
    }));
    for (const o of orders) await s.platform.placeOrder(o);
    await waitUntil(() => s.platform.eventsOfType('vend.succeeded').length === orders.length, {
      timeoutMs: 20_000,
      what: 'vend.succeeded for every order at the platform',
    });
    const succeeded = s.platform
      .eventsOfType('vend.succeeded')
      .map((e) => (e.data as { orderId: string }).orderId);
    expect(succeeded.sort()).toEqual(orders.map((o) => o.orderId).sort());
    expect(s.board?.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(3);
    // Events the gateway published before the platform subscribed (its boards' first sensor
    // readings) come again with the resend: the gap closes, nothing is lost.
    await waitUntil(() => s.platform.seqGaps().length === 0, { timeoutMs: 15_000, what: 'no gap left' });

    if (transport === 'embedded broker alone') {
      expect(s.gw.uplinkUrl).toBeUndefined();
      expect(s.gw.health().platform.brokerUrl).toBe(s.gw.brokerUrl);
      return;
    }
    // The link lives on the uplink; the local broker is the embedded one.
    expect(s.gw.broker).toBeDefined();
    expect(s.gw.health().platform).toMatchObject({ connected: true, brokerUrl: s.gw.uplinkUrl });
    expect(s.gw.uplinkUrl).not.toBe(s.gw.brokerUrl);
    // ...and it still serves the machine's MQTT display, with the display's own login and ACL.
    const display = await connectMqttAsync(s.gw.brokerUrl, {
      username: 'display-m1',
      clientId: 'display-m1',
      password: DISPLAY_PASSWORD,
      reconnectPeriod: 0,
    });
    cleanups.push(() => display.endAsync(true));
    const renders: string[] = [];
    display.on('message', (_topic, payload) => renders.push(payload.toString()));
    await display.subscribeAsync(displayTopics(s.gatewayId, 'm1').render, { qos: 1 });
    // The display follows the machine's own orders (dispensing, done) and then goes back to idle.
    const idle = () =>
      renders.some((r) => {
        const screen = (JSON.parse(r) as { screen?: { kind?: string; machineName?: string } }).screen;
        return screen?.kind === 'idle' && screen.machineName === 'Machine m1';
      });
    await waitUntil(idle, { timeoutMs: 20_000, what: 'the idle screen rendered on the local broker' });
  });
});
