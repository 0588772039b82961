/**
 * Select-then-pay sessions and how they ended, read from the cashless
 * flow's own table (gateway/cashless/flow.ts: `cashless_sessions`), never
 * copied. The flow records each ending once in `outcome`; here it is named
 * for people: `closed` there is a session that ended before it was paid.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';

export const SESSION_OUTCOMES = [
  'open',
  'dispensed',
  'vend-failed',
  'not-paid',
  'refused',
  'approval-failed',
  'unresolved',
] as const;
export type SessionOutcome = (typeof SESSION_OUTCOMES)[number];

export interface SessionSummary {
  sessionId: string;
  machineId: string;
  item: number;
  price: { amount: number; currency: string };
  /** The flow's state: creating, awaiting (payment), approved (vending) or closed. */
  state: 'creating' | 'awaiting' | 'approved' | 'closed';
  startedAt: number;
  endedAt?: number;
  outcome: SessionOutcome;
}

/** Sessions a listing may return at most. */
export const MAX_SESSIONS = 500;

interface SessionRow {
  session_id: string;
  machine_id: string;
  item: number;
  amount: number;
  currency: string;
  state: SessionSummary['state'];
  outcome: string | null;
  created_at: number;
  updated_at: number;
}

const STORED_OUTCOME: Readonly<Record<string, SessionOutcome>> = {
  dispensed: 'dispensed',
  'vend-failed': 'vend-failed',
  closed: 'not-paid',
  refused: 'refused',
  'approval-failed': 'approval-failed',
  unresolved: 'unresolved',
};

export class SessionsView {
  readonly #latest: Statement<[number], SessionRow>;

  constructor(db: Db) {
    this.#latest = db.prepare(
      `SELECT session_id, machine_id, item, amount, currency, state, outcome, created_at, updated_at
       FROM cashless_sessions ORDER BY created_at DESC, session_id LIMIT ?`,
    );
  }

  /** The latest `limit` (1..500) sessions, newest first. */
  latest(limit: number): SessionSummary[] {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SESSIONS)
      throw new RangeError(`limit must be an integer 1..${MAX_SESSIONS}, got ${limit}`);
    return this.#latest.all(limit).map((r) => {
      const closed = r.state === 'closed';
      return {
        sessionId: r.session_id,
        machineId: r.machine_id,
        item: r.item,
        price: { amount: r.amount, currency: r.currency },
        state: r.state,
        startedAt: r.created_at,
        ...(closed ? { endedAt: r.updated_at } : {}),
        // A closed row always has an outcome; one the flow may add later reads as unresolved, not invented.
        outcome: closed ? (STORED_OUTCOME[r.outcome ?? ''] ?? 'unresolved') : 'open',
      };
    });
  }
}
