/**
 * The site's active conditions: the faults and warnings an operator must
 * see and an alert must announce (a machine offline, a jammed slot, a door
 * left open, stock running low, a DEX audit that disagrees with the ledger,
 * an outbox that keeps growing). Every part that detects one raises it
 * here under a stable key and clears it when the condition ends; alerts,
 * the dashboard and the REST API read from here.
 *
 * Raising a condition that is already active changes nothing but its
 * detail (no second alert); clearing one that is not active is a no-op. So
 * a source may simply report its current view every time it looks.
 */
import { CONDITION_KINDS } from '../../contract/events.ts';
import type { Clock } from '../../core/clock.ts';

export { CONDITION_KINDS };
export type ConditionKind = (typeof CONDITION_KINDS)[number];

export type ConditionSeverity = 'warning' | 'critical';

export interface ConditionInput {
  kind: ConditionKind;
  /** The machine it concerns; absent for the gateway itself (outbox_growing). */
  machineId?: string;
  /** The slot it concerns, for slot conditions (jam, sold_out, low_stock). */
  slot?: number;
  severity: ConditionSeverity;
  /** For people: what was seen, e.g. "door open for 12 min" or "7.5 °C above 6 °C". */
  detail: string;
}

export interface Condition extends ConditionInput {
  /** Stable: kind, machine and slot. The same condition has the same key whenever it is raised. */
  key: string;
  /** Wall time it was first raised, Unix ms. */
  since: number;
  /** Wall time of its latest report, Unix ms. */
  updatedAt: number;
}

export interface ClearedCondition extends Condition {
  clearedAt: number;
}

export type ConditionListener = (
  change: { type: 'raised'; condition: Condition } | { type: 'cleared'; condition: ClearedCondition },
) => void;

export function conditionKey(c: Pick<ConditionInput, 'kind' | 'machineId' | 'slot'>): string {
  return [c.kind, c.machineId ?? '-', c.slot ?? '-'].join(':');
}

/** How many cleared conditions `recent()` keeps, newest first. */
const RECENT_LIMIT = 200;

export class ConditionBoard {
  readonly #active = new Map<string, Condition>();
  readonly #recent: ClearedCondition[] = [];
  readonly #listeners = new Set<ConditionListener>();
  readonly #clock: Pick<Clock, 'wallMs'>;

  constructor(clock: Pick<Clock, 'wallMs'>) {
    this.#clock = clock;
  }

  /** Raises (or refreshes) a condition. Returns true when it was not active before. */
  raise(input: ConditionInput): boolean {
    const key = conditionKey(input);
    const now = this.#clock.wallMs();
    const existing = this.#active.get(key);
    if (existing) {
      this.#active.set(key, { ...existing, detail: input.detail, severity: input.severity, updatedAt: now });
      return false;
    }
    const condition: Condition = { ...input, key, since: now, updatedAt: now };
    this.#active.set(key, condition);
    this.#emit({ type: 'raised', condition });
    return true;
  }

  /** Clears a condition. Returns true when it was active. */
  clear(c: Pick<ConditionInput, 'kind' | 'machineId' | 'slot'>): boolean {
    const key = conditionKey(c);
    const existing = this.#active.get(key);
    if (!existing) return false;
    this.#active.delete(key);
    const cleared: ClearedCondition = { ...existing, clearedAt: this.#clock.wallMs() };
    this.#recent.unshift(cleared);
    if (this.#recent.length > RECENT_LIMIT) this.#recent.length = RECENT_LIMIT;
    this.#emit({ type: 'cleared', condition: cleared });
    return true;
  }

  /** Raises or clears, as `active` says: for sources that report their current view. */
  set(input: ConditionInput, active: boolean): void {
    if (active) this.raise(input);
    else this.clear(input);
  }

  isActive(c: Pick<ConditionInput, 'kind' | 'machineId' | 'slot'>): boolean {
    return this.#active.has(conditionKey(c));
  }

  /** The active conditions, oldest first. */
  active(): Condition[] {
    return [...this.#active.values()].sort((a, b) => a.since - b.since);
  }

  /** Conditions cleared lately, newest first (at most 200). */
  recent(): ClearedCondition[] {
    return [...this.#recent];
  }

  /** Returns a function that removes the listener. A listener that throws is not the board's problem: it is isolated. */
  onChange(listener: ConditionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: Parameters<ConditionListener>[0]): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch {
        // One broken listener (an alert sink) must not stop the others or the source that raised it.
      }
    }
  }
}
