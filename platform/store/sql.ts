import type { StoreBackend } from './port.ts';

/** A value a query binds: JSON goes in as text, booleans as 0/1, so both backends store the same. */
export type SqlValue = string | number | bigint | boolean | null | undefined | Buffer;

export interface SqlResult<R> {
  rows: R[];
  /** Rows the statement changed (or returned, with RETURNING). */
  rowCount: number;
}

/**
 * One connection or transaction the repositories run their SQL on. The SQL
 * is written once, in the dialect both backends share: `$1` placeholders
 * (translated for SQLite), `ON CONFLICT ... DO NOTHING`, `RETURNING`,
 * BIGINT money and Unix-ms columns, JSON as TEXT.
 */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<SqlResult<R>>;
}

export interface SqlDriver extends SqlExecutor {
  readonly backend: StoreBackend;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * BEGIN ... COMMIT around `fn` on one connection; ROLLBACK and rethrow if
   * it throws. `exclusive`: take the write lock up front (SQLite BEGIN
   * IMMEDIATE; PostgreSQL an advisory lock), for migrations.
   */
  transaction<T>(fn: (q: SqlExecutor) => Promise<T>, opts?: { exclusive?: boolean }): Promise<T>;
  close(): Promise<void>;
}

/** Turns `$1` placeholders into better-sqlite3's named `@p1` (it binds ?NNN only by position). */
export function toSqlitePlaceholders(sql: string): string {
  return sql.replace(/\$(\d+)/g, '@p$1');
}

export function toSqliteParams(
  params: readonly SqlValue[],
): Record<string, string | number | bigint | null | Buffer> {
  const named: Record<string, string | number | bigint | null | Buffer> = {};
  params.forEach((v, i) => {
    named[`p${i + 1}`] = v === undefined ? null : typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
  return named;
}

/** PostgreSQL gets the same values (booleans as 0/1: the columns are INTEGER on both). */
export function toPgParams(params: readonly SqlValue[]): unknown[] {
  return params.map((v) => (v === undefined ? null : typeof v === 'boolean' ? (v ? 1 : 0) : v));
}
