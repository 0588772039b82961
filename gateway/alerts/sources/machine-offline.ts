import type { VendingMachine } from '../../../devices/vending/port.ts';
import type { ConditionBoard } from '../../conditions/conditions.ts';
import { realSchedule, type Schedule } from './schedule.ts';

/**
 * `offline` for a machine whose controller stays unreachable longer than
 * `graceMs` (a reboot or a reconnect of the serial link is no alert), and
 * cleared when it is back online. A machine that never came online since
 * the start counts from the start. Another part may raise the same
 * condition: the board keeps one.
 */
export class MachineOfflineSource {
  readonly #board: ConditionBoard;
  readonly #machines: ReadonlyMap<string, VendingMachine>;
  readonly #graceMs: number;
  readonly #schedule: Schedule;
  readonly #pending = new Map<string, () => void>();
  readonly #detach: Array<() => void> = [];

  constructor(opts: {
    board: ConditionBoard;
    machines: ReadonlyMap<string, VendingMachine>;
    graceMs: number;
    schedule?: Schedule;
  }) {
    this.#board = opts.board;
    this.#machines = opts.machines;
    this.#graceMs = opts.graceMs;
    this.#schedule = opts.schedule ?? realSchedule;
  }

  start(): void {
    for (const [id, machine] of this.#machines) {
      const offline = (reason: string) => this.#wentOffline(id, machine, reason);
      const online = () => this.#cameOnline(id);
      machine.on('offline', offline);
      machine.on('online', online);
      this.#detach.push(() => {
        machine.off('offline', offline);
        machine.off('online', online);
      });
      if (!machine.online) this.#wentOffline(id, machine, 'not online since the gateway started');
    }
  }

  stop(): void {
    for (const d of this.#detach.splice(0)) d();
    for (const cancel of this.#pending.values()) cancel();
    this.#pending.clear();
  }

  #wentOffline(machineId: string, machine: VendingMachine, reason: string): void {
    if (this.#pending.has(machineId) || this.#board.isActive({ kind: 'offline', machineId })) return;
    const grace = this.#graceMs < 1000 ? `${this.#graceMs} ms` : `${Math.round(this.#graceMs / 1000)} s`;
    const cancel = this.#schedule(() => {
      this.#pending.delete(machineId);
      if (machine.online) return;
      this.#board.raise({
        kind: 'offline',
        machineId,
        severity: 'critical',
        detail: `machine ${machineId} offline for more than ${grace}: ${reason}`,
      });
    }, this.#graceMs);
    this.#pending.set(machineId, cancel);
  }

  #cameOnline(machineId: string): void {
    this.#pending.get(machineId)?.();
    this.#pending.delete(machineId);
    this.#board.clear({ kind: 'offline', machineId });
  }
}
