import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from './db.ts';
import { HighWaterKeeper, highWaterPath, readHighWater, writeHighWater } from './high-water.ts';
import { acceptStore, SEQ_MARGIN } from './store-accept.ts';
import { openInspectedStore, tokenBehind } from './store-check.ts';

const cleanups = cleanupsAfterEach();
const log = silentLogger();

function storeDir(): string {
  const tmp = tempDir('vendgate-check-');
  cleanups.push(tmp.cleanup);
  return tmp.dir;
}

/** A store with `orders` dispensed orders, closed, and its high-water file as the gateway leaves it. */
function makeStore(dir: string, orders: number): string {
  const path = join(dir, 'vendgate.db');
  const db = openStore({ path });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10_000, telemetryTtlMs: 60_000 });
  const ledger = new OrderLedger({
    db,
    outbox,
    catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
  });
  for (let i = 0; i < orders; i++) {
    const orderId = `order-${i}`;
    ledger.receivePaid({
      orderId,
      machineId: 'm1',
      slot: 1,
      price: { amount: 300, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 60_000,
    });
    const b = ledger.beginDispense(orderId);
    if (b.kind === 'dispense')
      ledger.recordOutcome(orderId, { kind: 'dispensed', vendToken: b.vendToken, slot: 1 });
  }
  const keeper = new HighWaterKeeper({ db, storePath: path, log });
  keeper.stop();
  db.close();
  return path;
}

function inspect(path: string) {
  const { db, inspection } = openInspectedStore({ path, log });
  db.close();
  return inspection;
}

describe('the store check at start-up', () => {
  it('trusts a store that remembers everything its high-water file says it handed out', () => {
    const path = makeStore(storeDir(), 3);
    const i = inspect(path);
    expect(i.distrust).toBeUndefined();
    expect(i.committed.seq).toBe(6);
    expect(i.highWater).toMatchObject({ kind: 'ok', mark: { seq: 6 } });
  });

  it('finds a store that went backwards: its last seq is below the high-water mark', () => {
    const path = makeStore(storeDir(), 3);
    const hw = readHighWater(highWaterPath(path));
    if (hw.kind !== 'ok') throw new Error('no mark');
    writeHighWater(highWaterPath(path), { ...hw.mark, seq: hw.mark.seq + 40 });
    expect(inspect(path).distrust).toMatchObject({ fault: 'went-backwards' });
  });

  it('finds a store that went backwards in vend tokens only (a vend begun, then lost)', () => {
    const path = makeStore(storeDir(), 2);
    const hw = readHighWater(highWaterPath(path));
    if (hw.kind !== 'ok' || hw.mark.vendToken === null) throw new Error('no mark');
    writeHighWater(highWaterPath(path), { ...hw.mark, vendToken: (hw.mark.vendToken % 4_294_967_295) + 1 });
    expect(inspect(path).distrust?.fault).toBe('went-backwards');
  });

  it('finds a store that vanished: empty where the high-water file says it held events', () => {
    const dir = storeDir();
    const path = makeStore(dir, 2);
    writeFileSync(path, '');
    writeFileSync(`${path}-wal`, '');
    const i = inspect(path);
    expect(i.distrust).toMatchObject({ fault: 'vanished' });
    expect(i.distrust?.action).toContain('vendgate store accept');
  });

  it('trusts a store with no high-water file yet (the first start after an upgrade) and starts keeping one', () => {
    const path = join(storeDir(), 'vendgate.db');
    openStore({ path }).close();
    expect(inspect(path)).toMatchObject({ distrust: undefined, highWater: { kind: 'absent' } });
  });

  it('refuses a file that is not SQLite with StoreNotADatabase naming the file', async () => {
    const path = join(storeDir(), 'vendgate.db');
    writeFileSync(path, Buffer.alloc(8192, 0x42));
    const err = await expectVendgateError(() => inspect(path), ErrorCode.StoreNotADatabase);
    expect(err.message).toContain(path);
  });

  it('orders vend tokens on their wrapping counter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4_294_967_295 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (t, d) => {
          const ahead = ((t - 1 + d) % 4_294_967_295) + 1;
          expect(tokenBehind(t, ahead)).toBe(true);
          expect(tokenBehind(ahead, t)).toBe(false);
          expect(tokenBehind(t, t)).toBe(false);
        },
      ),
    );
    expect(tokenBehind(null, 5)).toBe(true);
    expect(tokenBehind(5, null)).toBe(false);
  });
});

describe('store accept', () => {
  it('continues an accepted store past its high-water mark and reports the skipped seqs as one gap', () => {
    const path = makeStore(storeDir(), 3);
    const hw = readHighWater(highWaterPath(path));
    if (hw.kind !== 'ok' || hw.mark.vendToken === null) throw new Error('no mark');
    const lost = { seq: hw.mark.seq + 100, vendToken: hw.mark.vendToken + 50 };
    writeHighWater(highWaterPath(path), { ...hw.mark, ...lost });

    const r = acceptStore({ path, gatewayId: 'gw1', log });
    expect(r.fault).toBe('went-backwards');
    expect(r.skippedSeqs).toBe(lost.seq + SEQ_MARGIN - 6);
    expect(r.after.vendToken).toBeGreaterThan(lost.vendToken);
    expect(inspect(path).distrust).toBeUndefined();

    const db = openStore({ path });
    const dropped = db
      .prepare("SELECT envelope FROM outbox WHERE type = 'outbox.dropped' ORDER BY seq")
      .all()
      .map(
        (row) =>
          JSON.parse((row as { envelope: string }).envelope) as { seq: number; data: { seqs: number[] } },
      );
    db.close();
    const seqs = dropped.flatMap((e) => e.data.seqs);
    expect(seqs[0]).toBe(7);
    expect(seqs.at(-1)).toBe(lost.seq + SEQ_MARGIN);
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const e of dropped) expect(e.seq).toBeGreaterThan(lost.seq + SEQ_MARGIN);
  });

  it('leaves a trusted store as it is', () => {
    const path = makeStore(storeDir(), 2);
    const r = acceptStore({ path, gatewayId: 'gw1', log });
    expect(r).toMatchObject({ fault: undefined, skippedSeqs: 0 });
    expect(r.after).toEqual(r.before);
  });
});
