/**
 * Telemetry across the layers: the simulated slot board in its own process
 * on a pty (VSB protocol 3: door, temperature, sensed stock, reset), the
 * whole gateway (driver -> fault watch -> condition board -> outbox ->
 * platform, and the REST API), and sales read from the real ledger.
 */
import { describe, expect, it } from 'vitest';
import type { VendingMachine } from '../devices/vending/port.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { SalesLedgerView } from '../gateway/telemetry/sales.ts';
import { recentDays } from '../gateway/telemetry/zoned-days.ts';
import { waitUntil } from '../testing/index.ts';
import { useRig } from './support/rig.ts';

const HOUR = 3_600_000;

describe('telemetry from a slot board on a pty to the operator', () => {
  const h = useRig({
    slotBoards: 1,
    config: { http: { enabled: true, host: '127.0.0.1', port: 0 }, timeZone: 'Asia/Shanghai' },
    slotBoardMachine: {
      telemetry: {
        doorOpenGraceMs: 400,
        offlineGraceMs: 400,
        temperature: { minDeciC: 20, maxDeciC: 80, graceMs: 400 },
      },
    },
  });
  const m1 = (): VendingMachine => h.gw.machines.get('m1')!;
  const active = (kind: string) => h.gw.conditions.isActive({ kind: kind as 'jam', machineId: 'm1' });
  const api = async (path: string) => {
    const res = await fetch(`${h.gw.httpUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const conditionEvents = (kind: string) =>
    h.platform
      .eventsOfType('machine.condition')
      .map((e) => e.data as { change: string; kind: string; machineId?: string })
      .filter((d) => d.kind === kind && d.machineId === 'm1')
      .map((d) => d.change);

  it('shows the machine online with the door and temperature its board reports', async () => {
    await waitUntil(() => h.gw.telemetry.faults.view('m1')?.temperatureDeciC === 45, {
      what: 'the first sensors reading',
    });
    const { status, body } = await api('/api/machines');
    expect(status).toBe(200);
    expect(body.machines).toEqual([
      {
        machineId: 'm1',
        driver: 'slot-board',
        online: true,
        doorOpen: false,
        temperatureDeciC: 45,
        lastSeenAt: expect.any(Number),
      },
    ]);
    await h.platform.waitFor(
      () => h.platform.eventsOfType('machine.sensors').length > 0,
      10_000,
      'machine.sensors at the platform',
    );
  });

  it('raises door_open once the door stays open past its grace and clears it when the door closes', async () => {
    h.boards[0]!.fault({ fault: 'door', open: true });
    await waitUntil(() => active('door_open'), { timeoutMs: 10_000, what: 'door_open raised' });
    const { body } = await api('/api/conditions');
    expect((body.active as Array<{ kind: string }>).filter((c) => c.kind === 'door_open')).toEqual([
      expect.objectContaining({
        machineId: 'm1',
        severity: 'warning',
        detail: expect.stringMatching(/^door open for/),
      }),
    ]);
    await h.platform.waitFor(
      () =>
        h.platform
          .eventsOfType('machine.sensors')
          .some((e) => (e.data as { doorOpen?: boolean }).doorOpen === true),
      10_000,
      'the open door at the platform',
    );
    h.boards[0]!.fault({ fault: 'door', open: false });
    await waitUntil(() => !active('door_open'), { timeoutMs: 10_000, what: 'door_open cleared' });
    const recent = (await api('/api/conditions')).body.recent as Array<{ kind: string }>;
    expect(recent.filter((c) => c.kind === 'door_open')).toEqual([
      expect.objectContaining({ machineId: 'm1', clearedAt: expect.any(Number) }),
    ]);
    await h.platform.waitFor(
      () => conditionEvents('door_open').join() === 'raised,cleared',
      10_000,
      'door_open raised and cleared at the platform',
    );
  });

  it('raises temperature when the cabinet stays out of its range and clears it when back', async () => {
    h.boards[0]!.fault({ fault: 'temperature', deciC: 120 });
    await waitUntil(() => active('temperature'), { timeoutMs: 10_000, what: 'temperature raised' });
    expect(h.gw.conditions.active().find((c) => c.kind === 'temperature')?.detail).toMatch(
      /^12\.0 °C above the 8\.0 °C maximum/,
    );
    h.boards[0]!.fault({ fault: 'temperature', deciC: 50 });
    await waitUntil(() => !active('temperature'), { timeoutMs: 10_000, what: 'temperature cleared' });
  });

  it('raises jam for a jammed vend on a slot, and the board reset clears it', async () => {
    h.boards[0]!.fault({ fault: 'jam', slot: 2, count: 1 });
    const order = h.order('m1', 2);
    await h.platform.placeOrder(order);
    await h.settled([order.orderId]);
    await waitUntil(() => h.gw.conditions.isActive({ kind: 'jam', machineId: 'm1', slot: 2 }), {
      what: 'jam raised',
    });
    expect(h.gw.conditions.active().find((c) => c.kind === 'jam')).toMatchObject({
      slot: 2,
      severity: 'critical',
      detail: 'slot 2: jammed',
    });

    const before = m1().bootEpoch;
    const reset = h.boards[0]!.waitForEvent('reset', { timeoutMs: 10_000 });
    await m1().reset!();
    const event = await reset;
    expect(event.previousEpoch).toBe(before);
    expect(m1().bootEpoch).toBe(event.bootEpoch);
    expect(m1().bootEpoch).not.toBe(before);
    expect(m1().online).toBe(true);
    expect(h.gw.conditions.isActive({ kind: 'jam', machineId: 'm1', slot: 2 })).toBe(false);

    // The board vends again after its restart.
    const after = h.order('m1', 2);
    await h.platform.placeOrder(after);
    await h.settled([after.orderId]);
    expect(h.gw.ledger.get(after.orderId)?.state).toBe('dispensed');
  });

  it("reads the simulator's sensed stock levels, which fall with each vend", async () => {
    h.boards[0]!.fault({ fault: 'restock', slot: 3, stock: 7 });
    await waitUntil(async () => (await m1().readStock!()).find((s) => s.slot === 3)?.level === 7, {
      what: 'the restock sensed',
    });
    const order = h.order('m1', 3);
    await h.platform.placeOrder(order);
    await h.settled([order.orderId]);
    const levels = await m1().readStock!();
    expect(levels.find((s) => s.slot === 3)).toEqual({ slot: 3, level: 6 });
    // Levels above what one byte holds read as 255 (slots 1-6 hold 1000 in the rig).
    expect(levels.map((s) => s.slot)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(levels.find((s) => s.slot === 1)?.level).toBe(255);
  });

  it('counts sales per day across a midnight in Asia/Shanghai, where UTC sees one day', async () => {
    // The latest Shanghai midnight: 16:00 UTC the day before.
    const midnight = recentDays(Date.now(), 1, 'Asia/Shanghai')[0]!.start;
    let now = midnight - HOUR / 2;
    const ledger = new OrderLedger({
      db: h.gw.db,
      outbox: h.gw.outbox,
      now: () => now,
      catalog: catalogFrom([{ machineId: 'mx', slots: [{ slot: 1 }] }]),
    });
    const sell = (orderId: string) => {
      ledger.receivePaid({
        orderId,
        machineId: 'mx',
        slot: 1,
        price: { amount: 350, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: now + HOUR,
      });
      const begun = ledger.beginDispense(orderId);
      if (begun.kind !== 'dispense') throw new Error('not begun');
      ledger.recordOutcome(orderId, { kind: 'dispensed', vendToken: begun.vendToken, slot: 1 });
    };
    sell(`midnight-before-${Date.now()}`);
    now = midnight + HOUR / 2;
    sell(`midnight-after-${Date.now()}`);

    const mx = (d: { byMachine: Array<{ machineId: string; count: number }> }) =>
      d.byMachine.filter((m) => m.machineId === 'mx').map((m) => m.count);
    const { status, body } = await api('/api/sales?days=2');
    expect(status).toBe(200);
    expect(body.timeZone).toBe('Asia/Shanghai');
    const days = body.days as Array<{ date: string; byMachine: Array<{ machineId: string; count: number }> }>;
    expect(days.map((d) => d.date)).toEqual(recentDays(Date.now(), 2, 'Asia/Shanghai').map((d) => d.date));
    expect(days.map(mx)).toEqual([[1], [1]]);

    const utc = new SalesLedgerView({ db: h.gw.db, timeZone: 'UTC' }).report(2, 'UTC');
    const utcCounts = utc.days.map(mx);
    // Both sales fall on one UTC date (15:30 and 16:30 UTC): today or yesterday, whichever that is.
    expect(utcCounts.flat()).toEqual([2]);
  });

  it('refuses out-of-range queries and lists select-then-pay sessions', async () => {
    for (const path of [
      '/api/sales?days=0',
      '/api/sales?days=32',
      '/api/sales?days=x',
      '/api/sessions?limit=0',
    ]) {
      const { status, body } = await api(path);
      expect(status, path).toBe(400);
      expect(body.name).toBe('HttpBadRequest');
    }
    expect((await api('/api/sessions')).body).toEqual({ sessions: [] });
  });

  it('raises offline once the board has been gone past the grace', async () => {
    await h.boards[0]!.stop();
    await waitUntil(() => active('offline'), { timeoutMs: 15_000, what: 'offline raised' });
    const { body } = await api('/api/machines');
    expect(body.machines).toEqual([expect.objectContaining({ machineId: 'm1', online: false })]);
  });
});
