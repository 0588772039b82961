import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { Command, encodeFrame, FrameDecoder } from '../../devices/vending/slot-board/codec.ts';
import { SlotBoardDriver, type SlotBoardDriverOptions } from '../../devices/vending/slot-board/driver.ts';
import { SlotBoardSim, type SlotBoardSimOptions } from '../../firmware-sim/slot-board/sim.ts';
import {
  cleanupsAfterEach,
  createMemoryTransportPair,
  expectVendgateError,
  type MemoryTransport,
  waitUntil,
} from '../../testing/index.ts';

interface Rig {
  driver: SlotBoardDriver;
  sim: SlotBoardSim;
  host: MemoryTransport;
  device: MemoryTransport;
}

const cleanups = cleanupsAfterEach();

async function rig(
  simOpts: SlotBoardSimOptions = {},
  driverOpts: Partial<SlotBoardDriverOptions> = {},
  waitOnline = true,
): Promise<Rig> {
  const { host, device } = createMemoryTransportPair();
  const sim = new SlotBoardSim(device, { motorMs: 0, pollMs: 20, ackTimeoutMs: 20, ...simOpts });
  const driver = new SlotBoardDriver({
    machineId: 'm1',
    url: host.url,
    transportFactory: () => host,
    ackTimeoutMs: 20,
    silenceTimeoutMs: 300,
    reconnectInitialMs: 10,
    reconnectMaxMs: 50,
    ...driverOpts,
  });
  const r = { driver, sim, host, device };
  cleanups.push(() => sim.stop());
  cleanups.push(() => driver.stop());
  await sim.start();
  const online = once(driver, 'online');
  await driver.start();
  if (waitOnline) {
    await online;
    // The board's answer to the GET_SENSORS sent on going online (protocol 3) is out of the way of what a test sends.
    if ((simOpts.protocolVersion ?? 3) >= 3)
      await waitUntil(() => driver.sensors !== undefined, { what: 'the first sensors reading' });
  }
  return r;
}

/** Splits each written chunk into frames and lets `keep` decide per frame. */
function filterFrames(t: MemoryTransport, keep: (frame: Buffer) => boolean): void {
  const prev = t.filter;
  t.filter = (chunk) => {
    const input = prev ? prev(chunk) : chunk;
    if (!input) return null;
    const kept: Buffer[] = [];
    for (const f of new FrameDecoder().push(input)) {
      const bytes = encodeFrame(f.command, f.seq, f.payload);
      if (keep(bytes)) kept.push(bytes);
    }
    return kept.length ? Buffer.concat(kept) : null;
  };
}

/** Drops the first `n` frames with the given command written through `t`. */
function dropFrames(t: MemoryTransport, command: number, n: number): { dropped: number } {
  const counter = { dropped: 0 };
  filterFrames(t, (f) => {
    // ACKs of POLL (seq 0) are not counted: only acknowledgements of data frames.
    if (counter.dropped < n && f[2] === command && !(command === Command.Ack && f[4] === 0)) {
      counter.dropped++;
      return false;
    }
    return true;
  });
  return counter;
}

/** Counts the frames of a command the sim writes, by decoding its output. */
function countFrames(t: MemoryTransport, command: number): { count: number } {
  const counter = { count: 0 };
  const dec = new FrameDecoder();
  const prev = t.filter;
  t.filter = (chunk) => {
    const out = prev ? prev(chunk) : chunk;
    if (out) for (const f of dec.push(out)) if (f.command === command) counter.count++;
    return out;
  };
  return counter;
}

describe('SlotBoardDriver', () => {
  it('goes online on the first poll and dispenses a product, reporting progress', async () => {
    // A motor slow enough that the board reports every stage (VSB section 6, rule 5).
    const { driver, sim } = await rig({ motorMs: 30 });
    expect(driver.online).toBe(true);
    const stages: string[] = [];
    driver.on('progress', (token, stage) => stages.push(`${token}:${stage}`));
    const outcome = await driver.dispense({ vendToken: 1001, slot: 3 });
    expect(outcome).toEqual({ kind: 'dispensed', vendToken: 1001, slot: 3 });
    expect(stages).toEqual(['1001:accepted', '1001:dispensing']);
    expect(sim.stock(3)).toBe(9);
  });

  it('reports a jam as a failed outcome with reason jammed', async () => {
    const { driver, sim } = await rig();
    sim.applyFault({ fault: 'jam', slot: 2, count: 1 });
    expect(await driver.dispense({ vendToken: 7, slot: 2 })).toEqual({
      kind: 'failed',
      vendToken: 7,
      slot: 2,
      reason: 'jammed',
    });
    expect(await driver.dispense({ vendToken: 8, slot: 2 })).toMatchObject({ kind: 'dispensed' });
  });

  it('maps every board fault to its domain failure reason', async () => {
    const { driver, sim } = await rig();
    sim.applyFault({ fault: 'drop-sensor-miss', slot: 1 });
    expect(await driver.dispense({ vendToken: 1, slot: 1 })).toMatchObject({ reason: 'drop-sensor-miss' });
    sim.applyFault({ fault: 'motor-fault', slot: 1 });
    expect(await driver.dispense({ vendToken: 2, slot: 1 })).toMatchObject({
      reason: 'motor-fault',
      detail: 'motor did not stop',
    });
    sim.applyFault({ fault: 'no-motor', slot: 1 });
    expect(await driver.dispense({ vendToken: 3, slot: 1 })).toMatchObject({
      reason: 'motor-fault',
      detail: 'no motor',
    });
    sim.applyFault({ fault: 'empty', slot: 1 });
    expect(await driver.dispense({ vendToken: 4, slot: 1 })).toMatchObject({ reason: 'empty-slot' });
    expect(await driver.dispense({ vendToken: 5, slot: 99 })).toMatchObject({ reason: 'unknown-slot' });
  });

  it('resends a DISPENSE whose ACK was lost, and the board acts on it only once', async () => {
    const { driver, sim, device } = await rig({ motorMs: 150 });
    const drop = dropFrames(device, Command.Ack, 2);
    const outcome = await driver.dispense({ vendToken: 55, slot: 1 });
    expect(outcome.kind).toBe('dispensed');
    expect(drop.dropped).toBe(2);
    expect(driver.stats.resends).toBeGreaterThanOrEqual(1);
    expect(sim.stats.duplicates).toBeGreaterThanOrEqual(1);
    expect(sim.stats.dispensed).toBe(1);
    expect(sim.stock(1)).toBe(9);
  });

  it('ACKs a resent DISPENSE_RESULT again but does not act on it twice', async () => {
    // The motor outlasts the three resends, so the board reports both stages.
    const { driver, sim, host } = await rig({ motorMs: 200 });
    // Drop the host's first ACKs of data frames so the board resends them.
    const drop = dropFrames(host, Command.Ack, 3);
    const seen: string[] = [];
    driver.on('progress', (t, s) => seen.push(`${t}:${s}`));
    const outcome = await driver.dispense({ vendToken: 77, slot: 4 });
    expect(outcome.kind).toBe('dispensed');
    await waitUntil(() => driver.stats.duplicates >= 3, { what: 'three duplicate frames suppressed' });
    expect(drop.dropped).toBe(3);
    expect(sim.stats.resends).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(['77:accepted', '77:dispensing']);
  });

  it('survives a lost DISPENSE_RESULT: the board resends it until acknowledged', async () => {
    const { driver, device } = await rig();
    const drop = dropFrames(device, Command.DispenseResult, 1);
    expect(await driver.dispense({ vendToken: 90, slot: 5 })).toMatchObject({ kind: 'dispensed' });
    expect(drop.dropped).toBe(1);
  });

  it('never dispenses twice for a token the board has already seen; it re-reports the outcome', async () => {
    const { driver, sim, device } = await rig();
    const results = countFrames(device, Command.DispenseResult);
    const first = await driver.dispense({ vendToken: 4242, slot: 6 });
    const again = await driver.dispense({ vendToken: 4242, slot: 6 });
    expect(again).toEqual(first);
    expect(sim.stock(6)).toBe(9);
    expect(sim.stats.dispensed).toBe(1);
    expect(results.count).toBe(2);
  });

  it('returns the same promise for a token that is already being dispensed', async () => {
    const { driver } = await rig({ motorMs: 50 });
    const a = driver.dispense({ vendToken: 5, slot: 1 });
    const b = driver.dispense({ vendToken: 5, slot: 1 });
    expect(a).toBe(b);
    await a;
  });

  it('serialises concurrent vends so the board is never asked while busy', async () => {
    const { driver, sim } = await rig({ motorMs: 5 });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => driver.dispense({ vendToken: 100 + i, slot: (i % 10) + 1 })),
    );
    expect(outcomes.every((o) => o.kind === 'dispensed')).toBe(true);
    expect(sim.stats.dispensed).toBe(20);
  });

  it('keeps working when the board sends corrupted frames and junk', async () => {
    const { driver, sim } = await rig();
    sim.applyFault({ fault: 'corrupt', count: 4 });
    expect(await driver.dispense({ vendToken: 31, slot: 1 })).toMatchObject({ kind: 'dispensed' });
    expect(driver.decoder.stats.badChecksums + driver.decoder.stats.discardedBytes).toBeGreaterThan(0);
  });

  it('rejects with DeviceTimeout when the board never acknowledges the DISPENSE', async () => {
    const { driver, sim } = await rig({}, { silenceTimeoutMs: 60_000 });
    sim.applyFault({ fault: 'silent', ms: 60_000 });
    await expectVendgateError(driver.dispense({ vendToken: 12, slot: 1 }), ErrorCode.DeviceTimeout);
    expect(sim.vendState(12)).toBeUndefined();
  });

  it('rejects with DeviceTimeout when no result follows an acknowledged DISPENSE', async () => {
    const { driver } = await rig({ motorMs: 60_000 }, { dispenseTimeoutMs: 100 });
    await expectVendgateError(driver.dispense({ vendToken: 13, slot: 1 }), ErrorCode.DeviceTimeout);
    expect(await driver.queryVend(13)).toEqual({ kind: 'in-progress', vendToken: 13 });
  });

  it('rejects with DeviceOffline when the port is not open', async () => {
    const driver = new SlotBoardDriver({ machineId: 'x', url: 'memory://none' });
    await expectVendgateError(driver.dispense({ vendToken: 1, slot: 1 }), ErrorCode.DeviceOffline);
  });

  it('answers queryVend for never-seen, dispensed and failed tokens', async () => {
    const { driver, sim } = await rig();
    sim.applyFault({ fault: 'jam' });
    await driver.dispense({ vendToken: 2, slot: 1 });
    await driver.dispense({ vendToken: 3, slot: 1 });
    expect(await driver.queryVend(1)).toEqual({ kind: 'never-seen', vendToken: 1, bootEpoch: sim.bootEpoch });
    expect(await driver.queryVend(2)).toEqual({ kind: 'failed', vendToken: 2, slot: 1, reason: 'jammed' });
    expect(await driver.queryVend(3)).toEqual({ kind: 'dispensed', vendToken: 3, slot: 1 });
  });

  it('reads the board info', async () => {
    const { driver, sim } = await rig({ firmware: 'test-fw' });
    expect(await driver.info()).toEqual({
      protocolVersion: 3,
      slotCount: 10,
      firmware: 'test-fw',
      bootEpoch: sim.bootEpoch,
    });
  });

  it('goes offline when the board falls silent and back online when it talks again', async () => {
    const { driver, sim } = await rig({}, { silenceTimeoutMs: 100 });
    const offline = once(driver, 'offline');
    sim.applyFault({ fault: 'silent', ms: 400 });
    const [reason] = await offline;
    expect(reason).toMatch(/silence/);
    expect(driver.online).toBe(false);
    await once(driver, 'online');
    expect(driver.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(await driver.dispense({ vendToken: 9, slot: 1 })).toMatchObject({ kind: 'dispensed' });
  });

  it('rejects an in-flight vend with DeviceOffline when the board vanishes, and resolves it by query after reconnect', async () => {
    const { driver, sim } = await rig({ motorMs: 150 }, { silenceTimeoutMs: 80 });
    const progress = once(driver, 'progress');
    const vend = driver.dispense({ vendToken: 5150, slot: 2 });
    await progress;
    await sim.unplug(400);
    const err = await expectVendgateError(vend, ErrorCode.DeviceOffline);
    expect(err.context).toMatchObject({
      vendToken: 5150,
      sent: true,
    });
    await once(driver, 'online');
    expect(await driver.queryVend(5150)).toEqual({ kind: 'dispensed', vendToken: 5150, slot: 2 });
    // Resending the same token after the reconnect is safe: the board re-reports, no second dispense.
    expect(await driver.dispense({ vendToken: 5150, slot: 2 })).toMatchObject({ kind: 'dispensed' });
    expect(sim.stats.dispensed).toBe(1);
  });

  it('reopens the port when it closes and keeps retrying until stop()', async () => {
    const { driver, host } = await rig({}, { silenceTimeoutMs: 10_000 });
    const offline = once(driver, 'offline');
    await host.close();
    const [reason] = await offline;
    expect(reason).toMatch(/closed/);
    await once(driver, 'online');
    expect(driver.online).toBe(true);
  });
});
