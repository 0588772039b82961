/**
 * Reconciliation reports kept as one JSON file per day under a directory,
 * written atomically (a temporary file renamed over the old one) so a
 * crash never leaves half a report.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { ReconcileReport } from './match.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export class ReportStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  save(report: ReconcileReport): void {
    const path = join(this.#dir, `${report.day}.json`);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }

  get(day: string): ReconcileReport {
    if (!DAY.test(day)) throw new VendgateError(ErrorCode.HttpBadRequest, 'a day is YYYY-MM-DD', {});
    try {
      return JSON.parse(readFileSync(join(this.#dir, `${day}.json`), 'utf8')) as ReconcileReport;
    } catch {
      throw new VendgateError(ErrorCode.PlatformReportUnknown, `no reconciliation report for ${day}`, {
        day,
      });
    }
  }

  has(day: string): boolean {
    return this.days().includes(day);
  }

  /** The days with a report, newest first. */
  days(): string[] {
    return readdirSync(this.#dir)
      .filter((f) => f.endsWith('.json') && DAY.test(f.slice(0, -5)))
      .map((f) => f.slice(0, -5))
      .sort()
      .reverse();
  }
}
