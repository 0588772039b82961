import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import { deviceOfflineError } from '../request-queue.ts';
import { Command } from './codec.ts';
import type { FrameSender, OnAck, OnFail } from './link.ts';
import { InfoMessage, ResultCode, VendState, VendStatusMessage } from './messages.ts';
import { BoardQueries, vendStatusResult } from './queries.ts';

class FakeLink implements FrameSender {
  open = true;
  room = Number.POSITIVE_INFINITY;
  readonly sent: Array<{ command: number; onAck: OnAck | null; onFail: OnFail | null }> = [];
  send(command: number, _payload: Uint8Array, onAck: OnAck | null, onFail: OnFail | null): boolean {
    if (this.room <= 0) return false;
    this.room--;
    this.sent.push({ command, onAck, onFail });
    return true;
  }
  busyError(context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceBusy, 'busy', context);
  }
  offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return deviceOfflineError('m1', reason, context);
  }
}

function queries(link = new FakeLink()) {
  const epochs: number[] = [];
  const q = new BoardQueries({
    machineId: 'm1',
    link,
    requestTimeoutMs: 500,
    onBootEpoch: (e) => epochs.push(e),
  });
  return { q, link, epochs };
}

describe('BoardQueries', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads each VEND_STATUS state as the domain answer', () => {
    expect(vendStatusResult(new VendStatusMessage(1, VendState.NeverSeen, 0, 0))).toEqual({
      kind: 'never-seen',
      vendToken: 1,
    });
    expect(vendStatusResult(new VendStatusMessage(2, VendState.InProgress, 3, 0))).toEqual({
      kind: 'in-progress',
      vendToken: 2,
    });
    expect(vendStatusResult(new VendStatusMessage(3, VendState.Dispensed, 4, 0))).toEqual({
      kind: 'dispensed',
      vendToken: 3,
      slot: 4,
    });
    expect(vendStatusResult(new VendStatusMessage(4, VendState.Failed, 5, ResultCode.Jammed))).toEqual({
      kind: 'failed',
      vendToken: 4,
      slot: 5,
      reason: 'jammed',
    });
    // A failed vend claiming success is not taken as dispensed.
    expect(vendStatusResult(new VendStatusMessage(5, VendState.Failed, 5, ResultCode.Success))).toMatchObject(
      {
        kind: 'failed',
        reason: 'other',
      },
    );
  });

  it('answers every caller asking about the same token with the one VEND_STATUS', async () => {
    const { q, link } = queries();
    const a = q.queryVend(9);
    const b = q.queryVend(9);
    expect(link.sent.map((s) => s.command)).toEqual([Command.QueryVend, Command.QueryVend]);
    q.onVendStatus(new VendStatusMessage(9, VendState.Dispensed, 2, 0));
    expect(await a).toEqual({ kind: 'dispensed', vendToken: 9, slot: 2 });
    expect(await b).toEqual({ kind: 'dispensed', vendToken: 9, slot: 2 });
  });

  it('times a question out only after the board acknowledged it', async () => {
    const { q, link } = queries();
    const p = q.queryVend(3);
    vi.advanceTimersByTime(5000);
    link.sent[0]!.onAck!(new Uint8Array(0));
    vi.advanceTimersByTime(500);
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.message).toBe('machine m1: no VEND_STATUS within 500 ms');
    // a late reply finds nobody waiting
    q.onVendStatus(new VendStatusMessage(3, VendState.Dispensed, 2, 0));
  });

  it('reads the board info', async () => {
    const { q, link } = queries();
    const p = q.info();
    expect(link.sent.map((s) => s.command)).toEqual([Command.GetInfo]);
    q.onInfo(new InfoMessage(1, 10, 'fw-1'));
    expect(await p).toEqual({ protocolVersion: 1, slotCount: 10, firmware: 'fw-1' });
  });

  it('rejects a question the link could not deliver with the link error', async () => {
    const { q, link } = queries();
    const p = q.info();
    link.sent[0]!.onFail!(new VendgateError(ErrorCode.DeviceTimeout, 'no ACK'));
    await expectVendgateError(p, ErrorCode.DeviceTimeout);
  });

  it('rejects with DeviceOffline when the port is not open, DeviceBusy when the link has no room', async () => {
    const link = new FakeLink();
    const { q } = queries(link);
    link.room = 0;
    await expectVendgateError(q.queryVend(1), ErrorCode.DeviceBusy);
    await expectVendgateError(q.info(), ErrorCode.DeviceBusy);
    link.open = false;
    await expectVendgateError(q.queryVend(1), ErrorCode.DeviceOffline);
    await expectVendgateError(q.queryVend(-1), ErrorCode.DeviceProtocol);
  });

  it('fails every waiting question on failAll', async () => {
    const { q } = queries();
    const a = q.queryVend(1);
    const b = q.info();
    q.failAll(deviceOfflineError('m1', 'port closed'));
    await expectVendgateError(a, ErrorCode.DeviceOffline);
    await expectVendgateError(b, ErrorCode.DeviceOffline);
  });

  it('says which boot epoch answered "never seen", and reports every epoch it hears', async () => {
    const { q, link, epochs } = queries();
    const p = q.queryVend(12);
    link.sent[0]!.onAck!(new Uint8Array(0));
    q.onVendStatus(new VendStatusMessage(12, VendState.NeverSeen, 0, 0, 0x7777));
    expect(await p).toEqual({ kind: 'never-seen', vendToken: 12, bootEpoch: 0x7777 });
    const i = q.info();
    q.onInfo(new InfoMessage(2, 8, 'fw', 0x8888));
    expect(await i).toEqual({ protocolVersion: 2, slotCount: 8, firmware: 'fw', bootEpoch: 0x8888 });
    expect(epochs).toEqual([0x7777, 0x8888]);
  });
});
