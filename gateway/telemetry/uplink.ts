/**
 * Telemetry to the platform: `machine.sensors` when a machine's door or
 * temperature changes, at most one per machine per `sensorsEveryMs` (the
 * first at once, then the latest reading of a burst when the interval has
 * passed: a thermometer that reports every 0.1 °C must not flood the
 * outbox); a door that opened or closed waits at most `doorEveryMs`
 * (a person at the machine is news, a flapping switch still bounded), and `machine.condition` for every change of the site's
 * ConditionBoard. Each is queued in its own transaction (telemetry class:
 * a full outbox drops it rather than refuse money events), then the link
 * is woken.
 */
import type { EventData, EventType } from '../../contract/events.ts';
import type { Clock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import type { MachineSensors, VendingMachine } from '../../devices/vending/port.ts';
import type { ConditionBoard, ConditionListener } from '../conditions/conditions.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';

export interface TelemetryUplinkOptions {
  machines: ReadonlyArray<Pick<VendingMachine, 'machineId' | 'on' | 'off'>>;
  board: ConditionBoard;
  db: Db;
  outbox: Pick<Outbox, 'tryAppend'>;
  notify: () => void;
  clock: Clock;
  log: Log;
  /** Default 5000 ms. */
  sensorsEveryMs?: number;
  /** Default 1000 ms. */
  doorEveryMs?: number;
}

interface Throttle {
  lastSentMono: number | undefined;
  lastSent: MachineSensors | undefined;
  pending: MachineSensors | undefined;
  timer: NodeJS.Timeout | null;
  timerDue: number;
}

export class TelemetryUplink {
  readonly #o: TelemetryUplinkOptions;
  readonly #detach: Array<() => void> = [];
  readonly #throttles = new Map<string, Throttle>();

  constructor(opts: TelemetryUplinkOptions) {
    this.#o = opts;
  }

  start(): void {
    if (this.#detach.length > 0) return;
    for (const machine of this.#o.machines) {
      const onSensors = (reading: MachineSensors) => this.#sensors(machine.machineId, reading);
      machine.on('sensors', onSensors);
      this.#detach.push(() => machine.off('sensors', onSensors));
    }
    const onChange: ConditionListener = (change) => {
      const c = change.condition;
      this.#queue('machine.condition', {
        change: change.type,
        kind: c.kind,
        ...(c.machineId !== undefined ? { machineId: c.machineId } : {}),
        ...(c.slot !== undefined ? { slot: c.slot } : {}),
        severity: c.severity,
        detail: c.detail.slice(0, 256),
        since: c.since,
        ...(change.type === 'cleared' ? { clearedAt: change.condition.clearedAt } : {}),
      });
    };
    this.#detach.push(this.#o.board.onChange(onChange));
  }

  stop(): void {
    for (const d of this.#detach.splice(0)) d();
    for (const t of this.#throttles.values()) if (t.timer) clearTimeout(t.timer);
    this.#throttles.clear();
  }

  #sensors(machineId: string, reading: MachineSensors): void {
    let t = this.#throttles.get(machineId);
    if (!t) {
      t = { lastSentMono: undefined, lastSent: undefined, pending: undefined, timer: null, timerDue: 0 };
      this.#throttles.set(machineId, t);
    }
    const throttle = t;
    const now = this.#o.clock.monoMs();
    const doorChanged = reading.doorOpen !== throttle.lastSent?.doorOpen;
    const every = doorChanged ? (this.#o.doorEveryMs ?? 1000) : (this.#o.sensorsEveryMs ?? 5000);
    const due = throttle.lastSentMono === undefined ? now : throttle.lastSentMono + every;
    if (due <= now) {
      this.#sendSensors(machineId, reading, throttle);
      return;
    }
    throttle.pending = reading;
    if (throttle.timer && throttle.timerDue <= due) return;
    if (throttle.timer) clearTimeout(throttle.timer);
    throttle.timerDue = due;
    throttle.timer = setTimeout(() => {
      throttle.timer = null;
      const latest = throttle.pending;
      if (latest) this.#sendSensors(machineId, latest, throttle);
    }, due - now);
    throttle.timer.unref();
  }

  #sendSensors(machineId: string, reading: MachineSensors, t: Throttle): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    t.pending = undefined;
    t.lastSent = reading;
    t.lastSentMono = this.#o.clock.monoMs();
    this.#queue('machine.sensors', {
      machineId,
      ...(reading.doorOpen !== undefined ? { doorOpen: reading.doorOpen } : {}),
      ...(reading.temperatureDeciC !== undefined ? { temperatureDeciC: reading.temperatureDeciC } : {}),
      at: this.#o.clock.wallMs(),
    });
  }

  #queue<T extends EventType>(type: T, data: EventData<T>): void {
    try {
      this.#o.db.transaction(() => this.#o.outbox.tryAppend(type, data))();
      this.#o.notify();
    } catch (err) {
      // A store failure must not reach the driver's event emitter or the condition board.
      this.#o.log.error({ err, type }, 'could not queue telemetry');
    }
  }
}
