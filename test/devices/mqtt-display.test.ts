import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../contract/mqtt-client.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { MESSAGES } from '../../devices/display/messages.ts';
import {
  type DisplayState,
  displayBrokerUser,
  displayTopics,
  gatewayDisplayAcl,
  MqttPaymentDisplay,
} from '../../devices/display/mqtt-display.ts';
import type { DisplayScreen } from '../../devices/display/port.ts';
import { DisplaySim } from '../../firmware-sim/display/sim.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';

const log = silentLogger();
const GW = 'gw1';
const cleanups = cleanupsAfterEach();

const dispensing: DisplayScreen = { kind: 'dispensing', item: { name: 'Cola' } };
const done: DisplayScreen = { kind: 'done', item: { name: 'Cola' } };
const idle: DisplayScreen = {
  kind: 'idle',
  machineName: 'Lobby',
  staticQrUrl: 'https://vend.example.com/m/m1',
};

interface Site {
  broker: EmbeddedBroker;
  gateway: MqttClient;
  display: MqttPaymentDisplay;
}

async function site(): Promise<Site> {
  const broker = await startEmbeddedBroker({
    port: 0,
    log,
    users: [
      { username: 'gateway', password: 'gateway-secret', ...gatewayDisplayAcl(GW) },
      displayBrokerUser({ gatewayId: GW, displayId: 'm1', password: 'display-m1-secret' }),
      displayBrokerUser({ gatewayId: GW, displayId: 'm2', password: 'display-m2-secret' }),
    ],
    trustLoopback: false,
  });
  cleanups.push(() => broker.close());
  const gateway = await connectMqttAsync(broker.url, {
    clientId: 'gateway',
    username: 'gateway',
    password: 'gateway-secret',
    reconnectPeriod: 0,
  });
  cleanups.push(() => gateway.endAsync(true));
  const display = new MqttPaymentDisplay({ client: gateway, gatewayId: GW, locales: { m1: 'en' }, log });
  await display.start();
  return { broker, gateway, display };
}

async function sim(
  s: Site,
  displayId: string,
  password = `display-${displayId}-secret`,
): Promise<DisplaySim> {
  const d = new DisplaySim({
    url: s.broker.url,
    gatewayId: GW,
    displayId,
    username: `display-${displayId}`,
    password,
    log,
  });
  cleanups.push(() => d.stop());
  await d.start();
  return d;
}

const shows = (seq: number) => (st: DisplayState) => st.online && st.seq === seq && !st.error;

describe('the MQTT payment display and its simulator on the embedded broker', () => {
  it('gives each display a broker user that may only read its own render topic and write its own state', () => {
    expect(displayBrokerUser({ gatewayId: GW, displayId: 'm1', password: 'display-m1-secret' })).toEqual({
      username: 'display-m1',
      password: 'display-m1-secret',
      subscribe: ['vendgate/v1/gw1/display/m1/render'],
      publish: ['vendgate/v1/gw1/display/m1/state'],
    });
    expect(() => displayBrokerUser({ gatewayId: GW, displayId: 'm1', password: 'short' })).toThrow(/8\+/);
    expect(() => displayBrokerUser({ gatewayId: GW, displayId: '+', password: 'long-enough' })).toThrow();
  });

  it('shows a retained screen to a display that connects later and acknowledges it on its state topic', async () => {
    const s = await site();
    await s.display.show('m1', idle);
    const seq = s.display.current('m1')!.seq;
    const d = await sim(s, 'm1');
    const state = await s.display.waitForState('m1', shows(seq));
    expect(state).toMatchObject({ displayId: 'm1', online: true, kind: 'idle', locale: 'en' });
    expect(d.current?.screen).toEqual(idle);
    expect(d.texts?.title).toBe(MESSAGES.en.idleTitle);
  });

  it('follows every screen in order and in the display language', async () => {
    const s = await site();
    const d = await sim(s, 'm1');
    const seen: string[] = [];
    d.on('render', (cmd) => seen.push(`${cmd.locale}:${cmd.screen.kind}`));
    await s.display.show('m1', dispensing);
    await s.display.show('m1', done);
    await s.display.setLocale('m1', 'ja');
    await s.display.waitForState('m1', shows(s.display.current('m1')!.seq));
    expect(seen).toEqual(['en:dispensing', 'en:done', 'ja:done']);
    expect(d.texts?.title).toBe(MESSAGES.ja.doneTitle);
  });

  it('refuses an invalid render command, keeps the previous screen and reports DisplayCommandInvalid', async () => {
    const s = await site();
    const d = await sim(s, 'm1');
    await s.display.show('m1', done);
    const good = s.display.current('m1')!.seq;
    await s.display.waitForState('m1', shows(good));
    const bad = {
      displayId: 'm1',
      seq: good + 1,
      locale: 'en',
      at: 1,
      screen: { kind: 'failed', refund: { amount: -1, currency: 'CNY' }, reason: 'jammed' },
    };
    await s.gateway.publishAsync(displayTopics(GW, 'm1').render, JSON.stringify(bad), {
      qos: 1,
      retain: true,
    });
    const state = await s.display.waitForState('m1', (st) => st.error !== undefined);
    expect(state.error?.code).toBe(ErrorCode.DisplayCommandInvalid);
    expect(state.error?.message).toContain('screen.refund.amount');
    expect(state.seq).toBe(good);
    expect(d.current?.screen).toEqual(done);
  });

  it('validates screens before publishing anything', async () => {
    const s = await site();
    await expectVendgateError(
      s.display.show('m1', { kind: 'done', item: { name: '' } } as DisplayScreen),
      ErrorCode.DisplayScreenInvalid,
    );
    expect(s.display.current('m1')).toBeUndefined();
  });

  it("does not let a display subscribe to another display's render topic or to the whole tree", async () => {
    const s = await site();
    const d = await sim(s, 'm1');
    for (const filter of [
      displayTopics(GW, 'm2').render,
      'vendgate/v1/gw1/display/+/render',
      'vendgate/v1/#',
    ]) {
      const granted = await d.client.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g.map((x) => x.qos),
        (e: { packet?: { granted?: number[] } }) => e.packet?.granted ?? [],
      );
      expect(granted, filter).toEqual([128]);
    }
  });

  it("does not let a display publish another display's state or any render command", async () => {
    const s = await site();
    const m2 = await sim(s, 'm2');
    await s.display.waitForState('m2', (st) => st.online);
    const m1 = await sim(s, 'm1');
    const forged: DisplayState = { displayId: 'm2', online: false, at: 1 };
    const closed = new Promise<void>((r) => m1.client.once('close', () => r()));
    m1.client.publish(displayTopics(GW, 'm2').state, JSON.stringify(forged), { qos: 1 });
    await closed;
    // The broker dropped the connection instead of forwarding; m2 is still reported online.
    await s.display.show('m2', done);
    const st = await s.display.waitForState('m2', shows(s.display.current('m2')!.seq));
    expect(st.online).toBe(true);
    expect(m2.current?.screen).toEqual(done);
  });

  it('refuses a display with a wrong password', async () => {
    const s = await site();
    const err = await sim(s, 'm1', 'not-the-password').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/bad username or password|Not authorized|Bad User Name/i);
  });

  it('reports the display offline when it stops', async () => {
    const s = await site();
    const d = await sim(s, 'm1');
    await s.display.waitForState('m1', (st) => st.online);
    await d.stop();
    const st = await s.display.waitForState('m1', (x) => !x.online);
    expect(st.displayId).toBe('m1');
  });
});
