import { describe, expect, it } from 'vitest';
import { dashboardSite } from './site.ts';

describe("the dashboard's site facts", () => {
  it('take the time zone and gateway id from the config, the first machine’s display locale, and slot names by machine', () => {
    expect(
      dashboardSite({
        gatewayId: 'lobby',
        timeZone: 'Europe/Berlin',
        machines: [
          { id: 'm1', display: { locale: 'de' }, slots: [{ slot: 1, name: 'Cola' }, { slot: 2 }] },
          { id: 'c1', display: { locale: 'ja' }, slots: [{ slot: 3, name: 'お茶' }] },
        ],
      }),
    ).toEqual({
      gatewayId: 'lobby',
      timeZone: 'Europe/Berlin',
      locale: 'de',
      products: { m1: { 1: 'Cola' }, c1: { 3: 'お茶' } },
    });
  });

  it('fall back to zh-CN on a site with no machines', () => {
    expect(dashboardSite({ gatewayId: 'g', timeZone: 'Asia/Shanghai', machines: [] }).locale).toBe('zh-CN');
  });
});
