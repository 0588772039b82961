/**
 * The products a machine offers, for the phone page and to check a price:
 * from the platform config's catalogue, then as each gateway reports it.
 * A gateway's `catalogue.changed` carries the machine's whole catalogue
 * after a change (price, product, enabled slots), so the latest one by seq
 * replaces the machine's products; on start the stored ones are replayed.
 * (A gateway's retained status lists its machines and whether they are
 * online, not their products, so the status only adds availability.)
 */
import type { EventData } from '../../contract/events.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { FleetEventHandler } from '../fleet/port.ts';
import type { EventRepo } from '../store/port.ts';
import type { PaymentsConfig } from './config.ts';

/** Stored events read per step when replaying a gateway's catalogue changes. */
const REPLAY_STEP = 500;

export interface Product {
  slot: number;
  name: string;
  price: Money;
}

export interface MachineCatalogue {
  gatewayId: string;
  machineId: string;
  name: string;
  products: Product[];
  /** pay-first: the phone page sells a credit and the customer chooses on the machine. */
  mode: 'choose-first' | 'pay-first';
  /** pay-first: a configured credit; else the highest price (creditOf). */
  credit?: Money;
}

/**
 * The credit a pay-first machine sells: the configured one, else its
 * highest price now (every item is affordable; the gateway refunds the
 * rest exactly). Undefined for a choose-first machine or one with no
 * priced product.
 */
export function creditOf(m: MachineCatalogue): Money | undefined {
  if (m.mode !== 'pay-first') return undefined;
  if (m.credit) return m.credit;
  let best: Money | undefined;
  for (const p of m.products) if (!best || p.price.amount > best.amount) best = p.price;
  return best && best.amount > 0 ? { ...best } : undefined;
}

export class Catalogue {
  readonly #machines = new Map<string, MachineCatalogue>();
  /** Per machine, the seq of the gateway event its products come from. */
  readonly #appliedSeq = new Map<string, number>();

  constructor(config: Pick<PaymentsConfig, 'catalogue'>) {
    for (const gw of config.catalogue) {
      for (const m of gw.machines) {
        this.#machines.set(key(gw.gatewayId, m.machineId), {
          gatewayId: gw.gatewayId,
          machineId: m.machineId,
          name: m.name ?? m.machineId,
          products: m.products.map((p) => ({
            slot: p.slot,
            name: p.name,
            price: { amount: p.price, currency: m.currency },
          })),
          mode: m.mode ?? 'choose-first',
          ...(m.credit !== undefined ? { credit: { amount: m.credit, currency: m.currency } } : {}),
        });
      }
    }
  }

  /**
   * Replaces a configured machine's products with what its gateway applied:
   * the enabled slots that have a price. Ignored when an event at or after
   * `seq` was applied already, or the machine is not in the config (the
   * phone page sells only configured machines). Returns whether it applied.
   */
  apply(gatewayId: string, seq: number, change: EventData<'catalogue.changed'>): boolean {
    const k = key(gatewayId, change.machineId);
    const m = this.#machines.get(k);
    if (!m || (this.#appliedSeq.get(k) ?? 0) >= seq) return false;
    this.#appliedSeq.set(k, seq);
    m.products = change.slots.flatMap((s) =>
      s.enabled && s.price ? [{ slot: s.slot, name: s.product ?? `#${s.slot}`, price: s.price }] : [],
    );
    return true;
  }

  /** The fleet handler that follows `catalogue.changed` (register with fleet.onEvent). */
  handler(log?: Log): FleetEventHandler {
    return (event) => {
      if (this.apply(event.gatewayId, event.seq, event.data as EventData<'catalogue.changed'>))
        log?.info(
          { gatewayId: event.gatewayId, machineId: (event.data as { machineId: string }).machineId },
          'catalogue changed by its gateway',
        );
    };
  }

  /** Replays the stored `catalogue.changed` events of every configured gateway, oldest first. */
  async restore(events: Pick<EventRepo, 'list'>): Promise<number> {
    let applied = 0;
    const gateways = new Set([...this.#machines.values()].map((m) => m.gatewayId));
    for (const gatewayId of gateways) {
      let afterSeq = 0;
      for (;;) {
        const rows = await events.list(gatewayId, {
          afterSeq,
          limit: REPLAY_STEP,
          type: 'catalogue.changed',
        });
        for (const r of rows) {
          if (r.problem === null && this.apply(gatewayId, r.seq, r.data as EventData<'catalogue.changed'>))
            applied++;
          afterSeq = Math.max(afterSeq, r.seq);
        }
        if (rows.length < REPLAY_STEP) break;
      }
    }
    return applied;
  }

  machine(gatewayId: string, machineId: string): MachineCatalogue | undefined {
    return this.#machines.get(key(gatewayId, machineId));
  }

  product(gatewayId: string, machineId: string, slot: number): Product | undefined {
    return this.machine(gatewayId, machineId)?.products.find((p) => p.slot === slot);
  }

  machines(): MachineCatalogue[] {
    return [...this.#machines.values()];
  }
}

function key(gatewayId: string, machineId: string): string {
  return `${gatewayId}\u0000${machineId}`;
}
