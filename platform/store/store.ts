import { createHmac } from 'node:crypto';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { batchedOrderReads } from './batched-reads.ts';
import { currentVersion, migrate } from './migrations.ts';
import { payCreatedInTx } from './pay-created.ts';
import { batchedPayCreated } from './pay-created-batch.ts';
import type { PurgeResult, Store, StoreOptions, StoreTx } from './port.ts';
import { openPostgresDriver } from './postgres.ts';
import { repositories } from './repositories.ts';
import type { SqlDriver, SqlExecutor } from './sql.ts';
import { openSqliteDriver } from './sqlite.ts';

/** Below this an HMAC key is guessable enough to reverse a payer id by brute force over known ids. */
const MIN_PAYER_KEY_BYTES = 16;

/**
 * Opens the platform store on the configured backend and brings its schema
 * up to date. The same repositories run on both (repositories.ts).
 */
export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.payerHashKey.length < MIN_PAYER_KEY_BYTES) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `the payer hash key is ${opts.payerHashKey.length} bytes; it must be at least ${MIN_PAYER_KEY_BYTES}`,
      { bytes: opts.payerHashKey.length },
    );
  }
  let driver: SqlDriver;
  if (opts.backend === 'sqlite') {
    if (!opts.sqlitePath)
      throw new VendgateError(ErrorCode.ConfigInvalid, 'the sqlite store needs a file path', {});
    driver = openSqliteDriver(opts.sqlitePath);
  } else {
    if (!opts.postgresUrl)
      throw new VendgateError(ErrorCode.ConfigInvalid, 'the postgres store needs a connection URL', {});
    driver = openPostgresDriver(opts.postgresUrl, opts.poolSize);
  }
  try {
    await migrate(driver);
  } catch (err) {
    await driver.close().catch(() => {});
    throw err;
  }
  return createStore(driver, opts.payerHashKey);
}

function createStore(driver: SqlDriver, payerHashKey: Buffer): Store {
  const hashPayerId = (payerId: string) =>
    createHmac('sha256', payerHashKey).update(payerId, 'utf8').digest('hex');
  let savepoints = 0;
  const txOn = (q: SqlExecutor): StoreTx => {
    const t: StoreTx = {
      ...repositories(q, hashPayerId),
      async savepoint(fn) {
        const name = `vg_sp_${++savepoints}`;
        await q.query(`SAVEPOINT ${name}`);
        try {
          const result = await fn(t);
          await q.query(`RELEASE SAVEPOINT ${name}`);
          return result;
        } catch (err) {
          await q.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await q.query(`RELEASE SAVEPOINT ${name}`);
          throw err;
        }
      },
    };
    return t;
  };
  const tx: Store['tx'] = (fn) => driver.transaction((q) => fn(txOn(q)));
  const repos = repositories(driver, hashPayerId);
  return {
    backend: driver.backend,
    ...repos,
    tx,
    payCreatedOrder:
      driver.backend === 'postgres' ? batchedPayCreated(driver, hashPayerId) : (p) => payCreatedInTx(tx, p),
    getOrderBatched: driver.backend === 'postgres' ? batchedOrderReads(repos.orders) : repos.orders.get,
    hashPayerId,
    async purge(before): Promise<PurgeResult> {
      return driver.transaction(async (q) => {
        const events = await q.query('DELETE FROM events WHERE received_at < $1', [before]);
        const notifications = await q.query('DELETE FROM notifications WHERE received_at < $1', [before]);
        // A final order keeps its money facts for the books; the pseudonymous payer link goes.
        const cleared = await q.query(
          `UPDATE orders SET payer_hash = NULL
           WHERE payer_hash IS NOT NULL AND updated_at < $1 AND state IN ('dispensed', 'refunded', 'closed')`,
          [before],
        );
        return {
          events: events.rowCount,
          notifications: notifications.rowCount,
          payerHashesCleared: cleared.rowCount,
        };
      });
    },
    schemaVersion: () => currentVersion(driver),
    close: () => driver.close(),
  };
}
