import { describe, expect, it } from 'vitest';
import { FakeMachine } from '../../../testing/fake-machine.ts';
import { ConditionBoard } from '../../conditions/conditions.ts';
import { MachineOfflineSource } from './machine-offline.ts';
import type { Schedule } from './schedule.ts';

/** A schedule the test runs by hand: no timing in a unit test. */
function manualSchedule() {
  const due: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const schedule: Schedule = (fn, ms) => {
    const entry = { fn, ms, cancelled: false };
    due.push(entry);
    return () => {
      entry.cancelled = true;
    };
  };
  const fire = () => {
    for (const e of due.splice(0)) if (!e.cancelled) e.fn();
  };
  return { schedule, due, fire };
}

function setup(machines: FakeMachine[]) {
  const board = new ConditionBoard({ wallMs: () => 1 });
  const timers = manualSchedule();
  const source = new MachineOfflineSource({
    board,
    machines: new Map(machines.map((m) => [m.machineId, m])),
    graceMs: 30_000,
    schedule: timers.schedule,
  });
  source.start();
  return { board, timers, source };
}

describe('the machine offline source', () => {
  it('raises offline when a machine stays offline past the grace, and online clears it', () => {
    const m1 = new FakeMachine('m1');
    const { board, timers } = setup([m1]);
    m1.setOnline(false);
    expect(timers.due.map((d) => d.ms)).toEqual([30_000]);
    expect(board.isActive({ kind: 'offline', machineId: 'm1' })).toBe(false);
    timers.fire();
    expect(board.active()).toMatchObject([
      {
        kind: 'offline',
        machineId: 'm1',
        severity: 'critical',
        detail: 'machine m1 offline for more than 30 s: test',
      },
    ]);
    m1.setOnline(true);
    expect(board.active()).toEqual([]);
  });

  it('raises nothing for a machine back online within the grace', () => {
    const m1 = new FakeMachine('m1');
    const { board, timers } = setup([m1]);
    m1.setOnline(false);
    m1.setOnline(true);
    timers.fire();
    expect(board.active()).toEqual([]);
    expect(board.recent()).toEqual([]);
  });

  it('counts a machine that is not online at the start from the start', () => {
    const m2 = new FakeMachine('m2');
    m2.online = false;
    const { board, timers } = setup([m2]);
    timers.fire();
    expect(board.active().map((c) => c.key)).toEqual(['offline:m2:-']);
  });

  it('stops listening and cancels its timers when stopped', () => {
    const m1 = new FakeMachine('m1');
    const { board, timers, source } = setup([m1]);
    m1.setOnline(false);
    source.stop();
    timers.fire();
    m1.setOnline(false);
    expect(board.active()).toEqual([]);
    expect(m1.listenerCount('offline')).toBe(0);
  });
});
