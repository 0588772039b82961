/**
 * The stored DEX reads (migration 10, table dex_reads): one row per read,
 * good, flagged or failed, with its counters as JSON; the raw audit text
 * is kept for a limited number of days. Only good reads serve as the
 * baseline of the next read's difference.
 */
import type { AuditCounters } from '../../contract/events.ts';
import type { Db } from '../store/db.ts';
import type { AuditDelta } from './counters.ts';

export type ReadTrigger = 'schedule' | 'command' | 'api' | 'cli';
export type ReadStatus = 'good' | 'flagged' | 'failed';

export interface LedgerComparison {
  count: number;
  value: number;
  mismatch: boolean;
  compared: 'cashless' | 'non-cash';
  /** What the audit counts for the same interval. */
  audited: { count: number; value: number };
}

export interface AuditRead {
  readId: number;
  machineId: string;
  trigger: ReadTrigger;
  status: ReadStatus;
  startedAt: number;
  finishedAt: number;
  error?: { code: number; reason: string };
  problems: string[];
  machineSerial?: string;
  currency?: string;
  totals?: AuditCounters;
  sinceLast?: AuditDelta & { fromReadId: number; from: number };
  ledger?: LedgerComparison;
  unknownSegments?: number;
  rawBytes?: number;
}

export type NewAuditRead = Omit<AuditRead, 'readId'> & { rawText?: string };

interface Row {
  read_id: number;
  machine_id: string;
  trigger: ReadTrigger;
  status: ReadStatus;
  started_at: number;
  finished_at: number;
  error_code: number | null;
  error_reason: string | null;
  problems: string;
  machine_serial: string | null;
  currency: string | null;
  totals: string | null;
  since_last: string | null;
  ledger: string | null;
  unknown_segments: number | null;
  raw_bytes: number | null;
}

const COLUMNS = `read_id, machine_id, trigger, status, started_at, finished_at, error_code, error_reason, problems,
  machine_serial, currency, totals, since_last, ledger, unknown_segments, raw_bytes`;

export class AuditStore {
  constructor(private readonly db: Db) {}

  insert(r: NewAuditRead): number {
    const info = this.db
      .prepare(
        `INSERT INTO dex_reads (machine_id, trigger, status, started_at, finished_at, error_code, error_reason, problems,
           machine_serial, currency, totals, since_last, ledger, mismatch, unknown_segments, raw_bytes, raw_text)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        r.machineId,
        r.trigger,
        r.status,
        r.startedAt,
        r.finishedAt,
        r.error?.code ?? null,
        r.error?.reason ?? null,
        JSON.stringify(r.problems),
        r.machineSerial ?? null,
        r.currency ?? null,
        r.totals ? JSON.stringify(r.totals) : null,
        r.sinceLast ? JSON.stringify(r.sinceLast) : null,
        r.ledger ? JSON.stringify(r.ledger) : null,
        r.ledger?.mismatch ? 1 : 0,
        r.unknownSegments ?? null,
        r.rawBytes ?? null,
        r.rawText ?? null,
      );
    return Number(info.lastInsertRowid);
  }

  /** The latest good read of a machine: the baseline of the next difference. */
  lastGood(machineId: string): AuditRead | undefined {
    const row = this.db
      .prepare(
        `SELECT ${COLUMNS} FROM dex_reads WHERE machine_id = ? AND status = 'good' ORDER BY read_id DESC LIMIT 1`,
      )
      .get(machineId) as Row | undefined;
    return row && fromRow(row);
  }

  /** Newest first, of one machine or all. */
  latest(filter: { machineId?: string; limit?: number } = {}): AuditRead[] {
    const limit = Math.min(Math.max(filter.limit ?? 20, 1), 500);
    const rows = (
      filter.machineId
        ? this.db
            .prepare(`SELECT ${COLUMNS} FROM dex_reads WHERE machine_id = ? ORDER BY read_id DESC LIMIT ?`)
            .all(filter.machineId, limit)
        : this.db.prepare(`SELECT ${COLUMNS} FROM dex_reads ORDER BY read_id DESC LIMIT ?`).all(limit)
    ) as Row[];
    return rows.map(fromRow);
  }

  get(readId: number): AuditRead | undefined {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM dex_reads WHERE read_id = ?`).get(readId) as
      | Row
      | undefined;
    return row && fromRow(row);
  }

  rawText(readId: number): string | undefined {
    const row = this.db.prepare('SELECT raw_text FROM dex_reads WHERE read_id = ?').get(readId) as
      | { raw_text: string | null }
      | undefined;
    return row?.raw_text ?? undefined;
  }

  /** Clears the raw text of a machine's reads finished before `beforeMs`; returns how many. */
  purgeRaw(machineId: string, beforeMs: number): number {
    return this.db
      .prepare(
        'UPDATE dex_reads SET raw_text = NULL WHERE machine_id = ? AND finished_at < ? AND raw_text IS NOT NULL',
      )
      .run(machineId, beforeMs).changes;
  }
}

function fromRow(r: Row): AuditRead {
  const read: AuditRead = {
    readId: r.read_id,
    machineId: r.machine_id,
    trigger: r.trigger,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    problems: JSON.parse(r.problems) as string[],
  };
  if (r.error_code !== null) read.error = { code: r.error_code, reason: r.error_reason ?? '' };
  if (r.machine_serial !== null) read.machineSerial = r.machine_serial;
  if (r.currency !== null) read.currency = r.currency;
  if (r.totals !== null) read.totals = JSON.parse(r.totals) as AuditCounters;
  if (r.since_last !== null) read.sinceLast = JSON.parse(r.since_last) as AuditRead['sinceLast'];
  if (r.ledger !== null) read.ledger = JSON.parse(r.ledger) as LedgerComparison;
  if (r.unknown_segments !== null) read.unknownSegments = r.unknown_segments;
  if (r.raw_bytes !== null) read.rawBytes = r.raw_bytes;
  return read;
}
