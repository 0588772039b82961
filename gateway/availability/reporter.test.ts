import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../contract/events.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { AvailabilityReporter } from './reporter.ts';

const cleanups = cleanupsAfterEach();

function rig() {
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'availability.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
  const machines = [new FakeMachine('m1'), new FakeMachine('m2')];
  let notified = 0;
  const reporter = new AvailabilityReporter({
    machines,
    db,
    outbox,
    notify: () => {
      notified++;
    },
    log: silentLogger(),
  });
  const statuses = () =>
    outbox
      .pendingAfter(0, 100)
      .map((r) => JSON.parse(r.envelope) as EventEnvelope)
      .filter((e) => e.type === 'machine.status')
      .map((e) => e.data);
  return { db, machines, reporter, statuses, notified: () => notified };
}

describe('machine availability reporting', () => {
  it('queues a machine.status event for each machine going online or offline and wakes the link', () => {
    const { machines, reporter, statuses, notified } = rig();
    reporter.start();
    machines[0]!.setOnline(false);
    machines[1]!.setOnline(false);
    machines[0]!.setOnline(true);
    expect(statuses()).toEqual([
      { machineId: 'm1', online: false, reason: 'test' },
      { machineId: 'm2', online: false, reason: 'test' },
      { machineId: 'm1', online: true },
    ]);
    expect(notified()).toBe(3);
  });

  it('reports nothing before it starts or after it stops, and leaves no listener behind', () => {
    const { machines, reporter, statuses } = rig();
    machines[0]!.setOnline(false);
    reporter.start();
    reporter.start();
    expect(machines[0]!.listenerCount('online')).toBe(1);
    reporter.stop();
    machines[0]!.setOnline(true);
    expect(statuses()).toEqual([]);
    expect(machines[0]!.listenerCount('online') + machines[0]!.listenerCount('offline')).toBe(0);
  });

  it('keeps a store failure away from the driver that emitted the event', () => {
    const { db, machines, reporter, notified } = rig();
    reporter.start();
    db.close();
    expect(() => machines[0]!.setOnline(false)).not.toThrow();
    expect(notified()).toBe(0);
  });
});
