import pg from 'pg';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type SqlDriver, type SqlExecutor, type SqlValue, toPgParams } from './sql.ts';

/** BIGINT (int8) and NUMERIC come back as strings by default; every such column of ours fits a JS number. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

/**
 * Most statement texts given a name. A named statement is parsed and planned
 * once per connection (PostgreSQL docs, "Extended Query": a named prepared
 * statement lasts until the session ends) instead of on every execution;
 * texts built with a variable number of placeholders (IN lists) could grow
 * that without bound, so past this many the rest run unnamed.
 */
const MAX_NAMED = 256;

/** The key of the advisory lock migrations hold, so two replicas starting at once migrate one after the other. */
const MIGRATION_LOCK_KEY = 0x76656e64; // "vend"

/**
 * The fleet backend: a `pg` Pool. Each transaction checks out its own
 * connection, so replicas and concurrent handlers run side by side; the
 * conditional updates of the repositories decide who wins a race.
 */
export function openPostgresDriver(url: string, poolSize = 10): SqlDriver {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types });
  // An idle client's error (the server restarted) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const wrap = (err: unknown, sql: string): VendgateError => {
    if (err instanceof VendgateError) return err;
    const e = err as { message?: string; code?: string };
    return new VendgateError(ErrorCode.StoreUnavailable, `PostgreSQL: ${e.message ?? String(err)}`, {
      sqlstate: e.code,
      statement: sql.slice(0, 80),
    });
  };
  const names = new Map<string, string>();
  let named = 0;
  const nameOf = (sql: string): string | undefined => {
    let name = names.get(sql);
    if (name === undefined && named < MAX_NAMED) {
      name = `vg${++named}`;
      names.set(sql, name);
    }
    return name;
  };
  const queryOn = async <R>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params: readonly SqlValue[] = [],
  ) => {
    try {
      // Only statements with parameters: the rest (BEGIN, COMMIT, DDL) go as simple queries.
      const name = params.length > 0 ? nameOf(sql) : undefined;
      const res = await client.query(
        name ? { name, text: sql, values: toPgParams(params) } : { text: sql, values: toPgParams(params) },
      );
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    } catch (err) {
      // A schema change under a prepared statement whose columns it returns (another replica
      // migrated): PostgreSQL refuses that statement from now on, so this text gets a new name
      // (prepared afresh on its next run; the cap counts the old one too); this run fails as any
      // refused query does.
      if ((err as { code?: string }).code === '0A000') names.delete(sql);
      throw wrap(err, sql);
    }
  };

  return {
    backend: 'postgres',
    query: (sql, params) => queryOn(pool, sql, params),
    async exec(sql) {
      try {
        await pool.query(sql);
      } catch (err) {
        throw wrap(err, sql);
      }
    },
    async transaction(fn, opts) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw wrap(err, 'connect');
      }
      const q: SqlExecutor = { query: (sql, params) => queryOn(client, sql, params) };
      try {
        await client.query('BEGIN');
        if (opts?.exclusive) await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        const result = await fn(q);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch {
          client.release(true); // the connection is broken: drop it from the pool
        }
        throw err; // the queries already name what failed; a handler's own error passes through
      }
    },
    close: () => pool.end(),
  };
}
