import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import { AdapterCommands } from './commands.ts';

function commands(maxQueued = 4) {
  const stats = { linesOut: 0, nacks: 0, replyTimeouts: 0 };
  const written: string[] = [];
  const port = { open: true };
  const c = new AdapterCommands({
    machineId: 'm1',
    log: silentLogger(),
    replyTimeoutMs: 200,
    stats,
    write: (line) => written.push(line.toString('latin1').trimEnd()),
    isOpen: () => port.open,
    maxQueued,
  });
  return { c, stats, written, port };
}

describe('AdapterCommands', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes one command at a time and the next once the reply to the first arrived', async () => {
    const { c, written } = commands();
    const a = c.send({ type: 'disable' });
    const b = c.send({ type: 'enable' });
    expect(written).toEqual(['C,0']);
    c.reply({ type: 'ack' });
    expect(written).toEqual(['C,0', 'C,1']);
    c.reply({ type: 'nack', reason: 'busy' });
    expect(await a).toEqual({ type: 'ack' });
    expect(await b).toEqual({ type: 'nack', reason: 'busy' });
    expect(c.idle).toBe(true);
  });

  it('answers V only with a version line, and other commands never with one', async () => {
    const { c } = commands();
    const v = c.send({ type: 'version' });
    c.reply({ type: 'ack' }); // not the answer to V
    c.reply({ type: 'version', text: 'fw 1.2' });
    expect(await v).toEqual({ type: 'version', text: 'fw 1.2' });
    const stop = c.send({ type: 'deny' });
    c.reply({ type: 'version', text: 'late' });
    c.reply({ type: 'ack' });
    expect(await stop).toEqual({ type: 'ack' });
  });

  it('counts NACKs once and turns a NACK into CashlessCommandRefused where it is an error', async () => {
    const { c, stats } = commands();
    const p = c.expectAck({ type: 'enable' });
    c.reply({ type: 'nack', reason: 'not now' });
    const err = await expectVendgateError(p, ErrorCode.CashlessCommandRefused);
    expect(err.message).toBe('adapter refused enable: not now');
    expect(stats.nacks).toBe(1);
  });

  it('rejects a command not answered in time with DeviceTimeout and never resends it', async () => {
    const { c, stats, written } = commands();
    const p = c.send({ type: 'approve', amount: '350' });
    vi.advanceTimersByTime(200);
    const err = await expectVendgateError(p, ErrorCode.DeviceTimeout);
    expect(err.message).toBe('machine m1: no reply to approve within 200 ms');
    expect(written).toEqual(['C,VEND,350']);
    expect(stats).toEqual({ linesOut: 1, nacks: 0, replyTimeouts: 1 });
  });

  it('refuses commands with DeviceOffline without a port and DeviceBusy when the queue is full', async () => {
    const { c, port } = commands(1);
    c.send({ type: 'version' }).catch(() => {}); // in flight
    c.send({ type: 'version' }).catch(() => {}); // waiting
    await expectVendgateError(c.send({ type: 'deny' }), ErrorCode.DeviceBusy);
    port.open = false;
    await expectVendgateError(c.send({ type: 'deny' }), ErrorCode.DeviceOffline);
  });

  it('rejects a command the codec cannot encode with DeviceProtocol', async () => {
    const { c, written } = commands();
    await expectVendgateError(
      c.send({ type: 'setconf', key: 'bad key', value: '1' }),
      ErrorCode.DeviceProtocol,
    );
    expect(written).toEqual([]);
  });

  it('fails the command in flight and every waiting one on failAll', async () => {
    const { c } = commands();
    const a = c.send({ type: 'disable' });
    const b = c.send({ type: 'enable' });
    c.failAll(c.offlineError('port closed'));
    await expectVendgateError(a, ErrorCode.DeviceOffline);
    await expectVendgateError(b, ErrorCode.DeviceOffline);
  });
});
