/**
 * The products a machine offers, for the phone page and to check a price:
 * from the platform config's catalogue. (A gateway's retained status lists
 * its machines and whether they are online, not their products, so the
 * status only adds availability.)
 */
import type { Money } from '../../core/money.ts';
import type { PaymentsConfig } from './config.ts';

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
}

export class Catalogue {
  readonly #machines = new Map<string, MachineCatalogue>();

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
        });
      }
    }
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
