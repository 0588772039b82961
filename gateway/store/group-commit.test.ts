import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { type Db, openStore } from './db.ts';
import { GroupCommit } from './group-commit.ts';
import { inTx } from './tx.ts';

describe('GroupCommit', () => {
  const cleanups = cleanupsAfterEach();
  function open(): { db: Db; path: string } {
    const tmp = tempDir('vendgate-gc-');
    const path = join(tmp.dir, 'x.db');
    const db = openStore({ path });
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    cleanups.push(() => {
      db.close();
      tmp.cleanup();
    });
    return { db, path };
  }

  it('runs the work of one turn in one transaction and resolves after it committed', async () => {
    const { db, path } = open();
    const gc = new GroupCommit(db);
    const done = [gc.run(() => db.prepare("INSERT INTO t VALUES ('a')").run().changes), gc.run(() => 'b')];
    // Nothing ran yet: the work waits for the end of the turn.
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    expect(await Promise.all(done)).toEqual([1, 'b']);
    // Committed: a second connection sees it.
    const other = openStore({ path });
    expect(other.prepare('SELECT k FROM t').all()).toEqual([{ k: 'a' }]);
    other.close();
    expect(gc.stats).toEqual({ batches: 1, units: 2 });
  });

  it('rolls back and rejects only the unit that threw', async () => {
    const { db } = open();
    const gc = new GroupCommit(db);
    const ok = gc.run(() => db.prepare("INSERT INTO t VALUES ('kept')").run());
    const bad = gc.run(() => {
      db.prepare("INSERT INTO t VALUES ('lost')").run();
      throw new Error('boom');
    });
    await expect(bad).rejects.toThrow('boom');
    await ok;
    expect(db.prepare('SELECT k FROM t').all()).toEqual([{ k: 'kept' }]);
  });

  it('rolls back a lone unit that threw, rejects it with its own error, and commits the next turn', async () => {
    const { db } = open();
    const gc = new GroupCommit(db);
    const bad = gc.run(() => {
      db.prepare("INSERT INTO t VALUES ('lost')").run();
      throw new Error('lone boom');
    });
    await expect(bad).rejects.toThrow('lone boom');
    expect(db.inTransaction).toBe(false);
    await gc.run(() => db.prepare("INSERT INTO t VALUES ('next')").run());
    expect(db.prepare('SELECT k FROM t').all()).toEqual([{ k: 'next' }]);
    expect(gc.stats).toEqual({ batches: 1, units: 1 });
  });

  it('opens no savepoint of its own for a unit that runs in its own transaction, and still rolls back only the unit that threw', async () => {
    const { db } = open();
    const gc = new GroupCommit(db);
    const unit = (k: string, fail: boolean) => () =>
      inTx(db, () => {
        db.prepare('INSERT INTO t VALUES (?)').run(k);
        if (fail) throw new Error(`boom ${k}`);
        return k;
      });
    // Every statement run, by its SQL: the savepoints the batch opened are among them.
    const statement = Object.getPrototypeOf(db.prepare('SELECT 1')) as { run: (...a: unknown[]) => unknown };
    const run = vi.spyOn(statement, 'run');
    const kept = gc.run(unit('kept', false), { ownSavepoint: true });
    const lost = gc.run(unit('lost', true), { ownSavepoint: true });
    const plain = gc.run(() => db.prepare("INSERT INTO t VALUES ('plain')").run().changes);
    await expect(lost).rejects.toThrow('boom lost');
    expect(await kept).toBe('kept');
    expect(await plain).toBe(1);
    const savepoints = run.mock.contexts.filter((c) =>
      (c as { source: string }).source.startsWith('SAVEPOINT'),
    );
    run.mockRestore();
    // One per unit: the two units' own, and the batch's around the plain one.
    expect(savepoints).toHaveLength(3);
    expect(db.prepare('SELECT k FROM t ORDER BY k').all()).toEqual([{ k: 'kept' }, { k: 'plain' }]);
  });

  it('rejects every unit when the commit itself fails', async () => {
    const { db } = open();
    const gc = new GroupCommit(db);
    const p = gc.run(() => db.prepare("INSERT INTO t VALUES ('x')").run());
    db.close(); // the batch cannot even begin
    await expect(p).rejects.toThrow();
  });
});
