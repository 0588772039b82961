import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlertMessage } from '../../contract/alerts.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { ConditionBoard, type ConditionKind } from '../conditions/conditions.ts';
import { type Db, openStore } from '../store/db.ts';
import { AlertDispatcher, type AlertTarget } from './dispatcher.ts';
import { AlertQueue } from './queue.ts';

const cleanups = cleanupsAfterEach();

function gatewayOn(
  db: Db,
  now: { t: number },
  targets: AlertTarget[] = [{ id: 'all', accepts: () => true }],
) {
  const clock = { wallMs: () => now.t };
  const board = new ConditionBoard(clock);
  const queue = new AlertQueue({ db, queueMax: 100, log: silentLogger() });
  const queued: string[] = [];
  const dispatcher = new AlertDispatcher({
    db,
    queue,
    board,
    gatewayId: 'gw-1',
    targets,
    busy: () => new Set(),
    queued: (id) => queued.push(id),
    restartClearAfterMs: 3600_000,
    clock,
    log: silentLogger(),
  });
  dispatcher.start();
  cleanups.push(() => dispatcher.stop());
  const sent = (sink = 'all') =>
    queue.list(sink, 'pending', 100).map((a) => AlertMessage.parse(JSON.parse(a.body)));
  return { board, queue, dispatcher, sent, queued };
}

function store() {
  const { dir, cleanup } = tempDir('vendgate-alerts-');
  cleanups.push(cleanup);
  const path = join(dir, 'store.db');
  return () => {
    const db = openStore({ path });
    return db;
  };
}

const jam = {
  kind: 'jam' as const,
  machineId: 'm1',
  slot: 3,
  severity: 'critical' as const,
  detail: 'slot 3 jammed',
};

describe('the alert dispatcher', () => {
  it('queues a raised and then a cleared with the same alertId and since, each once', () => {
    const db = store()();
    cleanups.push(() => db.close());
    const now = { t: 1000 };
    const { board, sent, queued } = gatewayOn(db, now);
    board.raise(jam);
    board.raise({ ...jam, detail: 'still jammed' });
    now.t = 5000;
    board.clear(jam);
    board.clear(jam);
    const [raised, cleared] = sent();
    expect(sent()).toHaveLength(2);
    expect(raised).toMatchObject({
      gatewayId: 'gw-1',
      kind: 'jam',
      key: 'jam:m1:3',
      machineId: 'm1',
      slot: 3,
      state: 'raised',
      since: 1000,
      at: 1000,
    });
    expect(cleared).toMatchObject({ alertId: raised!.alertId, state: 'cleared', since: 1000, at: 5000 });
    expect(queued).toEqual(['all', 'all']);
  });

  it('sends no second raised after a restart for a condition still active, and clears it when it ends', () => {
    const open = store();
    const now = { t: 1000 };
    const db1 = open();
    const first = gatewayOn(db1, now);
    first.board.raise(jam);
    const [raised] = first.sent();
    first.dispatcher.stop();
    db1.close();

    const db2 = open();
    cleanups.push(() => db2.close());
    now.t = 9000;
    const second = gatewayOn(db2, now);
    second.board.raise(jam); // the source sees the jam again after the restart
    expect(second.sent()).toHaveLength(1);
    second.board.clear(jam);
    const after = second.sent();
    expect(after.map((a) => [a.alertId, a.state, a.since])).toEqual([
      [raised!.alertId, 'raised', 1000],
      [raised!.alertId, 'cleared', 1000],
    ]);
  });

  it('clears what was announced before a restart and not raised again (it ended while the gateway was down)', () => {
    const open = store();
    const now = { t: 1000 };
    const db1 = open();
    gatewayOn(db1, now).board.raise(jam);
    db1.close();
    const db2 = open();
    cleanups.push(() => db2.close());
    const g = gatewayOn(db2, now);
    g.board.raise({ kind: 'door_open', machineId: 'm2', severity: 'warning', detail: 'door open' });
    expect(g.dispatcher.clearStale()).toBe(1);
    expect(g.sent().map((a) => [a.key, a.state])).toEqual([
      ['jam:m1:3', 'raised'],
      ['door_open:m2:-', 'raised'],
      ['jam:m1:3', 'cleared'],
    ]);
    expect(g.sent()[2]!.detail).toMatch(/^not raised again after the restart/);
  });

  it('queues each kind only for the sinks that take it', () => {
    const db = store()();
    cleanups.push(() => db.close());
    const only = (kinds: ConditionKind[]) => (k: ConditionKind) => kinds.includes(k);
    const g = gatewayOn(db, { t: 1 }, [
      { id: 'stock', accepts: only(['sold_out', 'low_stock']) },
      { id: 'all', accepts: () => true },
    ]);
    g.board.raise(jam);
    g.board.raise({
      kind: 'sold_out',
      machineId: 'm1',
      slot: 1,
      severity: 'warning',
      detail: 'slot 1 sold out',
    });
    expect(g.sent('stock').map((a) => a.kind)).toEqual(['sold_out']);
    expect(g.sent('all').map((a) => a.kind)).toEqual(['jam', 'sold_out']);
  });

  it('cuts a detail longer than the contract allows instead of losing the alert', () => {
    const db = store()();
    cleanups.push(() => db.close());
    const g = gatewayOn(db, { t: 1 });
    g.board.raise({ ...jam, detail: 'x'.repeat(2000) });
    expect(g.sent()[0]!.detail).toHaveLength(500);
  });
});
