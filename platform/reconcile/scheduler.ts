/**
 * Runs yesterday's reconciliation once a day, after the providers publish
 * the previous day's bills in the morning (WeChat Pay from 10:00 Beijing
 * time): each check runs it when the hour has passed and the report is not
 * there yet, so a platform restarted at noon still does it. A day with a
 * bill that could not be fetched is not saved, so the next check retries.
 */
import type { Log } from '../../core/log.ts';
import { beijingDay } from './match.ts';
import type { ReportStore } from './reports.ts';
import { type ReconcileDeps, reconcileDay } from './run.ts';

export interface ReconcileSchedulerOptions extends ReconcileDeps {
  reports: ReportStore;
  /** The Beijing hour from which yesterday's bills are fetched. Default 10. */
  hour?: number;
  checkEveryMs?: number;
  log: Log;
}

export class ReconcileScheduler {
  readonly #o: ReconcileSchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: ReconcileSchedulerOptions) {
    this.#o = opts;
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.#o.checkEveryMs ?? 15 * 60_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  /** Runs yesterday's reconciliation when due and not yet done. */
  async check(): Promise<void> {
    if (this.#running) return this.#running;
    const now = (this.#o.now ?? Date.now)();
    const beijingHour = new Date(now + 8 * 3600_000).getUTCHours();
    const yesterday = beijingDay(now - 24 * 3600_000);
    if (beijingHour < (this.#o.hour ?? 10) || this.#o.reports.has(yesterday)) return;
    this.#running = (async () => {
      try {
        const report = await reconcileDay(this.#o, yesterday);
        if (report.errors.length === 0) this.#o.reports.save(report);
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message, day: yesterday }, 'daily reconciliation failed');
      }
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}
