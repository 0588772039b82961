import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../testing/tmp.ts';
import { type Db, openStore } from './db.ts';
import { inTx } from './tx.ts';

describe('inTx', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  let db: Db | undefined;
  afterEach(() => {
    db?.close();
    tmp?.cleanup();
  });
  const open = (): Db => {
    tmp = tempDir('vendgate-tx-');
    db = openStore({ path: join(tmp.dir, 'tx.db') });
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    return db;
  };
  const keys = (d: Db) => (d.prepare('SELECT k FROM t ORDER BY k').all() as { k: string }[]).map((r) => r.k);

  it('commits what the function wrote and returns its result', () => {
    const d = open();
    expect(inTx(d, () => d.prepare("INSERT INTO t VALUES ('a')").run().changes)).toBe(1);
    expect(d.inTransaction).toBe(false);
    expect(keys(d)).toEqual(['a']);
  });

  it('rolls everything back and rethrows when the function throws', () => {
    const d = open();
    expect(() =>
      inTx(d, () => {
        d.prepare("INSERT INTO t VALUES ('a')").run();
        throw new Error('nope');
      }),
    ).toThrow('nope');
    expect(d.inTransaction).toBe(false);
    expect(keys(d)).toEqual([]);
  });

  it('nested: a throwing inner call undoes only its own writes', () => {
    const d = open();
    inTx(d, () => {
      d.prepare("INSERT INTO t VALUES ('outer')").run();
      expect(() =>
        inTx(d, () => {
          d.prepare("INSERT INTO t VALUES ('inner')").run();
          throw new Error('inner failed');
        }),
      ).toThrow('inner failed');
      inTx(d, () => d.prepare("INSERT INTO t VALUES ('second')").run());
    });
    expect(keys(d)).toEqual(['outer', 'second']);
  });
});
