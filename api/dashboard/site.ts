/**
 * The dashboard's site facts from the gateway's config: the time zone, the
 * locale the page falls back to (the first machine's display locale: the
 * language the site's customers are served in), and product names by
 * machine and slot, which orders do not carry.
 */
import type { DashboardLocale } from './i18n.ts';
import type { DashboardSite } from './page.ts';

/** The part of the gateway config the dashboard reads (any driver's machine entry fits). */
export interface SiteConfig {
  gatewayId: string;
  timeZone: string;
  machines: ReadonlyArray<{
    id: string;
    display?: { locale?: DashboardLocale };
    slots?: ReadonlyArray<{ slot: number; name?: string | undefined }>;
  }>;
}

export function dashboardSite(config: SiteConfig): DashboardSite {
  const products: Record<string, Record<number, string>> = {};
  for (const m of config.machines) {
    const names: Record<number, string> = {};
    for (const s of m.slots ?? []) if (s.name) names[s.slot] = s.name;
    products[m.id] = names;
  }
  return {
    gatewayId: config.gatewayId,
    timeZone: config.timeZone,
    locale: config.machines[0]?.display?.locale ?? 'zh-CN',
    products,
  };
}
