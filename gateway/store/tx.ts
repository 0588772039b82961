import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';

interface TxStatements {
  begin: Statement;
  commit: Statement;
  rollback: Statement;
  savepoint: Statement;
  release: Statement;
  rollbackTo: Statement;
}

const cache = new WeakMap<Db, TxStatements>();

function statements(db: Db): TxStatements {
  let s = cache.get(db);
  if (!s) {
    s = {
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT vendgate_tx'),
      release: db.prepare('RELEASE vendgate_tx'),
      rollbackTo: db.prepare('ROLLBACK TO vendgate_tx'),
    };
    cache.set(db, s);
  }
  return s;
}

/**
 * Runs `fn` in a transaction, or in a savepoint when one is already open:
 * the semantics of better-sqlite3's `db.transaction(fn)()`, without building
 * four wrapper functions per call (which the profile of a burst of orders
 * showed costing more than some of the statements themselves). If `fn`
 * throws, its writes are rolled back (only its own, when nested) and the
 * error is rethrown.
 */
export function inTx<T>(db: Db, fn: () => T): T {
  const s = statements(db);
  const nested = db.inTransaction;
  (nested ? s.savepoint : s.begin).run();
  try {
    const result = fn();
    (nested ? s.release : s.commit).run();
    return result;
  } catch (err) {
    // A failed COMMIT may already have ended the transaction (SQLite rolls
    // back on some errors); only undo what is still open.
    if (db.inTransaction) {
      if (nested) {
        s.rollbackTo.run();
        s.release.run();
      } else {
        s.rollback.run();
      }
    }
    throw err;
  }
}
