import { fstatSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isJournalStream, journalLogDestination, syslogPriority, withPriority } from './journal.ts';

describe('journal log lines', () => {
  it('gives each pino level its syslog priority', () => {
    expect([10, 20, 30, 40, 50, 60].map(syslogPriority)).toEqual([7, 7, 6, 4, 3, 2]);
  });

  it('prefixes a pino line with its priority and leaves the JSON as it was', () => {
    fc.assert(
      fc.property(fc.constantFrom(10, 20, 30, 40, 50, 60), fc.string(), (level, msg) => {
        const line = `${JSON.stringify({ level, time: 1, msg })}\n`;
        const out = withPriority(line);
        expect(out).toBe(`<${syslogPriority(level)}>${line}`);
        expect(JSON.parse(out.slice(out.indexOf('>') + 1))).toEqual({ level, time: 1, msg });
      }),
    );
  });

  it('knows stdout is the journal only when JOURNAL_STREAM names its device and inode', () => {
    const st = fstatSync(1);
    expect(isJournalStream(1, { JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
    expect(isJournalStream(1, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` })).toBe(false);
    expect(isJournalStream(1, {})).toBe(false);
    expect(journalLogDestination({})).toBeUndefined();
  });

  it('writes what a pino logger logs, one prefixed line per entry', () => {
    const st = fstatSync(1);
    const sink = new PassThrough();
    const chunks: string[] = [];
    sink.setEncoding('utf8').on('data', (c: string) => chunks.push(c));
    const dest = journalLogDestination({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, sink)!;
    const log = pino({ level: 'debug' }, dest);
    log.warn({ machineId: 'm1' }, 'machine offline');
    log.error('store failed');
    const lines = chunks.join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^<4>\{"level":40,.*"msg":"machine offline"\}$/);
    expect(lines[1]).toMatch(/^<3>\{"level":50,/);
  });
});
