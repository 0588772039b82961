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
