import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/tmp.ts';
import { type Db, openStore, schemaVersion } from './db.ts';
import { MIGRATIONS } from './migrations.ts';

describe('openStore', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  let db: Db | undefined;
  afterEach(() => {
    db?.close();
    tmp?.cleanup();
  });

  it('opens a file in WAL mode, migrated to the latest schema', () => {
    tmp = tempDir('vendgate-db-');
    db = openStore({ path: join(tmp.dir, 'nested', 'store.db') });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)?.version);
  });

  it('keeps savepoint journals in memory, so a large savepoint rolls back without a temp file', () => {
    tmp = tempDir('vendgate-db-');
    db = openStore({ path: join(tmp.dir, 'store.db') });
    expect(db.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
    const d = db;
    d.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    d.transaction(() => {
      d.prepare("INSERT INTO t VALUES (1, 'kept')").run();
      // Far more than the 64 KiB at which an on-disk sub-journal spills.
      expect(() =>
        d.transaction(() => {
          const ins = d.prepare('INSERT INTO t (v) VALUES (?)');
          for (let i = 0; i < 200; i++) ins.run('x'.repeat(2000));
          throw new Error('undo this savepoint');
        })(),
      ).toThrow('undo this savepoint');
    })();
    expect(d.prepare('SELECT k, v FROM t').all()).toEqual([{ k: 1, v: 'kept' }]);
  });
});
