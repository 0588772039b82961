/**
 * What the payments plane needs from the rest of the platform, as narrow
 * interfaces: the store's order, notification, refund and command
 * repositories in transactions, the fleet link's event/request subscription
 * and command sending, and the provider adapters by name. The platform's
 * real store and fleet link satisfy these structurally; tests may pass
 * anything that does.
 */
import type { FleetLink } from '../fleet/port.ts';
import type { PaymentProvider, ProviderName } from '../providers/port.ts';
import type { Store } from '../store/port.ts';

export type PaymentsStore = Pick<
  Store,
  | 'orders'
  | 'notifications'
  | 'refunds'
  | 'commands'
  | 'gateways'
  | 'events'
  | 'tx'
  | 'payCreatedOrder'
  | 'getOrderBatched'
  | 'hashPayerId'
>;

export type PaymentsFleet = Pick<
  FleetLink,
  'onEvent' | 'onRequest' | 'sendCommand' | 'prepareCommand' | 'resendCommand'
>;

export type Providers = Partial<Record<ProviderName, PaymentProvider>>;

export type Clock = () => number;
