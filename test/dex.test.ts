import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { sealTransactionSet } from '../devices/dex/evadts/write.ts';
import { type DexSimProcess, spawnDexSim } from '../firmware-sim/dex/spawn.ts';
import type { AuditRead } from '../gateway/audit/store.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { useRig } from './support/rig.ts';

/**
 * The DEX/UCS audit readout across every real layer: the simulated DEX port
 * in its own process on a socat pty, fed with audit files; the gateway
 * reading it on demand (REST and the signed `machine.audit.read` command);
 * the reads stored; paid orders dispensed through the slot-board simulator
 * on its own pty, so the ledger the audit is compared with is the real one.
 * The steps run in order on one rig: each read is compared with the last
 * good one before it.
 */
const FIXTURES = join(import.meta.dirname, 'fixtures/dex');
const CAN = join(FIXTURES, 'can-cashless.dex');
const CAN_LATER = join(FIXTURES, 'can-cashless-later.dex');

describe('DEX audit readout of a can machine with a cashless reader', () => {
  const tmp = tempDir('vendgate-dex-');
  // The gateway opens the DEX port only when it reads, so the rig can name the pty before it exists.
  const dexPort = join(tmp.dir, 'gateway-dex');
  const h = useRig({
    slotBoards: 1,
    machineOverrides: { m1: { dex: { port: dexPort, every: 'off' } } },
    config: { http: { enabled: true, host: '127.0.0.1', port: 0 } },
  });
  let sim: DexSimProcess;

  beforeAll(async () => {
    sim = await spawnDexSim({ dir: tmp.dir, audit: CAN, communicationId: 'CAN0099812' });
    expect(sim.pty.hostPath).toBe(dexPort);
  });
  afterAll(async () => {
    await sim?.stop();
    tmp.cleanup();
  });

  const readNow = async (): Promise<{
    status: number;
    body: AuditRead & { code?: number; message?: string };
  }> => {
    const res = await fetch(`${h.gw.httpUrl}/api/machines/m1/audit`, { method: 'POST' });
    return {
      status: res.status,
      body: (await res.json()) as AuditRead & { code?: number; message?: string },
    };
  };
  const dispense = async (n: number) => {
    const orders = Array.from({ length: n }, () => h.order('m1', 1));
    for (const o of orders) await h.platform.placeOrder(o);
    await h.settled(orders.map((o) => o.orderId));
  };
  const mismatch = () =>
    h.gw.conditions.active().find((c) => c.kind === 'dex_mismatch' && c.machineId === 'm1');
  const auditEvents = () => h.platform.events.filter((e) => e.type === 'audit.read');

  it('reads the audit on demand and answers its counters; the first read is the baseline', async () => {
    const { status, body } = await readNow();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      machineId: 'm1',
      trigger: 'api',
      status: 'good',
      machineSerial: 'CAN0099812',
      currency: 'CNY',
      problems: [],
      unknownSegments: 1, // DA4, which vendgate does not read
    });
    expect(body.totals).toMatchObject({
      paidVends: { count: 780, value: 269_700 },
      cashSales: { count: 565, value: 194_200 },
      cashless: { count: 215, value: 75_500 },
      cashIn: 194_200,
    });
    expect(body.totals?.selections[0]).toEqual({ selection: '1', count: 180, value: 63_000 });
    expect(body.sinceLast).toBeUndefined();
    // Upstream: the counters, never the raw audit.
    await waitUntil(() => auditEvents().length === 1, { what: 'audit.read at the platform' });
    const event = auditEvents()[0]!;
    expect(event.data).toMatchObject({ readId: body.readId, status: 'good', totals: body.totals });
    expect(JSON.stringify(event)).not.toContain('DXS*');
  });

  it('gives the difference between two reads, which agrees with what the ledger dispensed', async () => {
    await dispense(5);
    await sim.setAudit(CAN_LATER);
    const { body } = await readNow();
    expect(body.status).toBe('good');
    expect(body.sinceLast).toMatchObject({
      paidVends: { count: 5, value: 1750 },
      cashless: { count: 5, value: 1750 },
      cashSales: { count: 0, value: 0 },
      counterReset: false,
    });
    expect(body.sinceLast?.selections.filter((s) => s.count > 0)).toEqual([
      { selection: '1', count: 3, value: 1050 },
      { selection: '2', count: 2, value: 700 },
    ]);
    expect(body.ledger).toEqual({
      count: 5,
      value: 1750,
      mismatch: false,
      compared: 'cashless',
      audited: { count: 5, value: 1750 },
    });
    expect(mismatch()).toBeUndefined();
  });

  it('raises dex_mismatch with the difference when the ledger dispensed vends the audit does not count, and clears it when a later read agrees', async () => {
    await dispense(2);
    const { body } = await readNow(); // the same audit: the machine counted nothing since
    expect(body.ledger).toMatchObject({
      count: 2,
      value: 700,
      mismatch: true,
      audited: { count: 0, value: 0 },
    });
    expect(mismatch()?.detail).toMatch(
      /the audit counts 0 cashless vends \(CN¥0\.00\) since read \d+, the ledger dispensed 2 \(CN¥7\.00\): -2 vends, CN¥7\.00 less on the machine/,
    );
    const again = await readNow();
    expect(again.body.ledger?.mismatch).toBe(false);
    expect(mismatch()).toBeUndefined();
    expect(h.gw.conditions.recent().some((c) => c.kind === 'dex_mismatch' && c.machineId === 'm1')).toBe(
      true,
    );
  });

  it('answers a block that keeps failing its CRC with DexCrcMismatch and stores no good read', async () => {
    const goodBefore = h.gw.audit.latest({ machineId: 'm1' }).find((r) => r.status === 'good')!;
    sim.fault({ fault: 'corrupt-crc', count: 100 });
    const { status, body } = await readNow();
    sim.fault({ fault: 'clear' });
    expect(status).toBe(502);
    expect(body.code).toBe(ErrorCode.DexCrcMismatch);
    expect(body.message).toMatch(/^DEX read \d+ failed: data block 1 failed its CRC-16 4 times; giving up$/);
    const [latest] = h.gw.audit.latest({ machineId: 'm1', limit: 1 });
    expect(latest).toMatchObject({ status: 'failed', error: { code: ErrorCode.DexCrcMismatch } });
    expect(latest?.totals).toBeUndefined();
    expect(h.gw.audit.latest({ machineId: 'm1' }).find((r) => r.status === 'good')?.readId).toBe(
      goodBefore.readId,
    );
  });

  it('flags a truncated audit: read, stored as flagged with what is missing, never a baseline', async () => {
    sim.fault({ fault: 'truncate', fraction: 0.6 });
    const { status, body } = await readNow();
    expect(status).toBe(200);
    expect(body.status).toBe('flagged');
    expect(body.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^no G85/), expect.stringMatching(/^no SE/)]),
    );
    expect(body.sinceLast).toBeUndefined();
    expect(body.ledger).toBeUndefined();
  });

  it('keeps and counts unknown segments and still reads the audit as good', async () => {
    const lines = readFileSync(CAN_LATER, 'latin1').split('\r\n');
    const body = lines.slice(
      2,
      lines.findIndex((l) => l.startsWith('G85*')),
    );
    const path = join(tmp.dir, 'can-vendor.dex');
    writeFileSync(
      path,
      `${[lines[0]!, ...sealTransactionSet([...body, 'ZZ1*VENDOR*7', 'MA5*OPT1*1'])].join('\r\n')}\r\n`,
    );
    await sim.setAudit(path);
    const { body: read } = await readNow();
    expect(read.status).toBe('good');
    expect(read.unknownSegments).toBe(3); // DA4, ZZ1, MA5
    expect(read.ledger?.mismatch).toBe(false);
  });

  it('reads on the signed machine.audit.read command and reports a machine that stops mid-transfer as a failed read upstream', async () => {
    sim.fault({ fault: 'stall', afterBlocks: 1 });
    const byCommand = () => auditEvents().find((e) => (e.data as { trigger: string }).trigger === 'command');
    await h.platform.sendCommand('machine.audit.read', { machineId: 'm1' });
    await waitUntil(() => byCommand() !== undefined, {
      timeoutMs: 20_000,
      what: 'audit.read after the command',
    });
    const event = byCommand()!;
    expect(event.data).toMatchObject({
      machineId: 'm1',
      trigger: 'command',
      status: 'failed',
      error: { code: ErrorCode.DexStalled },
    });
    expect((event.data as { error: { reason: string } }).error.reason).toMatch(
      /^the machine stopped in the middle of block 2 \(245 bytes received\)/,
    );
    // The next read works again.
    const { body } = await readNow();
    expect(body.status).toBe('good');
  });

  it('lists the reads newest first, with their counters', async () => {
    const res = await fetch(`${h.gw.httpUrl}/api/audits?machineId=m1&limit=3`);
    expect(res.status).toBe(200);
    const list = (await res.json()) as { reads: AuditRead[]; count: number };
    expect(list.count).toBe(3);
    expect(list.reads[0]!.readId).toBeGreaterThan(list.reads[1]!.readId);
    expect(list.reads[0]!.totals?.cashless).toEqual({ count: 220, value: 77_250 });
    const unknown = await fetch(`${h.gw.httpUrl}/api/machines/nope/audit`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: number }).code).toBe(ErrorCode.DexMachineUnknown);
  });
});
