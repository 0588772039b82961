import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createRootLogger, namespaced, RepeatLimiter } from './log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, sink };
}

describe('the repeated-line limit', () => {
  it('writes the first lines of a repeated message and code, then one summary per interval', () => {
    const { lines, sink } = capture();
    let now = 0;
    const log = createRootLogger({
      destination: sink,
      repeats: { burst: 3, intervalMs: 10_000, now: () => now },
    });
    for (let i = 0; i < 1000; i++) log.error({ code: 'SQLITE_FULL', orderId: `o${i}` }, 'write failed');
    expect(lines).toHaveLength(3);
    now = 10_000;
    log.error({ code: 'SQLITE_FULL', orderId: 'late' }, 'write failed');
    expect(lines).toHaveLength(5);
    expect(lines[3]).toMatchObject({
      msg: 'write failed (repeated 997 more times in 10 s)',
      repeated: 997,
      orderId: 'o999',
    });
    expect(lines[4]).toMatchObject({ msg: 'write failed', orderId: 'late' });
  });

  it('counts lines apart when their code, level or logger namespace differ', () => {
    const { lines, sink } = capture();
    const root = createRootLogger({
      destination: sink,
      repeats: { burst: 1, intervalMs: 10_000, now: () => 0 },
    });
    const a = namespaced(root, 'a');
    const b = namespaced(root, 'b');
    for (let i = 0; i < 5; i++) {
      a.warn({ code: 1 }, 'same text');
      a.warn({ code: 2 }, 'same text');
      a.error({ code: 1 }, 'same text');
      b.warn({ code: 1 }, 'same text');
    }
    expect(lines).toHaveLength(4);
  });

  it('writes the summary of a storm that stopped once its interval is flushed', () => {
    const { lines, sink } = capture();
    let now = 0;
    const limiter = new RepeatLimiter({ burst: 2, intervalMs: 1000, now: () => now });
    const log = pino({ hooks: { logMethod: limiter.hook } }, sink);
    for (let i = 0; i < 10; i++) log.warn('machine offline');
    expect(lines).toHaveLength(2);
    limiter.flush();
    expect(lines).toHaveLength(2);
    now = 1500;
    limiter.flush();
    expect(lines.map((l) => l.msg)).toEqual([
      'machine offline',
      'machine offline',
      'machine offline (repeated 8 more times in 2 s)',
    ]);
    log.warn('machine offline');
    expect(lines).toHaveLength(4);
  });

  it('writes every line when the limit is off', () => {
    const { lines, sink } = capture();
    const log = createRootLogger({ destination: sink, repeats: false });
    for (let i = 0; i < 50; i++) log.info('same');
    expect(lines).toHaveLength(50);
  });
});
