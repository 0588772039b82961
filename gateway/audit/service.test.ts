import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { ByteTransport, ByteTransportEvents } from '../../devices/vending/transport.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { ConditionBoard } from '../conditions/conditions.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { DexConfig } from './config.ts';
import { AuditService } from './service.ts';

/** A DEX port that cannot be opened (an unplugged USB adapter). */
class UnpluggedPort extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  readonly isOpen = false;
  constructor(readonly url: string) {
    super();
  }
  async open(): Promise<void> {
    throw new Error(`ENOENT: no such file ${this.url}`);
  }
  async close(): Promise<void> {}
  write(): boolean {
    return false;
  }
}

describe('the DEX audit service', () => {
  const cleanups = cleanupsAfterEach();

  function service() {
    const tmp = tempDir();
    const db = openStore({ path: join(tmp.dir, 'audit.db') });
    cleanups.push(() => db.close(), tmp.cleanup);
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 60_000 });
    const clock = new ManualClock(Date.parse('2026-03-02T12:00:00+08:00'));
    const conditions = new ConditionBoard(clock);
    let notified = 0;
    const audit = new AuditService({
      db,
      outbox,
      notify: () => notified++,
      conditions,
      machines: [
        { id: 'm1', currency: 'CNY', dex: DexConfig.parse({ port: '/dev/ttyDEX-gone', every: 'off' }) },
      ],
      timeZone: 'Asia/Shanghai',
      log: silentLogger(),
      clock,
      transportFactory: (url) => new UnpluggedPort(url),
    });
    return { audit, outbox, conditions, notified: () => notified };
  }

  it('stores a read whose port cannot be opened as failed, with the error, and reports it upstream', async () => {
    const s = service();
    const read = await s.audit.readNow('m1', 'api');
    expect(read).toMatchObject({
      machineId: 'm1',
      status: 'failed',
      trigger: 'api',
      error: { code: ErrorCode.DexPortUnavailable },
      problems: [],
    });
    expect(read.error?.reason).toBe(
      'cannot open the DEX port /dev/ttyDEX-gone: ENOENT: no such file /dev/ttyDEX-gone',
    );
    expect(read.totals).toBeUndefined();
    expect(s.audit.latest({ machineId: 'm1' })).toEqual([read]);
    const rows = s.outbox
      .pendingAfter(0, 10)
      .map((r) => JSON.parse(r.envelope) as { type: string; data: unknown });
    expect(rows).toEqual([
      expect.objectContaining({
        type: 'audit.read',
        data: expect.objectContaining({ readId: read.readId, status: 'failed', error: read.error }),
      }),
    ]);
    expect(s.notified()).toBe(1);
    expect(s.conditions.active()).toEqual([]);
  });

  it('joins a read already running on the machine instead of starting a second one', async () => {
    const s = service();
    const [a, b] = await Promise.all([s.audit.readNow('m1', 'api'), s.audit.readNow('m1', 'command')]);
    expect(a.readId).toBe(b.readId);
    expect(s.audit.latest()).toHaveLength(1);
  });

  it('refuses a machine without a DEX port with DexMachineUnknown', async () => {
    const s = service();
    await expectVendgateError(s.audit.readNow('m2', 'api'), ErrorCode.DexMachineUnknown);
  });
});
