import { describe, expect, it } from 'vitest';
import { Health } from '../../api/schemas.ts';
import { GatewayStatus } from '../../contract/events.ts';
import { ManualClock } from '../../core/clock.ts';
import { ClockWatch } from '../clock/clock-watch.ts';
import { GatewayHealth, type GatewayHealthOptions } from './health.ts';

function rig(over: Partial<GatewayHealthOptions> = {}) {
  const link = { connected: true };
  const m1 = { machineId: 'm1', online: true };
  const c1 = { machineId: 'c1', online: true };
  const health = new GatewayHealth({
    gatewayId: 'gw-7',
    version: '1.2.3',
    startedAt: 1_000_000,
    brokerUrl: 'mqtt://127.0.0.1:1883',
    link,
    machines: [m1],
    readers: [c1],
    outbox: { stats: () => ({ pending: 4, critical: 2, dropped: 1, expired: 3, lastSeq: 40 }) },
    ledger: { countByState: () => ({ dispensed: 7, received: 1 }) },
    now: () => 1_000_000 + 61_400,
    ...over,
  });
  return { health, link, m1, c1 };
}

describe('the gateway health report', () => {
  it('is ok with every device online and the platform connected, and matches the API schema', () => {
    const { health } = rig();
    const r = health.report();
    expect(r).toEqual({
      status: 'ok',
      gatewayId: 'gw-7',
      version: '1.2.3',
      uptimeSeconds: 61,
      platform: { connected: true, brokerUrl: 'mqtt://127.0.0.1:1883' },
      machines: [
        { machineId: 'm1', online: true },
        { machineId: 'c1', online: true },
      ],
      outbox: { pending: 4, dropped: 1, expired: 3, lastSeq: 40 },
      orders: { dispensed: 7, received: 1 },
    });
    expect(Health.parse(r)).toEqual(r);
  });

  it("reports the platform's ack watermark and the time of its last ack, as the schema allows", () => {
    const { health } = rig({ link: { connected: true, ackedSeq: 38, lastAckAt: 1_050_000 } });
    const r = health.report();
    expect(r.platform).toEqual({
      connected: true,
      brokerUrl: 'mqtt://127.0.0.1:1883',
      ackedSeq: 38,
      lastAckAt: 1_050_000,
    });
    expect(Health.parse(r)).toEqual(r);
  });

  it('is degraded while the platform link is down', () => {
    const { health, link } = rig();
    link.connected = false;
    expect(health.report()).toMatchObject({ status: 'degraded', platform: { connected: false } });
  });

  it('is degraded while a cashless reader is offline, even with every vending machine online', () => {
    const { health, c1 } = rig();
    c1.online = false;
    expect(health.report().status).toBe('degraded');
  });

  it('gives the link the vending machines and outbox counts for its birth message', () => {
    const { health, m1 } = rig();
    m1.online = false;
    const s = health.linkStatus();
    expect(s).toEqual({
      version: '1.2.3',
      startedAt: 1_000_000,
      machines: [{ machineId: 'm1', online: false }],
      outbox: { pending: 4, dropped: 1, expired: 3 },
    });
    expect(GatewayStatus.parse({ state: 'online', gatewayId: 'gw-7', ...s })).toMatchObject(s);
  });

  it('is degraded, says why, and tells the platform when the wall clock disagrees with the signed command times', () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 12));
    const watch = new ClockWatch({ maxSkewMs: 30_000, clock });
    const { health } = rig({ clock: watch });
    watch.observe(clock.wallMs());
    expect(health.report().status).toBe('ok');
    clock.setWall(clock.wallMs() - 5 * 60_000); // set back five minutes, as after a boot without RTC
    const r = health.report();
    expect(r.status).toBe('degraded');
    expect(r.clock).toMatchObject({ ok: false, skewMs: -300_000 });
    expect(r.clock?.message).toContain('behind');
    expect(Health.parse(r)).toEqual(r);
    const status = { state: 'online' as const, gatewayId: 'gw-7', ...health.linkStatus() };
    expect(status.clock).toEqual({ ok: false, skewMs: -300_000 });
    expect(GatewayStatus.parse(status)).toEqual(status);
  });
});
