/**
 * Reads each configured machine's DEX/UCS audit (devices/dex/) on its
 * schedule (config machines[].dex, in the site's time zone) and on demand
 * (the `machine.audit.read` command, the REST API, the CLI), and for each
 * read: stores it (dex_reads), works out the change since the previous good
 * read, compares the vends the audit says the gateway's payments bought
 * with what the ledger dispensed on that machine in the same interval
 * (raising `dex_mismatch` on the condition board when they differ,
 * clearing it when a later read agrees), and sends `audit.read` upstream
 * with the counters, never the raw text.
 *
 * A read that fails (no answer, a CRC that keeps failing, a stall, too much
 * data) or an audit that fails its checks (G85, SE count, truncated) is
 * stored as `failed` or `flagged`, never as a good read: the next
 * difference is taken from the last good one.
 */
import type { EventData } from '../../contract/events.ts';
import { type Clock, systemClock } from '../../core/clock.ts';
import { ErrorCode, isVendgateError, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { formatMoney } from '../../core/money.ts';
import { parseEvaDts } from '../../devices/dex/evadts/parse.ts';
import type { DexAudit } from '../../devices/dex/evadts/types.ts';
import { type DexReadOptions, type DexTransfer, readDexAudit } from '../../devices/dex/link.ts';
import { createTransport, type TransportFactory } from '../../devices/vending/transport.ts';
import type { ConditionBoard } from '../conditions/conditions.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';
import { type DexConfig, everyMs } from './config.ts';
import { auditedGatewayVends, countersOf, diffCounters } from './counters.ts';
import { dispensedBetween } from './ledger-window.ts';
import { nextReadAt } from './schedule.ts';
import { type AuditRead, AuditStore, type NewAuditRead, type ReadTrigger } from './store.ts';

export interface AuditMachine {
  id: string;
  /** The machine's configured currency: the audit's fallback and what the ledger counts in. */
  currency: string;
  dex: DexConfig;
}

export interface AuditServiceOptions {
  db: Db;
  outbox: Pick<Outbox, 'append'>;
  /** Wakes the platform link after an event was queued. */
  notify: () => void;
  conditions: Pick<ConditionBoard, 'raise' | 'clear'>;
  machines: readonly AuditMachine[];
  /** The site's IANA time zone (config timeZone). */
  timeZone: string;
  log: Log;
  transportFactory?: TransportFactory;
  clock?: Clock;
  /** Link timing and bounds (tests shorten the timeouts); maxBytes comes from each machine's config. */
  link?: Omit<DexReadOptions, 'maxBytes'>;
}

const MAX_EVENT_PROBLEMS = 20;
const MAX_PROBLEM_CHARS = 200;

export class AuditService {
  readonly #o: AuditServiceOptions;
  readonly #store: AuditStore;
  readonly #machines: Map<string, AuditMachine>;
  readonly #clock: Clock;
  readonly #inFlight = new Map<string, Promise<AuditRead>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #running = false;

  constructor(opts: AuditServiceOptions) {
    this.#o = opts;
    this.#store = new AuditStore(opts.db);
    this.#machines = new Map(opts.machines.map((m) => [m.id, m]));
    this.#clock = opts.clock ?? systemClock;
  }

  /** The machines with a DEX port, by id. */
  get machineIds(): string[] {
    return [...this.#machines.keys()];
  }

  start(): void {
    this.#running = true;
    for (const m of this.#machines.values()) this.#schedule(m);
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  /** Stored reads, newest first. */
  latest(filter: { machineId?: string; limit?: number } = {}): AuditRead[] {
    return this.#store.latest(filter);
  }

  /**
   * Reads the machine's audit now and resolves with the stored read (a
   * failed or flagged one too). A read already running on the machine is
   * joined, not started twice. Throws DexMachineUnknown for a machine
   * without a DEX port.
   */
  readNow(machineId: string, trigger: ReadTrigger): Promise<AuditRead> {
    const machine = this.#machines.get(machineId);
    if (!machine)
      return Promise.reject(
        new VendgateError(
          ErrorCode.DexMachineUnknown,
          `no machine "${machineId}" with a DEX port is configured`,
          {
            machineId,
          },
        ),
      );
    const running = this.#inFlight.get(machineId);
    if (running) return running;
    const p = this.#read(machine, trigger).finally(() => this.#inFlight.delete(machineId));
    this.#inFlight.set(machineId, p);
    return p;
  }

  #schedule(m: AuditMachine): void {
    if (!this.#running) return;
    const now = this.#clock.wallMs();
    const next = nextReadAt(now, everyMs(m.dex.every), m.dex.startAt, this.#o.timeZone);
    if (next === undefined) return;
    // Long timers are re-armed at most hourly, so a wall clock correction moves the read with it.
    const wait = Math.min(next - now, 3_600_000);
    const timer = setTimeout(() => {
      this.#timers.delete(m.id);
      if (this.#clock.wallMs() + 1000 < next) return this.#schedule(m);
      this.readNow(m.id, 'schedule')
        .catch((err: unknown) => this.#o.log.error({ err, machineId: m.id }, 'scheduled DEX read failed'))
        .finally(() => this.#schedule(m));
    }, wait);
    timer.unref();
    this.#timers.set(m.id, timer);
  }

  async #read(m: AuditMachine, trigger: ReadTrigger): Promise<AuditRead> {
    const log = this.#o.log;
    const startedAt = this.#clock.wallMs();
    let transfer: DexTransfer | undefined;
    let failure: VendgateError | undefined;
    const transport = (this.#o.transportFactory ?? createTransport)(m.dex.port, { baudRate: m.dex.baudRate });
    transport.on('error', () => {}); // a failing port surfaces as a failed read below
    try {
      await transport.open();
    } catch (err) {
      failure = new VendgateError(
        ErrorCode.DexPortUnavailable,
        `cannot open the DEX port ${m.dex.port}: ${(err as Error).message}`,
        { port: m.dex.port },
      );
    }
    if (!failure) {
      try {
        transfer = await readDexAudit(transport, { ...this.#o.link, maxBytes: m.dex.maxBytes });
      } catch (err) {
        failure = isVendgateError(err)
          ? err
          : new VendgateError(ErrorCode.DexProtocol, `the DEX read failed: ${(err as Error).message}`);
      }
    }
    await transport.close().catch(() => {});
    const finishedAt = this.#clock.wallMs();
    const base = { machineId: m.id, trigger, startedAt, finishedAt };

    let read: NewAuditRead;
    let audit: DexAudit | undefined;
    if (failure || !transfer) {
      const e = failure ?? new VendgateError(ErrorCode.DexProtocol, 'the DEX read returned nothing');
      read = { ...base, status: 'failed', error: { code: e.code, reason: e.message }, problems: [] };
    } else {
      for (const w of transfer.warnings) log.warn({ machineId: m.id }, `DEX read: ${w}`);
      try {
        audit = parseEvaDts(transfer.text, { defaultCurrency: m.currency, maxChars: m.dex.maxBytes });
      } catch (err) {
        const e = isVendgateError(err)
          ? err
          : new VendgateError(ErrorCode.DexAuditInvalid, (err as Error).message);
        read = {
          ...base,
          status: 'failed',
          error: { code: e.code, reason: e.message },
          problems: [],
          rawBytes: transfer.bytes,
          rawText: transfer.text,
        };
      }
      if (audit) read = this.#assess(m, audit, transfer, base);
    }
    const stored = inTx(this.#o.db, () => {
      const readId = this.#store.insert(read);
      const r = this.#store.get(readId)!;
      this.#o.outbox.append('audit.read', eventOf(r));
      if (m.dex.keepRawDays >= 0) this.#store.purgeRaw(m.id, finishedAt - m.dex.keepRawDays * 86_400_000);
      return r;
    });
    this.#o.notify();
    if (stored.status === 'good' && stored.ledger) this.#condition(m, stored);
    log.info(
      { machineId: m.id, readId: stored.readId, status: stored.status, trigger, code: stored.error?.code },
      stored.status === 'failed'
        ? `DEX read failed: ${stored.error?.reason}`
        : `DEX audit read (${stored.status})`,
    );
    return stored;
  }

  #assess(
    m: AuditMachine,
    audit: DexAudit,
    transfer: DexTransfer,
    base: Pick<NewAuditRead, 'machineId' | 'trigger' | 'startedAt' | 'finishedAt'>,
  ): NewAuditRead {
    const problems = [...audit.problems];
    if (audit.currency !== m.currency)
      problems.push(`the audit counts in ${audit.currency} but the machine is configured in ${m.currency}`);
    const totals = countersOf(audit);
    const read: NewAuditRead = {
      ...base,
      status: problems.length === 0 ? 'good' : 'flagged',
      problems,
      currency: audit.currency,
      totals,
      unknownSegments: audit.unknownCount,
      rawBytes: transfer.bytes,
      rawText: transfer.text,
      ...(audit.machine.serial ? { machineSerial: audit.machine.serial } : {}),
    };
    if (read.status !== 'good') return read;
    const prev = this.#store.lastGood(m.id);
    if (!prev?.totals) return read; // the first good read is the baseline
    const delta = diffCounters(prev.totals, totals);
    read.sinceLast = { ...delta, fromReadId: prev.readId, from: prev.startedAt };
    // The audit is a snapshot taken when the machine began sending: compare the same interval of the ledger.
    const ledger = dispensedBetween(this.#o.db, m.id, prev.startedAt, base.startedAt, audit.currency);
    const audited = auditedGatewayVends(audit, delta);
    read.ledger = {
      count: ledger.count,
      value: ledger.value,
      compared: audited.compared,
      audited: { count: audited.count, value: audited.value },
      mismatch: audited.count !== ledger.count || audited.value !== ledger.value,
    };
    return read;
  }

  #condition(m: AuditMachine, r: AuditRead): void {
    const l = r.ledger!;
    const currency = r.currency ?? m.currency;
    const money = (amount: number) => formatMoney({ amount, currency }, 'en');
    const what = l.compared === 'cashless' ? 'cashless' : 'non-cash paid';
    if (l.mismatch)
      this.#o.conditions.raise({
        kind: 'dex_mismatch',
        machineId: m.id,
        severity: 'warning',
        detail: `DEX read ${r.readId}: the audit counts ${l.audited.count} ${what} vends (${money(l.audited.value)}) since read ${r.sinceLast?.fromReadId}, the ledger dispensed ${l.count} (${money(l.value)}): ${l.audited.count - l.count >= 0 ? '+' : ''}${l.audited.count - l.count} vends, ${money(Math.abs(l.audited.value - l.value))} ${l.audited.value >= l.value ? 'more' : 'less'} on the machine`,
      });
    else this.#o.conditions.clear({ kind: 'dex_mismatch', machineId: m.id });
  }
}

/** The upstream event of a stored read: counters, never the raw text; bounded lists. */
export function eventOf(r: AuditRead): EventData<'audit.read'> {
  return {
    machineId: r.machineId,
    readId: r.readId,
    trigger: r.trigger,
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    ...(r.error ? { error: { code: r.error.code, reason: r.error.reason.slice(0, 512) } } : {}),
    problems: r.problems.slice(0, MAX_EVENT_PROBLEMS).map((p) => p.slice(0, MAX_PROBLEM_CHARS)),
    ...(r.machineSerial ? { machineSerial: r.machineSerial.slice(0, 64) } : {}),
    ...(r.currency ? { currency: r.currency } : {}),
    ...(r.totals ? { totals: r.totals } : {}),
    ...(r.sinceLast ? { sinceLast: r.sinceLast } : {}),
    ...(r.ledger
      ? {
          ledger: {
            count: r.ledger.count,
            value: r.ledger.value,
            mismatch: r.ledger.mismatch,
            compared: r.ledger.compared,
          },
        }
      : {}),
    ...(r.unknownSegments !== undefined ? { unknownSegments: r.unknownSegments } : {}),
  };
}
