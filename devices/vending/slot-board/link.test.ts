import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, type VendgateError } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import { Command, encodeFrame, type Frame, FrameDecoder } from './codec.ts';
import { SlotBoardLink, type SlotBoardLinkStats } from './link.ts';

interface Harness {
  link: SlotBoardLink;
  stats: SlotBoardLinkStats;
  /** Every port write, as the frames it carried. */
  writes: Frame[][];
  port: { open: boolean };
}

function harness(maxQueuedFrames = 8): Harness {
  const stats = { framesIn: 0, framesOut: 0, resends: 0, duplicates: 0, ackFailures: 0 };
  const writes: Frame[][] = [];
  const port = { open: true };
  const link = new SlotBoardLink({
    machineId: 'm1',
    log: silentLogger(),
    ackTimeoutMs: 100,
    maxResends: 2,
    maxQueuedFrames,
    stats,
    write: (bytes) => writes.push(new FrameDecoder().push(bytes)),
    isOpen: () => port.open,
  });
  return { link, stats, writes, port };
}

/** One frame as the decoder would hand it over. */
function frame(command: number, seq: number, payload: number[] = []): Frame {
  return new FrameDecoder().push(encodeFrame(command, seq, Uint8Array.from(payload)))[0]!;
}

/** Lets the link's nextTick flush run (nextTick is not faked). */
const flushed = () => new Promise<void>((r) => process.nextTick(r));

const summary = (fs: Frame[]) => fs.map((f) => `${f.command}/${f.seq}`);

describe('SlotBoardLink', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('numbers data frames 1..255 and wraps to 1, never using POLL seq 0', async () => {
    const { link, writes } = harness(300);
    const seqs: number[] = [];
    for (let i = 0; i < 256; i++) {
      link.send(Command.QueryVend, new Uint8Array(4), null, null);
      await flushed();
      const f = writes.at(-1)!.at(-1)!;
      seqs.push(f.seq);
      link.receive(frame(Command.Ack, f.seq));
    }
    expect(seqs.slice(0, 3)).toEqual([1, 2, 3]);
    expect(seqs[254]).toBe(255);
    expect(seqs[255]).toBe(1);
    expect(seqs).not.toContain(0);
  });

  it('keeps one data frame in flight and sends the next when the ACK quoting its seq arrives', async () => {
    const { link, writes } = harness();
    const acked: string[] = [];
    link.send(Command.QueryVend, new Uint8Array(4), () => acked.push('a'), null);
    link.send(Command.GetInfo, new Uint8Array(0), () => acked.push('b'), null);
    await flushed();
    expect(writes.map(summary)).toEqual([[`${Command.QueryVend}/1`]]);
    link.receive(frame(Command.Ack, 7)); // not the seq in flight: ignored
    expect(acked).toEqual([]);
    link.receive(frame(Command.Ack, 1));
    expect(acked).toEqual(['a']);
    await flushed();
    expect(writes.map(summary)).toEqual([[`${Command.QueryVend}/1`], [`${Command.GetInfo}/2`]]);
  });

  it('resends an unacknowledged frame with the same seq and bytes, then fails it with DeviceTimeout', async () => {
    const { link, writes, stats } = harness();
    const failures: VendgateError[] = [];
    link.send(Command.Dispense, Uint8Array.from([0, 0, 0, 9, 1]), null, (e) => failures.push(e));
    await flushed();
    vi.advanceTimersByTime(100);
    await flushed();
    vi.advanceTimersByTime(100);
    await flushed();
    expect(writes.map(summary)).toEqual([
      [`${Command.Dispense}/1`],
      [`${Command.Dispense}/1`],
      [`${Command.Dispense}/1`],
    ]);
    expect(stats).toMatchObject({ framesOut: 3, resends: 2, ackFailures: 0 });
    vi.advanceTimersByTime(100);
    expect(stats.ackFailures).toBe(1);
    const err = await expectVendgateError(Promise.reject(failures[0]), ErrorCode.DeviceTimeout);
    expect(err.message).toBe('machine m1: no ACK after 3 attempts');
    expect(err.context).toMatchObject({ command: Command.Dispense, seq: 1, attempts: 3 });
  });

  it('acknowledges every frame from the board but an ACK, quoting its seq, in one write per tick', async () => {
    const { link, writes } = harness();
    expect(link.receive(frame(Command.Poll, 0, [0]))).toBe(false);
    expect(link.receive(frame(Command.DispenseProgress, 4, [0, 0, 0, 1, 1]))).toBe(true);
    expect(link.receive(frame(Command.Ack, 4))).toBe(false);
    link.send(Command.QueryVend, new Uint8Array(4), null, null);
    expect(writes).toEqual([]); // nothing written synchronously
    await flushed();
    expect(writes.map(summary)).toEqual([[`${Command.Ack}/0`, `${Command.Ack}/4`, `${Command.QueryVend}/1`]]);
  });

  it('drops a resent frame (same seq, command and checksum) but acknowledges it again', async () => {
    const { link, writes, stats } = harness();
    const f = frame(Command.DispenseResult, 9, [0, 0, 0, 1, 2, 0]);
    expect(link.receive(f)).toBe(true);
    expect(link.receive(f)).toBe(false);
    expect(stats.duplicates).toBe(1);
    // The same seq with other content is a new frame (the board's seq wrapped around).
    expect(link.receive(frame(Command.DispenseResult, 9, [0, 0, 0, 2, 2, 0]))).toBe(true);
    await flushed();
    expect(writes.map(summary)).toEqual([[`${Command.Ack}/9`, `${Command.Ack}/9`, `${Command.Ack}/9`]]);
  });

  it('never dedupes POLL: every poll is acknowledged and none goes up', async () => {
    const { link, writes, stats } = harness();
    const poll = frame(Command.Poll, 0, [0]);
    expect([link.receive(poll), link.receive(poll), link.receive(poll)]).toEqual([false, false, false]);
    expect(stats.duplicates).toBe(0);
    await flushed();
    expect(writes[0]).toHaveLength(3);
  });

  it('refuses a frame when the queue is full, with DeviceBusy', async () => {
    const { link } = harness(1);
    expect(link.send(Command.QueryVend, new Uint8Array(4), null, null)).toBe(true); // in flight
    expect(link.send(Command.QueryVend, new Uint8Array(4), null, null)).toBe(true); // waiting
    expect(link.send(Command.QueryVend, new Uint8Array(4), null, null)).toBe(false);
    await expectVendgateError(Promise.reject(link.busyError()), ErrorCode.DeviceBusy);
  });

  it('on a lost port drops unwritten bytes and fails every pending frame with the offline error', async () => {
    const { link, writes, port } = harness();
    const failures: string[] = [];
    link.send(Command.QueryVend, new Uint8Array(4), null, (e) => failures.push(`a:${e.code}`));
    link.send(Command.GetInfo, new Uint8Array(0), null, (e) => failures.push(`b:${e.code}`));
    port.open = false;
    link.lost(link.offlineError('port closed'));
    await flushed();
    expect(writes).toEqual([]);
    expect(failures).toEqual([`a:${ErrorCode.DeviceOffline}`, `b:${ErrorCode.DeviceOffline}`]);
    vi.advanceTimersByTime(10_000);
    expect(writes).toEqual([]);
  });

  it('whatever mix of new frames and resends arrives, passes up exactly the frames that differ from the one before', () => {
    const arb = fc.array(
      fc.record({
        command: fc.constantFrom(Command.DispenseProgress, Command.DispenseResult, Command.VendStatus),
        seq: fc.integer({ min: 1, max: 3 }),
        body: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(arb, (inputs) => {
        const { link } = harness();
        let prev: string | null = null;
        for (const i of inputs) {
          const f = frame(i.command, i.seq, [i.body]);
          const key = `${f.command}/${f.seq}/${f.checksum}`;
          expect(link.receive(f)).toBe(key !== prev);
          prev = key;
        }
      }),
    );
  });
});
