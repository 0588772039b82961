/**
 * Tells the platform when a machine comes online or goes offline: one
 * `machine.status` event per change, queued in the outbox in its own
 * transaction, then the link is woken. Telemetry class: a full outbox drops
 * it rather than refusing money events (the link's birth message carries the
 * current state of every machine anyway).
 */
import type { Log } from '../../core/log.ts';
import type { VendingMachine } from '../../devices/vending/port.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';

/** What the reporter needs of a machine: its id and its online/offline events. */
export type ReportedMachine = Pick<VendingMachine, 'machineId' | 'on' | 'off'>;

export interface AvailabilityReporterOptions {
  machines: readonly ReportedMachine[];
  db: Db;
  outbox: Pick<Outbox, 'tryAppend'>;
  /** Wakes the platform link after an event was queued. */
  notify: () => void;
  log: Log;
}

export class AvailabilityReporter {
  readonly #o: AvailabilityReporterOptions;
  readonly #detach: Array<() => void> = [];

  constructor(opts: AvailabilityReporterOptions) {
    this.#o = opts;
  }

  /** Listens to every machine. Start it before the machines, so their first 'online' is reported. */
  start(): void {
    if (this.#detach.length > 0) return;
    for (const machine of this.#o.machines) {
      const online = () => this.#report(machine.machineId, true);
      const offline = (reason: string) => this.#report(machine.machineId, false, reason);
      machine.on('online', online);
      machine.on('offline', offline);
      this.#detach.push(() => {
        machine.off('online', online);
        machine.off('offline', offline);
      });
    }
  }

  stop(): void {
    for (const detach of this.#detach.splice(0)) detach();
  }

  #report(machineId: string, online: boolean, reason?: string): void {
    try {
      this.#o.db.transaction(() =>
        this.#o.outbox.tryAppend('machine.status', { machineId, online, reason }),
      )();
      this.#o.notify();
    } catch (err) {
      // A store failure here must not reach the driver's event emitter.
      this.#o.log.error({ err, machineId, online }, 'could not queue machine.status');
    }
  }
}
