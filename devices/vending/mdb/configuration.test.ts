import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import type { AdapterMessage, HostCommand } from './codec.ts';
import { encodeHostCommand } from './codec.ts';
import {
  CONF_KEYS,
  checkMaxResponseTime,
  configureReader,
  describeCommand,
  type ReaderConfig,
  readerSetupCommands,
} from './configuration.ts';

const config: ReaderConfig = { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 45 };

/** The lines a command list puts on the wire. */
const lines = (cmds: HostCommand[]) => cmds.map((c) => encodeHostCommand(c).toString('latin1').trimEnd());

function adapter(reply: (cmd: HostCommand) => AdapterMessage | Error = () => ({ type: 'ack' })) {
  const sent: HostCommand[] = [];
  return {
    sent,
    command: async (cmd: HostCommand): Promise<AdapterMessage> => {
      sent.push(cmd);
      const r = reply(cmd);
      if (r instanceof Error) throw r;
      return r;
    },
  };
}

describe('reader configuration', () => {
  it('disables the reader, then sets always-idle, currency, scale, decimals and response time', () => {
    expect(lines(readerSetupCommands(config))).toEqual([
      'C,0',
      'C,SETCONF,mdb-always-idle=1',
      'C,SETCONF,mdb-currency-code=0x1156',
      'C,SETCONF,mdb-scale-factor=1',
      'C,SETCONF,mdb-decimal-places=2',
      'C,SETCONF,mdb-max-response-time=45',
    ]);
    expect(CONF_KEYS.maxResponseTime).toBe('mdb-max-response-time');
  });

  it('runs every step in order and enables the reader last', async () => {
    const a = adapter();
    const done = await configureReader({
      config,
      command: a.command,
      isCurrent: () => true,
      wantEnabled: () => true,
      onRefused: () => {},
    });
    expect(done).toBe(true);
    expect(lines(a.sent)).toEqual([...lines(readerSetupCommands(config)), 'C,1']);
  });

  it('leaves the reader disabled when disable() was asked for meanwhile', async () => {
    const a = adapter();
    await configureReader({
      config,
      command: a.command,
      isCurrent: () => true,
      wantEnabled: () => false,
      onRefused: () => {},
    });
    expect(lines(a.sent).at(-1)).toBe('C,SETCONF,mdb-max-response-time=45');
  });

  it('reports a refused step and goes on', async () => {
    const a = adapter((cmd) =>
      cmd.type === 'setconf' && cmd.key === CONF_KEYS.alwaysIdle
        ? { type: 'nack', reason: 'unknown key' }
        : { type: 'ack' },
    );
    const refused: string[] = [];
    const done = await configureReader({
      config,
      command: a.command,
      isCurrent: () => true,
      wantEnabled: () => true,
      onRefused: (cmd, reason) => refused.push(`${describeCommand(cmd)}: ${reason}`),
    });
    expect(done).toBe(true);
    expect(refused).toEqual(['setconf mdb-always-idle=1: unknown key']);
    expect(a.sent).toHaveLength(7);
  });

  it('stops without a word once its connection was replaced', async () => {
    const a = adapter();
    let current = true;
    const done = await configureReader({
      config,
      command: async (cmd) => {
        current = a.sent.length < 2;
        return a.command(cmd);
      },
      isCurrent: () => current,
      wantEnabled: () => true,
      onRefused: () => {},
    });
    expect(done).toBe(false);
    expect(a.sent).toHaveLength(3);
  });

  it('fails when a step gets no reply, so the caller can drop the link', async () => {
    const a = adapter((cmd) => (cmd.type === 'setconf' ? new Error('no reply to setconf') : { type: 'ack' }));
    await expect(
      configureReader({
        config,
        command: a.command,
        isCurrent: () => true,
        wantEnabled: () => true,
        onRefused: () => {},
      }),
    ).rejects.toThrow('no reply to setconf');
  });

  it('accepts a response time of 1..255 whole seconds only', async () => {
    expect(() => checkMaxResponseTime(255)).not.toThrow();
    for (const bad of [0, 256, 1.5, Number.NaN]) {
      await expectVendgateError(() => checkMaxResponseTime(bad), ErrorCode.DeviceProtocol);
    }
  });
});
