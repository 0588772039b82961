import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { type AdapterMessage, AdapterMessageDecoder } from '../../devices/vending/mdb/codec.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { createMemoryTransportPair, type MemoryTransport } from '../../testing/memory-transport.ts';
import { waitUntil } from '../../testing/wait.ts';
import { listenControl, sendSelect, sendSimCommand } from './main.ts';
import { MdbSim, type MdbSimOptions, parseSimCommand } from './sim.ts';

describe('parseSimCommand', () => {
  it('accepts both select forms, cancel, set-price and the documented faults', () => {
    expect(parseSimCommand('{"select":3}')).toEqual({ select: 3 });
    expect(parseSimCommand('{"cmd":"select","item":3}')).toEqual({ cmd: 'select', item: 3 });
    expect(parseSimCommand('{"cmd":"cancel"}')).toEqual({ cmd: 'cancel' });
    expect(parseSimCommand('{"cmd":"set-price","item":2,"price":400}')).toEqual({
      cmd: 'set-price',
      item: 2,
      price: 400,
    });
    expect(parseSimCommand('{"fault":"vend-fail","count":1}')).toEqual({ fault: 'vend-fail', count: 1 });
    expect(parseSimCommand('{"fault":"adapter-error","text":"bus reset"}')).toEqual({
      fault: 'adapter-error',
      text: 'bus reset',
    });
    expect(parseSimCommand('{"fault":"unplug","ms":500}')).toEqual({ fault: 'unplug', ms: 500 });
  });

  it('rejects unknown commands and bad arguments with a message', () => {
    expect(() => parseSimCommand('{"fault":"explode"}')).toThrow(/unknown fault/);
    expect(() => parseSimCommand('{"cmd":"dance"}')).toThrow(/unknown cmd/);
    expect(() => parseSimCommand('{"select":-1}')).toThrow(/non-negative/);
    expect(() => parseSimCommand('{"fault":"silent"}')).toThrow(/"ms" is required/);
    expect(() => parseSimCommand('{"fault":"adapter-error","text":"a\\nb"}')).toThrow(/printable/);
    expect(() => parseSimCommand('[]')).toThrow(/object/);
    expect(() => parseSimCommand('nope')).toThrow();
  });
});

describe('MdbSim', () => {
  const cleanups = cleanupsAfterEach();

  async function machine(opts: MdbSimOptions = {}) {
    const { host, device } = createMemoryTransportPair();
    const sim = new MdbSim(device, { enableDelayMs: 1, vendMs: 1, ...opts });
    cleanups.push(() => sim.stop());
    await host.open();
    await sim.start();
    const dec = new AdapterMessageDecoder();
    const got: AdapterMessage[] = [];
    host.on('data', (c) => got.push(...dec.push(c)));
    const say = (line: string) => host.write(Buffer.from(`${line}\n`));
    return { sim, host, got, say };
  }

  async function until(got: AdapterMessage[], pred: (m: AdapterMessage) => boolean): Promise<void> {
    await waitUntil(() => got.some(pred), {
      timeoutMs: 2000,
      what: 'an adapter message',
      everyMs: 2,
    });
  }

  async function enabled(m: Awaited<ReturnType<typeof machine>>): Promise<void> {
    m.say('C,1');
    await until(m.got, (x) => x.type === 'status' && x.state === 'ENABLED');
  }

  it('answers every host line: ACK, NACK with a reason, or its version', async () => {
    const m = await machine();
    m.say('V');
    m.say('C,SETCONF,mdb-always-idle=1');
    m.say('C,VEND,100');
    m.say('HELLO');
    m.say('C,1');
    m.say('C,SETCONF,mdb-scale-factor=2');
    await until(m.got, (x) => x.type === 'status' && x.state === 'ENABLED');
    const replies = m.got.filter((x) => x.type === 'ack' || x.type === 'nack' || x.type === 'version');
    expect(replies).toEqual([
      { type: 'version', text: 'vendgate-sim-mdb/1.0' },
      { type: 'ack' },
      { type: 'nack', reason: 'no vend request pending' },
      { type: 'nack', reason: 'unknown command' },
      { type: 'ack' },
      { type: 'nack', reason: 'disable the cashless slave first (C,0)' },
    ]);
    expect(m.sim.config.get('mdb-always-idle')).toBe('1');
    expect(m.sim.config.has('mdb-scale-factor')).toBe(false);
  });

  it('reports INACTIVE, DISABLED, ENABLED as the machine brings the reader up', async () => {
    const m = await machine();
    await enabled(m);
    expect(m.got.filter((x) => x.type === 'status')).toEqual([
      { type: 'status', state: 'INACTIVE' },
      { type: 'status', state: 'DISABLED' },
      { type: 'status', state: 'ENABLED' },
    ]);
  });

  it('ignores a button press while the reader is not enabled, and says why', async () => {
    const m = await machine();
    const ignored = once(m.sim, 'select-ignored');
    expect(m.sim.select(1)).toBe(false);
    expect((await ignored)[0]).toEqual({ item: 1, reason: 'reader is INACTIVE' });
  });

  it('prints prices in the decimal format with the configured decimal places', async () => {
    const m = await machine({ priceFormat: 'decimal', items: [{ item: 4, price: 35 }] });
    m.say('C,SETCONF,mdb-scale-factor=10');
    m.say('C,SETCONF,mdb-decimal-places=2');
    await enabled(m);
    m.sim.select(4);
    await until(m.got, (x) => x.type === 'vend-request');
    expect(m.got.find((x) => x.type === 'vend-request')).toEqual({
      type: 'vend-request',
      price: '3.50',
      item: 4,
    });
    m.say('C,VEND,3.50');
    await until(m.got, (x) => x.type === 'vend-success');
  });

  it('refuses an approval above the price and vends on a correct one, then goes back to idle and enabled', async () => {
    const records: unknown[] = [];
    const m = await machine({ items: [{ item: 2, price: 200 }], onOutcome: (r) => records.push(r) });
    await enabled(m);
    m.sim.select(2);
    m.say('C,VEND,201');
    await until(m.got, (x) => x.type === 'nack');
    m.say('C,VEND,200');
    await until(m.got, (x) => x.type === 'vend-success');
    const tail = m.got.slice(m.got.findIndex((x) => x.type === 'vend-success'));
    expect(tail).toEqual([
      { type: 'vend-success', item: 2 },
      { type: 'status', state: 'IDLE' },
      { type: 'status', state: 'ENABLED' },
    ]);
    expect(records).toMatchObject([
      { session: 1, item: 2, price: 200, outcome: 'vend-success', amount: '200' },
    ]);
  });

  it('cancels a request by itself when the host does not answer within the configured response time', async () => {
    const m = await machine({ vmcTimeoutMs: 30 });
    await enabled(m);
    const cancelled = once(m.sim, 'cancelled');
    m.sim.select(1);
    expect((await cancelled)[0]).toMatchObject({ item: 1, reason: 'timeout' });
    await until(m.got, (x) => x.type === 'status' && x.state === 'IDLE');
  });

  it('presses buttons for a client in another process through the control socket', async () => {
    const m = await machine();
    const { server, address } = await listenControl(m.sim, 0);
    try {
      expect(typeof address).toBe('number');
      expect(await sendSelect(address, 1)).toEqual({
        ok: true,
        accepted: false,
        reason: 'reader is INACTIVE',
      });
      await enabled(m);
      expect(await sendSelect(address, 1)).toEqual({ ok: true, accepted: true });
      expect(await sendSimCommand(address, { cmd: 'cancel' })).toEqual({ ok: true });
      const bad = await sendSimCommand(address, { fault: 'nonsense' } as never);
      expect(bad.ok).toBe(false);
      expect(String(bad.error)).toMatch(/unknown fault/);
    } finally {
      server.close();
    }
  });

  it('stays silent for a while on the silent fault and answers again afterwards', async () => {
    const m = await machine();
    m.sim.applyFault({ fault: 'silent', ms: 50 });
    m.say('V');
    await new Promise((r) => setTimeout(r, 80));
    expect(m.got).toEqual([]);
    m.say('V');
    await until(m.got, (x) => x.type === 'version');
  });

  it('closes its port on the unplug fault and opens it again', async () => {
    const m = await machine();
    const host: MemoryTransport = m.host;
    const reopened = once(m.sim, 'port-open');
    m.sim.applyFault({ fault: 'unplug', ms: 30 });
    expect(m.sim.transport.isOpen).toBe(false);
    await reopened;
    expect(m.sim.transport.isOpen).toBe(true);
    expect(host.isOpen).toBe(true);
  });
});
