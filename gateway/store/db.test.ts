import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { type Db, openStore, schemaVersion } from './db.ts';
import { MIGRATIONS } from './migrations.ts';

const cleanups = cleanupsAfterEach();

function open(...path: string[]): Db {
  const tmp = tempDir('vendgate-db-');
  const db = openStore({ path: join(tmp.dir, ...path) });
  cleanups.push(
    () => tmp.cleanup(),
    () => db.close(),
  );
  return db;
}

describe('openStore', () => {
  it('opens a file in WAL mode, migrated to the latest schema', () => {
    const db = open('nested', 'store.db');
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
  });

  it('keeps savepoint journals in memory, so a large savepoint rolls back without a temp file', () => {
    const db = open('store.db');
    expect(db.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    db.transaction(() => {
      db.prepare("INSERT INTO t VALUES (1, 'kept')").run();
      // Far more than the 64 KiB at which an on-disk sub-journal spills.
      expect(() =>
        db.transaction(() => {
          const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
          for (let i = 0; i < 200; i++) ins.run('x'.repeat(2000));
          throw new Error('undo this savepoint');
        })(),
      ).toThrow('undo this savepoint');
    })();
    expect(db.prepare('SELECT k, v FROM t').all()).toEqual([{ k: 1, v: 'kept' }]);
  });
});

describe('migration 12', () => {
  it('moves a store at version 11 to the order indexes written once per order, keeping its rows', () => {
    const tmp = tempDir('vendgate-db-');
    const path = join(tmp.dir, 'store.db');
    cleanups.push(() => tmp.cleanup());
    const old = openStore({ path, migrations: MIGRATIONS.filter((m) => m.version <= 11) });
    old
      .prepare(
        `INSERT INTO orders (order_id, flow, machine_id, slot, amount, currency, provider, expires_at, state, created_at, updated_at)
         VALUES ('o-1', 'remote', 'm1', 1, 350, 'EUR', 'p', 0, 'dispensed', 1, 2)`,
      )
      .run();
    old
      .prepare(
        "INSERT INTO order_transitions (order_id, at, from_state, to_state) VALUES ('o-1', 2, 'dispensing', 'dispensed')",
      )
      .run();
    old.close();

    const db = openStore({ path });
    cleanups.push(() => db.close());
    const indexes = (table: string) =>
      (db.prepare('SELECT name FROM pragma_index_list(?) ORDER BY name').all(table) as { name: string }[])
        .map((r) => r.name)
        .filter((n) => !n.startsWith('sqlite_autoindex'));
    expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
    expect(indexes('orders')).toContain('orders_machine_created');
    expect(indexes('orders')).not.toContain('orders_machine');
    expect(indexes('order_transitions')).toEqual(['order_transitions_dispensed']);
    const window = db
      .prepare(
        `SELECT COUNT(*) AS n FROM order_transitions t JOIN orders o ON o.order_id = t.order_id
          WHERE o.machine_id = 'm1' AND t.to_state = 'dispensed' AND t.at > 0 AND t.at <= 5`,
      )
      .get();
    expect(window).toEqual({ n: 1 });
  });
});
