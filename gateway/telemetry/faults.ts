/**
 * Machine faults as site conditions (gateway/conditions): what each
 * machine's controller reports becomes `offline`, `jam`, `door_open` and
 * `temperature`, raised and cleared here.
 *
 * - offline: the machine's `offline` event, still offline after its grace
 *   (a short link hiccup is no fault); cleared on `online`. A machine that
 *   never came online since the start counts from the start.
 * - jam: a vend on a slot failed jammed or with a motor fault; cleared by a
 *   later dispensed vend on that slot or by a board restart (a reset, or a
 *   power cycle by whoever cleared the spiral).
 * - door_open: the door open longer than its grace; cleared when closed.
 * - temperature: outside the machine's configured range for longer than its
 *   grace; cleared when back inside.
 *
 * Graces are measured on the monotonic clock (core/clock.ts): a wall clock
 * set at boot must not raise or hide a fault. `check()` compares them; a
 * timer calls it every `checkEveryMs`, and every event clears at once.
 */
import type { Clock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import type { MachineSensors, VendingMachine, VendOutcome } from '../../devices/vending/port.ts';
import type { ConditionBoard } from '../conditions/conditions.ts';

export interface MachineFaultSettings {
  doorOpenGraceMs: number;
  offlineGraceMs: number;
  temperature?: { minDeciC: number; maxDeciC: number; graceMs: number } | undefined;
}

export type WatchedMachine = Pick<VendingMachine, 'machineId' | 'online' | 'on' | 'off'>;

export interface MachineFaultWatchOptions {
  board: ConditionBoard;
  clock: Clock;
  machines: ReadonlyArray<{ machine: WatchedMachine; settings: MachineFaultSettings }>;
  log: Log;
  /** How often graces are compared; default 1000 ms. */
  checkEveryMs?: number;
}

/** What the site knows of a machine now, for the operator (GET /api/machines). */
export interface MachineView {
  online: boolean;
  doorOpen?: boolean;
  temperatureDeciC?: number;
  /** Wall ms: now while online, else when it was last online; absent when it never was. */
  lastSeenAt?: number;
}

interface Watched {
  machine: WatchedMachine;
  settings: MachineFaultSettings;
  offlineSince: number | undefined;
  offlineReason: string;
  doorOpenSince: number | undefined;
  temperatureOutSince: number | undefined;
  sensors: MachineSensors;
  lastOnlineWall: number | undefined;
  detach: () => void;
}

export class MachineFaultWatch {
  readonly #o: MachineFaultWatchOptions;
  readonly #machines = new Map<string, Watched>();
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: MachineFaultWatchOptions) {
    this.#o = opts;
  }

  /** Listens to every machine. Start it before the machines, so their first events are seen. */
  start(): void {
    if (this.#timer) return;
    const now = this.#o.clock.monoMs();
    for (const { machine, settings } of this.#o.machines) {
      const w: Watched = {
        machine,
        settings,
        offlineSince: machine.online ? undefined : now,
        offlineReason: 'not online since the gateway started',
        doorOpenSince: undefined,
        temperatureOutSince: undefined,
        sensors: {},
        lastOnlineWall: machine.online ? this.#o.clock.wallMs() : undefined,
        detach: () => {},
      };
      const online = () => this.#online(w);
      const offline = (reason: string) => this.#offline(w, reason);
      const sensors = (reading: MachineSensors) => this.noteSensors(machine.machineId, reading);
      const restarted = () => this.#clearJams(machine.machineId);
      machine.on('online', online);
      machine.on('offline', offline);
      machine.on('sensors', sensors);
      machine.on('restarted', restarted);
      w.detach = () => {
        machine.off('online', online);
        machine.off('offline', offline);
        machine.off('sensors', sensors);
        machine.off('restarted', restarted);
      };
      this.#machines.set(machine.machineId, w);
    }
    this.#timer = setInterval(() => this.check(), this.#o.checkEveryMs ?? 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const w of this.#machines.values()) w.detach();
    this.#machines.clear();
  }

  /** Every vend outcome a controller reported (VendRunner's onOutcome). */
  noteOutcome(machineId: string, outcome: VendOutcome): void {
    const { board } = this.#o;
    if (outcome.kind === 'dispensed') {
      board.clear({ kind: 'jam', machineId, slot: outcome.slot });
      return;
    }
    if (outcome.reason !== 'jammed' && outcome.reason !== 'motor-fault') return;
    const what =
      outcome.reason === 'jammed' ? 'jammed' : `motor fault${outcome.detail ? ` (${outcome.detail})` : ''}`;
    board.raise({
      kind: 'jam',
      machineId,
      slot: outcome.slot,
      severity: 'critical',
      detail: `slot ${outcome.slot}: ${what}`,
    });
  }

  /** A machine's sensors reading (its `sensors` event). */
  noteSensors(machineId: string, reading: MachineSensors): void {
    const w = this.#machines.get(machineId);
    if (!w) return;
    const now = this.#o.clock.monoMs();
    w.sensors = { ...reading };
    if (reading.doorOpen === true) w.doorOpenSince ??= now;
    else w.doorOpenSince = undefined;
    const range = w.settings.temperature;
    const t = reading.temperatureDeciC;
    if (range && t !== undefined && (t < range.minDeciC || t > range.maxDeciC)) w.temperatureOutSince ??= now;
    else w.temperatureOutSince = undefined;
    this.check();
  }

  /** Compares every grace with the monotonic clock: raises what lasted too long, clears what ended. */
  check(): void {
    const now = this.#o.clock.monoMs();
    for (const w of this.#machines.values()) this.#checkOne(w, now);
  }

  /** What is known of a machine now; undefined for one not watched. */
  view(machineId: string): MachineView | undefined {
    const w = this.#machines.get(machineId);
    if (!w) return undefined;
    const online = w.machine.online;
    const view: MachineView = { online };
    if (w.sensors.doorOpen !== undefined) view.doorOpen = w.sensors.doorOpen;
    if (w.sensors.temperatureDeciC !== undefined) view.temperatureDeciC = w.sensors.temperatureDeciC;
    const seen = online ? this.#o.clock.wallMs() : w.lastOnlineWall;
    if (seen !== undefined) view.lastSeenAt = seen;
    return view;
  }

  #online(w: Watched): void {
    w.offlineSince = undefined;
    w.lastOnlineWall = this.#o.clock.wallMs();
    this.#checkOne(w, this.#o.clock.monoMs());
  }

  #offline(w: Watched, reason: string): void {
    w.offlineSince ??= this.#o.clock.monoMs();
    w.offlineReason = reason;
    w.lastOnlineWall = this.#o.clock.wallMs();
    this.#checkOne(w, this.#o.clock.monoMs());
  }

  #checkOne(w: Watched, now: number): void {
    const { board } = this.#o;
    const machineId = w.machine.machineId;
    const s = w.settings;
    const offlineFor = w.offlineSince === undefined ? undefined : now - w.offlineSince;
    board.set(
      {
        kind: 'offline',
        machineId,
        severity: 'critical',
        detail: `offline for ${duration(offlineFor ?? 0)}: ${w.offlineReason}`,
      },
      offlineFor !== undefined && offlineFor >= s.offlineGraceMs,
    );
    const openFor = w.doorOpenSince === undefined ? undefined : now - w.doorOpenSince;
    board.set(
      {
        kind: 'door_open',
        machineId,
        severity: 'warning',
        detail: `door open for ${duration(openFor ?? 0)}`,
      },
      openFor !== undefined && openFor >= s.doorOpenGraceMs,
    );
    const range = s.temperature;
    const outFor = w.temperatureOutSince === undefined ? undefined : now - w.temperatureOutSince;
    const t = w.sensors.temperatureDeciC;
    const detail =
      range && t !== undefined
        ? t > range.maxDeciC
          ? `${deg(t)} above the ${deg(range.maxDeciC)} maximum for ${duration(outFor ?? 0)}`
          : `${deg(t)} below the ${deg(range.minDeciC)} minimum for ${duration(outFor ?? 0)}`
        : 'temperature back in range';
    board.set(
      { kind: 'temperature', machineId, severity: 'critical', detail },
      range !== undefined && outFor !== undefined && outFor >= range.graceMs,
    );
  }

  #clearJams(machineId: string): void {
    for (const c of this.#o.board.active())
      if (c.kind === 'jam' && c.machineId === machineId) this.#o.board.clear(c);
  }
}

function deg(deciC: number): string {
  return `${(deciC / 10).toFixed(1)} °C`;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
