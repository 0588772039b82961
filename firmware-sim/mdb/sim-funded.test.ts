import { describe, expect, it } from 'vitest';
import { type AdapterMessage, AdapterMessageDecoder } from '../../devices/vending/mdb/codec.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { waitUntil } from '../../testing/wait.ts';
import { type MdbSessionRecord, MdbSim, type MdbSimOptions, parseSimCommand } from './sim.ts';

/** The simulated machine in authorization-first sessions (docs/protocols/mdb-adapter.md section 7.5). */
describe('MdbSim sessions with funds', () => {
  const cleanups = cleanupsAfterEach();

  async function machine(opts: MdbSimOptions = {}) {
    const { host, device } = createMemoryTransportPair();
    const log: MdbSessionRecord[] = [];
    const sim = new MdbSim(device, {
      enableDelayMs: 1,
      vendMs: 1,
      items: [
        { item: 2, price: 300 },
        { item: 7, price: 800 },
      ],
      onOutcome: (r) => log.push(r),
      ...opts,
    });
    cleanups.push(() => sim.stop());
    await host.open();
    await sim.start();
    const dec = new AdapterMessageDecoder();
    const got: AdapterMessage[] = [];
    host.on('data', (c) => got.push(...dec.push(c)));
    const say = (line: string) => host.write(Buffer.from(`${line}\n`));
    const until = (pred: (m: AdapterMessage) => boolean, what: string) =>
      waitUntil(() => got.some(pred), { timeoutMs: 2000, what, everyMs: 2 });
    say('C,SETCONF,mdb-always-idle=0');
    say('C,1');
    await until((m) => m.type === 'status' && m.state === 'ENABLED', 'reader enabled');
    got.length = 0;
    return { sim, got, say, until, log };
  }

  it('takes no selection without a session with funds on a pay-first machine', async () => {
    const { sim } = await machine();
    const ignored: string[] = [];
    sim.on('select-ignored', (e) => ignored.push(e.reason));
    expect(sim.select(2)).toBe(false);
    expect(ignored[0]).toMatch(/pay first/);
  });

  it('begins a session on C,START, reports session idle, and vends one selection within the funds', async () => {
    const { sim, got, say, until, log } = await machine();
    say('C,START,500');
    await until((m) => m.type === 'status' && m.state === 'IDLE', 'session idle');
    expect(got[0]).toEqual({ type: 'ack' });
    expect(sim.fundedSession).toMatchObject({ funds: 500 });
    expect(sim.select(2)).toBe(true);
    await until((m) => m.type === 'vend-request', 'vend request');
    expect(got.find((m) => m.type === 'vend-request')).toEqual({
      type: 'vend-request',
      price: '300',
      item: 2,
    });
    say('C,VEND,300');
    await until((m) => m.type === 'vend-success', 'vend success');
    await until((m) => m.type === 'status' && m.state === 'ENABLED', 'enabled again');
    expect(sim.fundedSession).toBeNull();
    expect(log.map((r) => r.outcome)).toEqual(['vend-success', 'session-ended']);
    expect(log[0]).toMatchObject({ item: 2, amount: '300', funds: 500 });
  });

  it('asks for a dearer item than the funds, takes C,VEND,-1, and lets the customer choose again', async () => {
    const { sim, got, say, until, log } = await machine();
    say('C,START,500');
    await until((m) => m.type === 'status' && m.state === 'IDLE', 'session idle');
    sim.select(7);
    await until((m) => m.type === 'vend-request' && m.item === 7, 'dear request');
    // Approving above the funds is refused by the adapter too.
    say('C,VEND,800');
    await until((m) => m.type === 'nack', 'nack');
    expect(got.find((m) => m.type === 'nack')).toEqual({
      type: 'nack',
      reason: 'amount exceeds the session funds',
    });
    say('C,VEND,-1');
    await waitUntil(() => log.length === 1, { timeoutMs: 2000, what: 'denied', everyMs: 2 });
    expect(log[0]).toMatchObject({ outcome: 'denied', item: 7 });
    expect(sim.fundedSession).not.toBeNull();
    expect(sim.select(2)).toBe(true);
    say('C,VEND,300');
    await waitUntil(() => log.length === 3, { timeoutMs: 2000, what: 'vend', everyMs: 2 });
    expect(log.map((r) => r.outcome)).toEqual(['denied', 'vend-success', 'session-ended']);
  });

  it('ends the session when the customer cancels, when its timeout passes, and on C,STOP', async () => {
    const { sim, say, until, log, got } = await machine({ sessionTimeoutMs: 50 });
    for (const end of ['cancel', 'timeout', 'stop'] as const) {
      got.length = 0;
      say('C,START,500');
      await until((m) => m.type === 'status' && m.state === 'IDLE', 'session idle');
      if (end === 'cancel') sim.command(parseSimCommand('{"cmd":"cancel"}'));
      else if (end === 'stop') say('C,STOP');
      await until((m) => m.type === 'status' && m.state === 'ENABLED', `ended by ${end}`);
      expect(sim.fundedSession).toBeNull();
    }
    expect(log.map((r) => r.reason)).toEqual(['customer', 'timeout', 'host']);
  });

  it('refuses C,START while a session is open and with funds that are not MDB units', async () => {
    const { say, until, got } = await machine();
    say('C,START,500');
    await until((m) => m.type === 'status' && m.state === 'IDLE', 'session idle');
    say('C,START,500');
    await until((m) => m.type === 'nack', 'nack');
    expect(got.find((m) => m.type === 'nack')).toEqual({ type: 'nack', reason: 'a session is already open' });
    say('C,STOP');
    say('C,START,5.5');
    await until((m) => m.type === 'nack' && m.reason === 'funds not in price units', 'nack for decimals');
  });
});
