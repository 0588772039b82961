import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { LineDecoder } from '../../devices/vending/mdb/codec.ts';
import { MdbCashlessDriver, type MdbCashlessDriverOptions } from '../../devices/vending/mdb/driver.ts';
import type {
  CashlessAdapterError,
  CashlessSessionCancelled,
  CashlessVendRequest,
  CashlessVendResult,
} from '../../devices/vending/mdb/port.ts';
import { MdbSim, type MdbSimOptions } from '../../firmware-sim/mdb/sim.ts';
import {
  cleanupsAfterEach,
  createMemoryTransportPair,
  expectVendgateError,
  type MemoryTransport,
  waitUntil,
} from '../../testing/index.ts';

interface Rig {
  driver: MdbCashlessDriver;
  sim: MdbSim;
  host: MemoryTransport;
  device: MemoryTransport;
  /** Every line the driver wrote, in order. */
  sent: string[];
  requests: CashlessVendRequest[];
  results: CashlessVendResult[];
  cancels: CashlessSessionCancelled[];
  errors: CashlessAdapterError[];
}

const cleanups = cleanupsAfterEach();

async function rig(
  simOpts: MdbSimOptions = {},
  driverOpts: Partial<MdbCashlessDriverOptions> = {},
): Promise<Rig> {
  const { host, device } = createMemoryTransportPair('mdb');
  const sim = new MdbSim(device, {
    enableDelayMs: 1,
    vendMs: 5,
    items: [
      { item: 1, price: 150 },
      { item: 3, price: 350 },
    ],
    ...simOpts,
  });
  const driver = new MdbCashlessDriver({
    machineId: 'm1',
    url: host.url,
    transportFactory: () => host,
    currency: 'CNY',
    scaleFactor: 1,
    decimalPlaces: 2,
    maxResponseTimeSec: 30,
    replyTimeoutMs: 200,
    keepaliveMs: 50,
    // Well above any stall of a loaded test box: only the silence test below
    // wants the link declared lost, and it sets its own short timeout.
    silenceTimeoutMs: 2000,
    reconnectInitialMs: 10,
    reconnectMaxMs: 50,
    ...driverOpts,
  });
  const sent: string[] = [];
  const lines = new LineDecoder();
  const prev = host.filter;
  host.filter = (chunk) => {
    for (const l of lines.push(chunk)) if (l !== 'V') sent.push(l);
    return prev ? prev(chunk) : chunk;
  };
  const r: Rig = { driver, sim, host, device, sent, requests: [], results: [], cancels: [], errors: [] };
  driver.on('vend-request', (e) => r.requests.push(e));
  driver.on('vend-result', (e) => r.results.push(e));
  driver.on('session-cancelled', (e) => r.cancels.push(e));
  driver.on('adapter-error', (e) => r.errors.push(e));
  cleanups.push(() => sim.stop());
  cleanups.push(() => driver.stop());
  await sim.start();
  const online = once(driver, 'online');
  await driver.start();
  await online;
  if (sim.state !== 'ENABLED') await once(sim, 'status');
  await waitUntil(() => sim.state === 'ENABLED');
  return r;
}

async function press(r: Rig, item: number): Promise<CashlessVendRequest> {
  const req = once(r.driver, 'vend-request') as Promise<[CashlessVendRequest]>;
  expect(r.sim.select(item)).toBe(true);
  return (await req)[0];
}

describe('MdbCashlessDriver', () => {
  it('configures always-idle, currency, scale, decimals and response time, then enables the reader', async () => {
    const r = await rig({}, { maxResponseTimeSec: 45 });
    expect(r.sent).toEqual([
      'C,0',
      'C,SETCONF,mdb-always-idle=1',
      'C,SETCONF,mdb-currency-code=0x1156',
      'C,SETCONF,mdb-scale-factor=1',
      'C,SETCONF,mdb-decimal-places=2',
      'C,SETCONF,mdb-max-response-time=45',
      'C,1',
    ]);
    expect(r.driver.online).toBe(true);
    expect(r.sim.config.get('mdb-always-idle')).toBe('1');
    expect(r.sim.vmcTimeoutMs).toBe(45_000);
    // The simulator is ENABLED; its status line reaches the driver a moment later.
    await waitUntil(() => r.driver.readerState === 'ENABLED');
  });

  it('turns a button press into a vend request with the price in minor units and a deadline inside the response time', async () => {
    const r = await rig({}, { maxResponseTimeSec: 30, deadlineMarginMs: 1000 });
    const req = await press(r, 3);
    expect(req).toMatchObject({ machineId: 'm1', item: 3, price: { amount: 350, currency: 'CNY' } });
    expect(req.deadline - req.receivedAt).toBe(29_000);
    expect(r.driver.session).toMatchObject({ sessionId: req.sessionId, state: 'requested', item: 3 });
  });

  it('approves a vend and reports the dispensed product', async () => {
    const r = await rig();
    const req = await press(r, 3);
    const result = once(r.driver, 'vend-result') as Promise<[CashlessVendResult]>;
    await r.driver.approve(req.sessionId, 350);
    expect(r.sent.at(-1)).toBe('C,VEND,350');
    const [res] = await result;
    expect(res).toEqual({
      sessionId: req.sessionId,
      machineId: 'm1',
      item: 3,
      ok: true,
      amount: { amount: 350, currency: 'CNY' },
    });
    expect(r.driver.session).toBeNull();
    expect(r.sim.stats.vends).toBe(1);
    expect(r.cancels).toEqual([]);
  });

  it('approves a discounted amount, but never more than the price asked', async () => {
    const r = await rig();
    const req = await press(r, 3);
    await expectVendgateError(r.driver.approve(req.sessionId, 351), ErrorCode.CashlessPriceInvalid);
    await r.driver.approve(req.sessionId, 300);
    const [res] = (await once(r.driver, 'vend-result')) as [CashlessVendResult];
    expect(res).toMatchObject({ ok: true, amount: { amount: 300, currency: 'CNY' } });
  });

  it('denies a vend with C,STOP and reports the session cancelled', async () => {
    const r = await rig();
    const req = await press(r, 1);
    const denied = once(r.sim, 'denied');
    await r.driver.deny(req.sessionId, 'payment failed');
    await denied;
    expect(r.sent.at(-1)).toBe('C,STOP');
    expect(r.cancels).toEqual([
      { sessionId: req.sessionId, machineId: 'm1', item: 1, reason: 'denied', detail: 'payment failed' },
    ]);
    expect(r.results).toEqual([]);
    expect(r.driver.session).toBeNull();
    // the next customer can buy
    const next = await press(r, 3);
    expect(next.sessionId).not.toBe(req.sessionId);
  });

  it('reports a failed vend after approval as a vend result that is not ok', async () => {
    const r = await rig();
    r.sim.applyFault({ fault: 'vend-fail', count: 1 });
    const req = await press(r, 3);
    await r.driver.approve(req.sessionId, 350);
    const [res] = (await once(r.driver, 'vend-result')) as [CashlessVendResult];
    expect(res).toMatchObject({ sessionId: req.sessionId, ok: false, reason: 'vend-failed', item: 3 });
    expect(res.detail).toMatch(/motor/);
  });

  it('reads the Qibixx failure form c,ERR,VEND 3 as a failed vend, not an adapter error', async () => {
    const r = await rig();
    r.sim.applyFault({ fault: 'vend-fail', count: 1, style: 'err' });
    const req = await press(r, 1);
    await r.driver.approve(req.sessionId, 150);
    const [res] = (await once(r.driver, 'vend-result')) as [CashlessVendResult];
    expect(res).toMatchObject({ ok: false, reason: 'vend-failed', detail: 'VEND 3' });
    expect(r.errors).toEqual([]);
  });

  it('denies a session nobody answered before its deadline and reports it as a timeout', async () => {
    // The machine waits 2 s; the driver's deadline is 1 s (margin capped at half the window).
    const r = await rig({}, { maxResponseTimeSec: 2, deadlineMarginMs: 5000 });
    const req = await press(r, 3);
    expect(req.deadline - req.receivedAt).toBe(1000);
    const [ev] = (await once(r.driver, 'session-cancelled')) as [CashlessSessionCancelled];
    expect(ev).toMatchObject({ sessionId: req.sessionId, reason: 'timeout' });
    await once(r.sim, 'denied');
    expect(r.sent.at(-1)).toBe('C,STOP');
    expect(r.driver.stats.timeouts).toBe(1);
    expect(r.sim.stats.cancels).toBe(0); // the machine never had to give up by itself
    await expectVendgateError(r.driver.approve(req.sessionId, 350), ErrorCode.CashlessSessionUnknown);
  });

  it('reports a session the machine cancelled by itself (customer pressed cancel)', async () => {
    const r = await rig();
    const req = await press(r, 3);
    r.sim.command({ cmd: 'cancel' });
    const [ev] = (await once(r.driver, 'session-cancelled')) as [CashlessSessionCancelled];
    expect(ev).toMatchObject({ sessionId: req.sessionId, reason: 'machine-cancelled' });
    await expectVendgateError(r.driver.approve(req.sessionId, 350), ErrorCode.CashlessSessionUnknown);
  });

  it('surfaces an adapter error with its text and keeps working', async () => {
    const r = await rig();
    const err = once(r.driver, 'adapter-error') as Promise<[CashlessAdapterError]>;
    r.sim.applyFault({ fault: 'adapter-error', text: 'MDB bus reset' });
    expect((await err)[0]).toEqual({ code: ErrorCode.CashlessAdapterError, text: 'MDB bus reset' });
    const req = await press(r, 1);
    await r.driver.approve(req.sessionId, 150);
    expect((await once(r.driver, 'vend-result'))[0]).toMatchObject({ ok: true });
  });

  it('ignores junk lines from the adapter and counts them', async () => {
    const r = await rig();
    r.sim.applyFault({ fault: 'junk', count: 6 });
    const req = await press(r, 3);
    expect(r.driver.stats.unknownLines).toBe(6);
    await r.driver.approve(req.sessionId, 350);
    expect((await once(r.driver, 'vend-result'))[0]).toMatchObject({ ok: true });
  });

  it('treats a second vend request during an open session as a protocol error and denies it', async () => {
    const r = await rig();
    const first = await press(r, 3);
    // A machine that lost track: it sends another request while ours is open.
    const cancelled = once(r.driver, 'session-cancelled') as Promise<[CashlessSessionCancelled]>;
    r.device.write(Buffer.from('c,STATUS,VEND,150,1\n'));
    const [ev] = await cancelled;
    expect(ev).toMatchObject({ sessionId: first.sessionId, reason: 'protocol-error' });
    expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.CashlessSessionBusy]);
    await waitUntil(() => r.sent.at(-1) === 'C,STOP');
    expect(r.driver.session).toBeNull();
    expect(r.requests).toHaveLength(1);
  });

  it('denies a vend request whose price is not a whole number of minor units', async () => {
    const r = await rig({}, { decimalPlaces: 3 });
    const err = once(r.driver, 'adapter-error') as Promise<[CashlessAdapterError]>;
    r.sim.command({ cmd: 'set-price', item: 3, price: 3505 });
    r.sim.select(3);
    expect((await err)[0]).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
    await once(r.sim, 'denied');
    expect(r.requests).toEqual([]);
  });

  it('stops taking vends after disable() and takes them again after enable()', async () => {
    const r = await rig();
    await r.driver.disable();
    await waitUntil(() => r.sim.state === 'INACTIVE');
    expect(r.sim.select(3)).toBe(false);
    await r.driver.enable();
    await waitUntil(() => r.sim.state === 'ENABLED');
    const req = await press(r, 3);
    expect(req.item).toBe(3);
  });

  it('rejects approve and deny for a session that is not open', async () => {
    const r = await rig();
    await expectVendgateError(r.driver.approve('nope', 1), ErrorCode.CashlessSessionUnknown);
    await expectVendgateError(r.driver.deny('nope'), ErrorCode.CashlessSessionUnknown);
  });

  it('goes offline when the adapter falls silent, ends the open session, reopens and configures again', async () => {
    const r = await rig({}, { silenceTimeoutMs: 400 });
    const req = await press(r, 3);
    const offline = once(r.driver, 'offline');
    const cancelled = once(r.driver, 'session-cancelled') as Promise<[CashlessSessionCancelled]>;
    r.sim.applyFault({ fault: 'silent', ms: 800 });
    const [reason] = await offline;
    expect(reason).toMatch(/silence/);
    expect((await cancelled)[0]).toMatchObject({ sessionId: req.sessionId, reason: 'link-lost' });
    await once(r.driver, 'online');
    expect(r.driver.stats.reconnects).toBeGreaterThan(0);
    // configured again from scratch
    expect(r.sent.filter((l) => l === 'C,SETCONF,mdb-always-idle=1').length).toBeGreaterThanOrEqual(2);
    // the machine gave up its request by itself in the meantime (or is back to enabled)
    r.sim.command({ cmd: 'cancel' });
    await waitUntil(() => r.sim.state === 'ENABLED');
    const next = await press(r, 1);
    await r.driver.approve(next.sessionId, 150);
    expect((await once(r.driver, 'vend-result'))[0]).toMatchObject({ ok: true, sessionId: next.sessionId });
  });

  it('ends every session with exactly one vend-result or session-cancelled', async () => {
    const r = await rig({}, { maxResponseTimeSec: 2 });
    const ids: string[] = [];
    const settle = async (fn: (id: string) => Promise<unknown>) => {
      const req = await press(r, 3);
      ids.push(req.sessionId);
      const done = new Promise<void>((res) => {
        const off = () => {
          r.driver.off('vend-result', off);
          r.driver.off('session-cancelled', off);
          res();
        };
        r.driver.on('vend-result', off);
        r.driver.on('session-cancelled', off);
      });
      await fn(req.sessionId).catch(() => {});
      await done;
      await waitUntil(() => r.sim.state === 'ENABLED');
    };
    await settle((id) => r.driver.approve(id, 350));
    await settle((id) => r.driver.deny(id));
    r.sim.applyFault({ fault: 'vend-fail' });
    await settle((id) => r.driver.approve(id, 350));
    await settle(async () => {}); // deadline
    const ends = [...r.results.map((e) => e.sessionId), ...r.cancels.map((e) => e.sessionId)].sort();
    expect(ends).toEqual([...ids].sort());
  });
});
