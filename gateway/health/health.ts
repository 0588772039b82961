/**
 * What the gateway says about itself: the health report behind the REST API's
 * `/health` and `/metrics`, and the status its link republishes to the
 * platform on every (re)connect. `ok` only while the platform link is up and
 * every machine (remote-vend and cashless) answers.
 */

import type { GatewayStatus } from '../../contract/events.ts';
import type { ClockStatus } from '../clock/clock-watch.ts';
import type { OrderLedger } from '../ledger/ledger.ts';
import type { Outbox } from '../outbox/outbox.ts';

export interface DeviceAvailability {
  readonly machineId: string;
  readonly online: boolean;
}

/** The `/health` body (the REST API documents it as its Health schema). */
export interface HealthReport {
  status: 'ok' | 'degraded';
  gatewayId: string;
  version: string;
  uptimeSeconds: number;
  platform: { connected: boolean; brokerUrl: string; ackedSeq?: number; lastAckAt?: number };
  machines: Array<{ machineId: string; online: boolean }>;
  outbox: { pending: number; dropped: number; expired: number; lastSeq: number };
  orders: Record<string, number>;
  clock?: ClockStatus;
}

export interface GatewayHealthOptions {
  gatewayId: string;
  version: string;
  /** Epoch ms the gateway started. */
  startedAt: number;
  brokerUrl: string;
  link: { readonly connected: boolean; readonly ackedSeq?: number; readonly lastAckAt?: number | undefined };
  /** The machines that dispense on command. */
  machines: readonly DeviceAvailability[];
  /** The cashless readers (select-then-pay); they count for health, not for the platform's machine list. */
  readers: readonly DeviceAvailability[];
  outbox: Pick<Outbox, 'stats'>;
  ledger: Pick<OrderLedger, 'countByState'>;
  /** Below the data directory's free-space reserve the gateway takes no new orders: degraded. */
  disk?: { readonly belowReserve: boolean };
  /** The wall clock checked against the platform's signed times: a wrong clock is degraded. */
  clock?: { status(): ClockStatus };
  now?: () => number;
}

export class GatewayHealth {
  readonly #o: GatewayHealthOptions;
  readonly #now: () => number;

  constructor(opts: GatewayHealthOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  report(): HealthReport {
    const o = this.#o;
    const machines = [...o.machines, ...o.readers].map(availability);
    const s = o.outbox.stats();
    const connected = o.link.connected;
    const clock = o.clock?.status();
    const healthy =
      connected && machines.every((m) => m.online) && !o.disk?.belowReserve && clock?.ok !== false;
    return {
      status: healthy ? 'ok' : 'degraded',
      gatewayId: o.gatewayId,
      version: o.version,
      uptimeSeconds: Math.round((this.#now() - o.startedAt) / 1000),
      platform: {
        connected,
        brokerUrl: o.brokerUrl,
        ...(o.link.ackedSeq !== undefined ? { ackedSeq: o.link.ackedSeq } : {}),
        ...(o.link.lastAckAt !== undefined ? { lastAckAt: o.link.lastAckAt } : {}),
      },
      machines,
      outbox: { pending: s.pending, dropped: s.dropped, expired: s.expired, lastSeq: s.lastSeq },
      orders: o.ledger.countByState(),
      ...(clock ? { clock } : {}),
    };
  }

  /** What the link's birth message carries besides its state and the gateway id. */
  linkStatus(): Omit<GatewayStatus, 'state' | 'gatewayId'> {
    const o = this.#o;
    const { pending, dropped, expired } = o.outbox.stats();
    return {
      version: o.version,
      startedAt: o.startedAt,
      machines: [...o.machines].map(availability),
      outbox: { pending, dropped, expired },
      ...(o.clock ? { clock: (({ ok, skewMs }) => ({ ok, skewMs }))(o.clock.status()) } : {}),
    };
  }
}

function availability(d: DeviceAvailability): { machineId: string; online: boolean } {
  return { machineId: d.machineId, online: d.online };
}
