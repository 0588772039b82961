// The dependencies every part of the payments plane shares, passed once.
import type { Log } from '../../core/log.ts';
import type { ProviderName } from '../providers/port.ts';
import type { Catalogue } from './catalogue.ts';
import type { PaymentsConfig } from './config.ts';
import type { Clock, PaymentsFleet, PaymentsStore, Providers } from './ports.ts';

export interface PaymentsContext {
  store: PaymentsStore;
  fleet: PaymentsFleet;
  providers: Providers;
  config: PaymentsConfig;
  catalogue: Catalogue;
  log: Log;
  now: Clock;
}

export function isProviderName(p: string): p is ProviderName {
  return p === 'wechat' || p === 'alipay';
}
