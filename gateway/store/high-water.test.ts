import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from './db.ts';
import { DEFAULT_EVERY_SEQS, HighWaterKeeper, highWaterPath, readHighWater } from './high-water.ts';
import { SEQ_MARGIN, TOKEN_MARGIN } from './store-accept.ts';

const cleanups = cleanupsAfterEach();
const log = silentLogger();

function site(everySeqs: number) {
  const tmp = tempDir('vendgate-highwater-');
  cleanups.push(tmp.cleanup);
  const path = join(tmp.dir, 'vendgate.db');
  const db = openStore({ path });
  const keeper = new HighWaterKeeper({ db, storePath: path, log, everySeqs, everyMs: 60_000 });
  const outbox = new Outbox(db, {
    gatewayId: 'gw1',
    maxRows: 10_000,
    telemetryTtlMs: 60_000,
    onAppend: () => keeper.noteAppended(),
  });
  const append = (n: number) =>
    db.transaction(() => {
      for (let i = 0; i < n; i++)
        outbox.append('order.state', { orderId: `order-${i}`, state: 'received', duplicate: true });
    })();
  const mark = () => {
    const read = readHighWater(highWaterPath(path));
    return read.kind === 'ok' ? read.mark.seq : undefined;
  };
  const committedSeq = () => outbox.stats().lastSeq;
  return { db, keeper, append, mark, committedSeq };
}

describe('the high-water keeper', () => {
  it('lags the store by default by at most a quarter of what an accepted store skips past', () => {
    // A vend token is handed out with at least one event, so tokens lag no more than seqs.
    expect(DEFAULT_EVERY_SEQS * 4).toBeLessThanOrEqual(Math.min(SEQ_MARGIN, TOKEN_MARGIN));
  });

  it('writes the committed seq in the background once everySeqs events were handed out', async () => {
    const s = site(8);
    s.keeper.start();
    cleanups.push(async () => {
      await s.keeper.stop();
      s.db.close();
    });
    const before = s.mark();
    s.append(10);
    await waitUntil(() => s.mark() === s.committedSeq(), {
      what: 'the high-water file at the committed seq',
    });
    expect(s.mark()).toBeGreaterThan(before ?? 0);
  });

  it('never records more than was committed, and stop() leaves the last committed seq after a background write', async () => {
    const s = site(4);
    s.keeper.start();
    for (let round = 0; round < 20; round++) {
      s.append(5);
      // A background write may be running now; whatever it wrote was committed.
      expect(s.mark() ?? 0).toBeLessThanOrEqual(s.committedSeq());
      await new Promise((r) => setImmediate(r));
    }
    await s.keeper.stop();
    expect(s.mark()).toBe(s.committedSeq());
    s.db.close();
  });
});
