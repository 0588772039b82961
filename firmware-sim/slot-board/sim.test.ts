import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Command, encodeFrame, FrameDecoder } from '../../devices/vending/slot-board/codec.ts';
import {
  DispenseMessage,
  DispenseResultMessage,
  parseMessage,
} from '../../devices/vending/slot-board/messages.ts';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { waitUntil } from '../../testing/wait.ts';
import { parseFaultLine } from './main.ts';
import { SlotBoardSim } from './sim.ts';

describe('parseFaultLine', () => {
  it('accepts the documented fault commands', () => {
    expect(parseFaultLine('{"fault":"jam","slot":3,"count":1}')).toEqual({ fault: 'jam', slot: 3, count: 1 });
    expect(parseFaultLine('{"fault":"silent","ms":500}')).toEqual({ fault: 'silent', ms: 500 });
    expect(parseFaultLine('{"fault":"clear"}')).toEqual({ fault: 'clear' });
  });

  it('rejects unknown faults and missing or bad arguments with a message', () => {
    expect(() => parseFaultLine('{"fault":"explode"}')).toThrow(/unknown fault/);
    expect(() => parseFaultLine('{"fault":"unplug"}')).toThrow(/"ms" is required/);
    expect(() => parseFaultLine('{"fault":"jam","slot":-1}')).toThrow(/non-negative/);
    expect(() => parseFaultLine('not json')).toThrow();
  });
});

describe('SlotBoardSim', () => {
  async function board(opts = {}) {
    const { host, device } = createMemoryTransportPair();
    const sim = new SlotBoardSim(device, { motorMs: 0, pollMs: 1000, ...opts });
    await host.open();
    await sim.start();
    const dec = new FrameDecoder();
    const frames: ReturnType<typeof dec.push> = [];
    host.on('data', (c) => frames.push(...dec.push(c)));
    return { sim, host, frames };
  }

  it('acknowledges a DISPENSE quoting its seq, reports progress and the result, and logs the outcome', async () => {
    const records: unknown[] = [];
    const { sim, host, frames } = await board({ motorMs: 10, onOutcome: (r: unknown) => records.push(r) });
    host.write(new DispenseMessage(9, 1).serialize(42));
    const [rec] = await once(sim, 'vend');
    expect(rec).toMatchObject({ vendToken: 9, slot: 1, outcome: 'dispensed' });
    expect(records).toHaveLength(1);
    await waitUntil(() => frames.some((f) => f.command === Command.Ack), { what: 'the ACK of the DISPENSE' });
    expect(frames.find((f) => f.command === Command.Ack)?.seq).toBe(42);
    expect(frames.some((f) => f.command === Command.DispenseProgress)).toBe(true);
    await sim.stop();
  });

  it('resends an unacknowledged result up to five times and then gives up', async () => {
    const { sim, host, frames } = await board({ ackTimeoutMs: 5 });
    host.write(new DispenseMessage(10, 1).serialize(1));
    await waitUntil(() => sim.stats.dropped === 1, { what: 'the result given up' });
    // Never ACKed: with no motor time the result replaced both progress
    // reports before any was on the wire; it is sent 6 times, then dropped.
    const results = frames.filter((f) => f.command === Command.DispenseResult);
    expect(results.length).toBe(6);
    expect(parseMessage(results[0]!)).toEqual(new DispenseResultMessage(10, 1, 0));
    expect(frames.some((f) => f.command === Command.DispenseProgress)).toBe(false);
    expect(sim.stats.dropped).toBe(1);
    await sim.stop();
  });

  it('replaces a progress report not yet sent with the newer result, leaving no seq gap', async () => {
    // Accepted goes out and waits for its ACK; "dispensing" waits behind it
    // and is replaced by the result when the 5 ms motor finishes.
    const { sim, host, frames } = await board({ motorMs: 5 });
    host.write(new DispenseMessage(12, 1).serialize(1));
    await once(sim, 'vend');
    const ackAll = async () => {
      for (let i = 0; i < 5; i++) {
        const data = frames.filter((f) => f.command !== Command.Poll && f.command !== Command.Ack);
        const last = data.at(-1);
        if (last) host.write(encodeFrame(Command.Ack, last.seq, new Uint8Array(0)));
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await ackAll();
    const data = frames.filter((f) => f.command !== Command.Poll && f.command !== Command.Ack);
    const seen = [...new Map(data.map((f) => [f.seq, f])).values()];
    expect(seen.map((f) => f.command)).toEqual([Command.DispenseProgress, Command.DispenseResult]);
    expect(seen[1]!.seq).toBe(seen[0]!.seq + 1);
    await sim.stop();
  });

  it('with no motor time answers a DISPENSE with the result alone, on the seq the progress would have used', async () => {
    const { sim, host, frames } = await board();
    host.write(new DispenseMessage(13, 1).serialize(1));
    await once(sim, 'vend');
    await new Promise((r) => setTimeout(r, 10));
    const data = frames.filter((f) => f.command !== Command.Poll && f.command !== Command.Ack);
    expect(data.map((f) => [f.command, f.seq])).toEqual([[Command.DispenseResult, 1]]);
    await sim.stop();
  });

  it('remembers a token across an unplug and never dispenses it twice', async () => {
    const { sim, host } = await board();
    host.write(new DispenseMessage(11, 2).serialize(1));
    await once(sim, 'vend');
    await sim.unplug(10);
    await once(sim, 'port-open');
    host.write(new DispenseMessage(11, 2).serialize(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(sim.stock(2)).toBe(9);
    expect(sim.vendState(11)).toEqual({ state: 'final', slot: 2, result: 0 });
    await sim.stop();
  });

  it('ignores frames with a bad checksum', async () => {
    const { sim, host } = await board();
    const bad = encodeFrame(Command.Dispense, 1, new DispenseMessage(12, 1).payload());
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    host.write(bad);
    await waitUntil(() => sim.decoder.stats.badChecksums === 1, { what: 'the bad frame counted' });
    expect(sim.vendState(12)).toBeUndefined();
    expect(sim.decoder.stats.badChecksums).toBe(1);
    await sim.stop();
  });
});
