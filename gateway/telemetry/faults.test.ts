import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, FakeMachine } from '../../testing/index.ts';
import { ConditionBoard } from '../conditions/conditions.ts';
import { type MachineFaultSettings, MachineFaultWatch } from './faults.ts';

const cleanups = cleanupsAfterEach();

const SETTINGS: MachineFaultSettings = {
  doorOpenGraceMs: 120_000,
  offlineGraceMs: 60_000,
  temperature: { minDeciC: 20, maxDeciC: 80, graceMs: 300_000 },
};

function watch(settings: MachineFaultSettings = SETTINGS, online = true) {
  const clock = new ManualClock();
  const board = new ConditionBoard(clock);
  const machine = new FakeMachine('m1');
  machine.online = online;
  // A check interval long enough never to fire in a test: check() is called by hand after moving the clock.
  const faults = new MachineFaultWatch({
    board,
    clock,
    machines: [{ machine, settings }],
    log: silentLogger(),
    checkEveryMs: 3_600_000,
  });
  faults.start();
  cleanups.push(() => faults.stop());
  const kinds = () => board.active().map((c) => c.key);
  const later = (ms: number) => {
    clock.advance(ms);
    faults.check();
  };
  return { clock, board, machine, faults, kinds, later };
}

describe('machine faults', () => {
  it('raises door_open only once the door has been open past its grace, and clears it when closed', () => {
    const { machine, kinds, later, board } = watch();
    machine.emit('sensors', { doorOpen: true, temperatureDeciC: 45 });
    later(119_000);
    expect(kinds()).toEqual([]);
    later(1_000);
    expect(kinds()).toEqual(['door_open:m1:-']);
    expect(board.active()[0]).toMatchObject({ severity: 'warning', detail: 'door open for 2 min' });
    machine.emit('sensors', { doorOpen: false, temperatureDeciC: 45 });
    expect(kinds()).toEqual([]);
    expect(board.recent()[0]?.kind).toBe('door_open');
  });

  it('restarts the door grace when the door closes and opens again', () => {
    const { machine, kinds, later } = watch();
    machine.emit('sensors', { doorOpen: true });
    later(100_000);
    machine.emit('sensors', { doorOpen: false });
    machine.emit('sensors', { doorOpen: true });
    later(100_000);
    expect(kinds()).toEqual([]);
  });

  it('raises temperature after the reading stayed out of range past its grace, saying by how much', () => {
    const { machine, kinds, later, board } = watch();
    machine.emit('sensors', { temperatureDeciC: 95 });
    later(299_000);
    expect(kinds()).toEqual([]);
    // Still out of range, at another value: the grace runs on from the first reading out of range.
    machine.emit('sensors', { temperatureDeciC: 97 });
    later(1_000);
    expect(kinds()).toEqual(['temperature:m1:-']);
    expect(board.active()[0]?.detail).toBe('9.7 °C above the 8.0 °C maximum for 5 min');
    machine.emit('sensors', { temperatureDeciC: 60 });
    expect(kinds()).toEqual([]);
  });

  it('says a cabinet too cold is below its minimum', () => {
    const { machine, later, board } = watch();
    machine.emit('sensors', { temperatureDeciC: -15 });
    later(300_000);
    expect(board.active()[0]?.detail).toMatch(/^-1\.5 °C below the 2\.0 °C minimum/);
  });

  it('never raises temperature for a machine without a configured range', () => {
    const { machine, kinds, later } = watch({ doorOpenGraceMs: 1, offlineGraceMs: 1 });
    machine.emit('sensors', { temperatureDeciC: 500 });
    later(86_400_000);
    expect(kinds()).toEqual([]);
  });

  it('raises offline after the grace and clears it when the machine is back online', () => {
    const { machine, kinds, later, faults, board } = watch();
    machine.setOnline(false);
    later(59_999);
    expect(kinds()).toEqual([]);
    later(1);
    expect(kinds()).toEqual(['offline:m1:-']);
    expect(board.active()[0]).toMatchObject({ severity: 'critical' });
    expect(faults.view('m1')).toMatchObject({ online: false });
    machine.setOnline(true);
    expect(kinds()).toEqual([]);
    expect(faults.view('m1')?.online).toBe(true);
  });

  it('ignores a link hiccup shorter than the offline grace', () => {
    const { machine, kinds, later } = watch();
    machine.setOnline(false);
    later(30_000);
    machine.setOnline(true);
    later(60_000);
    expect(kinds()).toEqual([]);
  });

  it('counts a machine that never came online from the start', () => {
    const { kinds, later } = watch(SETTINGS, false);
    later(60_000);
    expect(kinds()).toEqual(['offline:m1:-']);
  });

  it('raises jam on a jammed or motor-fault vend and clears it with a dispensed vend on that slot', () => {
    const { faults, kinds } = watch();
    faults.noteOutcome('m1', { kind: 'failed', vendToken: 1, slot: 3, reason: 'jammed' });
    faults.noteOutcome('m1', {
      kind: 'failed',
      vendToken: 2,
      slot: 4,
      reason: 'motor-fault',
      detail: 'no motor',
    });
    faults.noteOutcome('m1', { kind: 'failed', vendToken: 3, slot: 5, reason: 'empty-slot' });
    expect(kinds()).toEqual(['jam:m1:3', 'jam:m1:4']);
    faults.noteOutcome('m1', { kind: 'dispensed', vendToken: 4, slot: 3 });
    expect(kinds()).toEqual(['jam:m1:4']);
  });

  it("clears every jam of a machine when its board restarts, and no other machine's", () => {
    const { faults, kinds, machine } = watch();
    faults.noteOutcome('m1', { kind: 'failed', vendToken: 1, slot: 3, reason: 'jammed' });
    faults.noteOutcome('m2', { kind: 'failed', vendToken: 2, slot: 3, reason: 'jammed' });
    machine.emit('restarted', 1, 2);
    expect(kinds()).toEqual(['jam:m2:3']);
  });

  it('shows the latest door and temperature of a machine and when it was last seen', () => {
    const { machine, faults, clock } = watch();
    machine.emit('sensors', { doorOpen: false, temperatureDeciC: 41 });
    expect(faults.view('m1')).toEqual({
      online: true,
      doorOpen: false,
      temperatureDeciC: 41,
      lastSeenAt: clock.wallMs(),
    });
    const wentOffline = clock.wallMs();
    machine.setOnline(false);
    clock.advance(5_000);
    expect(faults.view('m1')?.lastSeenAt).toBe(wentOffline);
    expect(faults.view('nope')).toBeUndefined();
  });
});
