import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import type { VendOutcome } from '../port.ts';
import { deviceOfflineError } from '../request-queue.ts';
import { Command } from './codec.ts';
import type { FrameSender, OnAck, OnFail } from './link.ts';
import {
  AckMessage,
  DispenseMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  ResultCode,
} from './messages.ts';
import { failureReason, VendJobs } from './vend-jobs.ts';

/** A link that records what would go on the wire and lets the test ACK or fail it. */
class FakeLink implements FrameSender {
  open = true;
  room = Number.POSITIVE_INFINITY;
  readonly sent: Array<{ command: number; payload: Uint8Array; onAck: OnAck | null; onFail: OnFail | null }> =
    [];
  send(command: number, payload: Uint8Array, onAck: OnAck | null, onFail: OnFail | null): boolean {
    if (this.room <= 0) return false;
    this.room--;
    this.sent.push({ command, payload, onAck, onFail });
    return true;
  }
  busyError(context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceBusy, 'busy', context);
  }
  offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return deviceOfflineError('m1', reason, context);
  }
  /** Tokens of the DISPENSE frames sent so far. */
  get dispensed(): number[] {
    return this.sent
      .filter((s) => s.command === Command.Dispense)
      .map((s) => DispenseMessage.from(s.payload).vendToken);
  }
}

function jobs(link = new FakeLink(), dispenseTimeoutMs = 1000) {
  const outcomes: VendOutcome[] = [];
  const progress: string[] = [];
  const epochs: number[] = [];
  const board: { epoch: number | undefined } = { epoch: undefined };
  const v = new VendJobs({
    machineId: 'm1',
    log: silentLogger(),
    link,
    dispenseTimeoutMs,
    bootEpoch: () => board.epoch,
    onBootEpoch: (e) => epochs.push(e),
    onOutcome: (o) => outcomes.push(o),
    onProgress: (t, s) => progress.push(`${t}:${s}`),
  });
  return { v, link, outcomes, progress, epochs, board };
}

describe('VendJobs', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends one DISPENSE at a time: the next only after the previous result', async () => {
    const { v, link } = jobs();
    const a = v.dispense(1, 3);
    const b = v.dispense(2, 4);
    expect(link.dispensed).toEqual([1]);
    v.onResult(new DispenseResultMessage(1, 3, ResultCode.Success));
    expect(link.dispensed).toEqual([1, 2]);
    v.onResult(new DispenseResultMessage(2, 4, ResultCode.Jammed));
    expect(await a).toEqual({ kind: 'dispensed', vendToken: 1, slot: 3 });
    expect(await b).toEqual({ kind: 'failed', vendToken: 2, slot: 4, reason: 'jammed' });
  });

  it('returns the same promise for a token already being dispensed and sends it once', () => {
    const { v, link } = jobs();
    const a = v.dispense(5, 1);
    expect(v.dispense(5, 1)).toBe(a);
    expect(link.dispensed).toEqual([5]);
  });

  it('rejects a token or slot out of range with DeviceProtocol, sending nothing', async () => {
    const { v, link } = jobs();
    await expectVendgateError(v.dispense(0, 1), ErrorCode.DeviceProtocol);
    await expectVendgateError(v.dispense(2 ** 32, 1), ErrorCode.DeviceProtocol);
    await expectVendgateError(v.dispense(1, 256), ErrorCode.DeviceProtocol);
    expect(link.sent).toEqual([]);
  });

  it('rejects with DeviceOffline, not sent, when the port is not open', async () => {
    const link = new FakeLink();
    link.open = false;
    const { v } = jobs(link);
    const err = await expectVendgateError(v.dispense(1, 1), ErrorCode.DeviceOffline);
    expect(err.context).toMatchObject({ vendToken: 1, slot: 1, sent: false });
  });

  it('starts the result timeout only once the board acknowledged the DISPENSE', async () => {
    const { v, link } = jobs(undefined, 1000);
    const p = v.dispense(7, 1);
    vi.advanceTimersByTime(5000); // unacknowledged: the link's resends decide, not this timer
    expect(v.pending).toBe(1);
    link.sent[0]!.onAck!(new Uint8Array(0));
    vi.advanceTimersByTime(999);
    expect(v.pending).toBe(1);
    vi.advanceTimersByTime(1);
    expect(v.pending).toBe(0);
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.context).toMatchObject({ vendToken: 7, slot: 1, sent: true });
  });

  it('rejects a vend whose DISPENSE was never acknowledged with the link error, marked sent', async () => {
    const { v, link } = jobs();
    const p = v.dispense(8, 2);
    const q = v.dispense(9, 2);
    link.sent[0]!.onFail!(new VendgateError(ErrorCode.DeviceTimeout, 'no ACK', { seq: 1 }));
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.context).toEqual({
      seq: 1,
      vendToken: 8,
      slot: 2,
      sent: true,
      sentEpoch: 0,
      acknowledged: false,
    });
    expect(link.dispensed).toEqual([8, 9]);
    v.onResult(new DispenseResultMessage(9, 2, ResultCode.Success));
    await q;
  });

  it('fails every vend on failAll, saying which DISPENSE went out, and sends nothing more', async () => {
    const { v, link } = jobs();
    const a = v.dispense(1, 1);
    const b = v.dispense(2, 1);
    v.failAll(deviceOfflineError('m1', 'port closed'));
    // the link then fails the frame in flight: no effect, no next DISPENSE
    link.sent[0]!.onFail!(deviceOfflineError('m1', 'port closed'));
    expect((await expectVendgateError(a, ErrorCode.DeviceOffline)).context).toMatchObject({ sent: true });
    expect((await expectVendgateError(b, ErrorCode.DeviceOffline)).context).toMatchObject({ sent: false });
    expect(link.dispensed).toEqual([1]);
    expect(v.pending).toBe(0);
  });

  it('rejects a vend with DeviceBusy, not sent, when the link has no room', async () => {
    const link = new FakeLink();
    link.room = 0;
    const { v } = jobs(link);
    const err = await expectVendgateError(v.dispense(3, 1), ErrorCode.DeviceBusy);
    expect(err.context).toMatchObject({ vendToken: 3, sent: false });
    expect(v.pending).toBe(0);
  });

  it('reports every result to onOutcome, also one nobody awaits any more', () => {
    const { v, outcomes } = jobs();
    v.onResult(new DispenseResultMessage(99, 1, ResultCode.EmptySlot));
    expect(outcomes).toEqual([{ kind: 'failed', vendToken: 99, slot: 1, reason: 'empty-slot' }]);
  });

  it('passes dispense progress on by stage', () => {
    const { v, progress } = jobs();
    v.onProgress(new DispenseProgressMessage(4, 1));
    v.onProgress(new DispenseProgressMessage(4, 2));
    expect(progress).toEqual(['4:accepted', '4:dispensing']);
  });

  it('maps each board result code to its domain failure reason', () => {
    expect(failureReason(ResultCode.MotorDidNotStop)).toEqual({
      reason: 'motor-fault',
      detail: 'motor did not stop',
    });
    expect(failureReason(ResultCode.NoMotor)).toEqual({ reason: 'motor-fault', detail: 'no motor' });
    expect(failureReason(ResultCode.DropSensorMiss)).toEqual({ reason: 'drop-sensor-miss' });
    expect(failureReason(ResultCode.UnknownSlot)).toEqual({ reason: 'unknown-slot' });
    expect(failureReason(ResultCode.Busy)).toEqual({ reason: 'busy' });
    expect(failureReason(0xee)).toEqual({ reason: 'other', detail: 'board result code 0xee' });
  });

  it('names the boot epoch it knows in each DISPENSE, and 0 while none is known', () => {
    const { v, link, board } = jobs();
    void v.dispense(1, 1).catch(() => {});
    expect(DispenseMessage.from(link.sent[0]!.payload).bootEpoch).toBe(0);
    v.onResult(new DispenseResultMessage(1, 1, ResultCode.Success));
    board.epoch = 0xcafe0001;
    void v.dispense(2, 1).catch(() => {});
    expect(DispenseMessage.from(link.sent[1]!.payload).bootEpoch).toBe(0xcafe0001);
  });

  it('reports the epoch a DISPENSE ACK names and says in a later rejection who acknowledged it', async () => {
    const { v, link, epochs } = jobs(undefined, 1000);
    const p = v.dispense(7, 1);
    link.sent[0]!.onAck!(new AckMessage(0xbeef).payload());
    expect(epochs).toEqual([0xbeef]);
    vi.advanceTimersByTime(1000);
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.context).toMatchObject({ vendToken: 7, sent: true, acknowledged: true, ackEpoch: 0xbeef });
  });

  it('says a vend was not acknowledged when its DISPENSE never got an ACK', async () => {
    const { v, link } = jobs();
    const p = v.dispense(8, 1);
    link.sent[0]!.onFail!(new VendgateError(ErrorCode.DeviceTimeout, 'no ACK'));
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.context).toMatchObject({ vendToken: 8, sent: true, acknowledged: false });
    expect(err.context).not.toHaveProperty('ackEpoch');
  });

  it('fails the vend in flight with DeviceRestarted when the board restarts, then sends the next', async () => {
    const { v, link, board } = jobs();
    board.epoch = 0x11;
    const a = v.dispense(1, 1);
    const b = v.dispense(2, 1);
    link.sent[0]!.onAck!(new AckMessage(0x11).payload());
    board.epoch = 0x22;
    v.onBoardRestarted(0x11, 0x22);
    const err = await expectVendgateError(a, ErrorCode.DeviceRestarted);
    expect(err.context).toMatchObject({
      vendToken: 1,
      sent: true,
      acknowledged: true,
      ackEpoch: 0x11,
      sentEpoch: 0x11,
      previousEpoch: 0x11,
      bootEpoch: 0x22,
    });
    expect(link.dispensed).toEqual([1, 2]);
    expect(DispenseMessage.from(link.sent[1]!.payload).bootEpoch).toBe(0x22);
    v.onResult(new DispenseResultMessage(2, 1, ResultCode.Success));
    expect(await b).toMatchObject({ kind: 'dispensed', vendToken: 2 });
  });

  it('takes a wrong-epoch refusal as no outcome: DeviceRestarted for the vend, nothing to onOutcome', async () => {
    const { v, outcomes } = jobs();
    const p = v.dispense(5, 1);
    v.onResult(new DispenseResultMessage(5, 1, ResultCode.WrongEpoch));
    await expectVendgateError(p, ErrorCode.DeviceRestarted);
    v.onResult(new DispenseResultMessage(6, 1, ResultCode.WrongEpoch));
    expect(outcomes).toEqual([]);
  });
});
