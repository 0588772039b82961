import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConditionKind, EventSchemas } from '../../contract/events.ts';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, FakeMachine, tempDir, waitUntil } from '../../testing/index.ts';
import { CONDITION_KINDS, ConditionBoard } from '../conditions/conditions.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { TelemetryUplink } from './uplink.ts';

const cleanups = cleanupsAfterEach();

function uplink(sensorsEveryMs: number, doorEveryMs = sensorsEveryMs) {
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'uplink.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const clock = new ManualClock();
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
  const board = new ConditionBoard(clock);
  const machine = new FakeMachine('m1');
  let notified = 0;
  const u = new TelemetryUplink({
    machines: [machine],
    board,
    db,
    outbox,
    notify: () => notified++,
    clock,
    log: silentLogger(),
    sensorsEveryMs,
    doorEveryMs,
  });
  u.start();
  cleanups.push(() => u.stop());
  const events = (type: string) =>
    outbox
      .pendingAfter(0, 1000)
      .filter((r) => r.type === type)
      .map((r) => (JSON.parse(r.envelope) as { data: Record<string, unknown> }).data);
  return { clock, board, machine, events, notified: () => notified };
}

describe('telemetry to the platform', () => {
  it('sends the first sensors reading at once and only the latest of a burst after the interval', async () => {
    const { machine, events, clock, notified } = uplink(50);
    machine.emit('sensors', { doorOpen: false, temperatureDeciC: 45 });
    expect(events('machine.sensors')).toEqual([
      { machineId: 'm1', doorOpen: false, temperatureDeciC: 45, at: clock.wallMs() },
    ]);
    expect(notified()).toBe(1);
    machine.emit('sensors', { doorOpen: true, temperatureDeciC: 45 });
    machine.emit('sensors', { doorOpen: true, temperatureDeciC: 46 });
    machine.emit('sensors', { doorOpen: true, temperatureDeciC: 47 });
    expect(events('machine.sensors')).toHaveLength(1);
    await waitUntil(() => events('machine.sensors').length === 2, { what: 'the burst summarised' });
    expect(events('machine.sensors')[1]).toMatchObject({ doorOpen: true, temperatureDeciC: 47 });
  });

  it('sends a door change sooner than a temperature change', async () => {
    const { machine, events } = uplink(3_600_000, 50);
    machine.emit('sensors', { doorOpen: false, temperatureDeciC: 45 });
    machine.emit('sensors', { doorOpen: false, temperatureDeciC: 46 });
    machine.emit('sensors', { doorOpen: true, temperatureDeciC: 46 });
    await waitUntil(() => events('machine.sensors').length === 2, { what: 'the door change sent' });
    expect(events('machine.sensors')[1]).toMatchObject({ doorOpen: true, temperatureDeciC: 46 });
  });

  it('sends a reading at once when the interval has passed since the last one', () => {
    const { machine, events, clock } = uplink(60_000);
    machine.emit('sensors', { temperatureDeciC: 45 });
    clock.advance(60_000);
    machine.emit('sensors', { temperatureDeciC: 50 });
    expect(events('machine.sensors').map((e) => e.temperatureDeciC)).toEqual([45, 50]);
  });

  it('sends every raised and cleared condition with its kind, slot, detail and times', () => {
    const { board, events, clock } = uplink(5000);
    board.raise({ kind: 'jam', machineId: 'm1', slot: 3, severity: 'critical', detail: 'slot 3: jammed' });
    const since = clock.wallMs();
    clock.advance(1000);
    board.clear({ kind: 'jam', machineId: 'm1', slot: 3 });
    const sent = events('machine.condition');
    expect(sent).toEqual([
      {
        change: 'raised',
        kind: 'jam',
        machineId: 'm1',
        slot: 3,
        severity: 'critical',
        detail: 'slot 3: jammed',
        since,
      },
      {
        change: 'cleared',
        kind: 'jam',
        machineId: 'm1',
        slot: 3,
        severity: 'critical',
        detail: 'slot 3: jammed',
        since,
        clearedAt: since + 1000,
      },
    ]);
    for (const e of sent) expect(EventSchemas['machine.condition'].safeParse(e).success).toBe(true);
  });

  it('names in the contract exactly the condition kinds the board knows', () => {
    expect(ConditionKind.options).toEqual([...CONDITION_KINDS]);
  });
});
