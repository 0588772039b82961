import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Command, encodeFrame, FrameDecoder } from '../../devices/vending/slot-board/codec.ts';
import {
  type AckMessage,
  DispenseMessage,
  DispenseResultMessage,
  InfoMessage,
  PollMessage,
  parseMessage,
  QueryVendMessage,
  ResultCode,
  VendStatusMessage,
} from '../../devices/vending/slot-board/messages.ts';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { parseFaultLine } from './main.ts';
import { SlotBoardSim } from './sim.ts';

describe('parseFaultLine', () => {
  it('accepts the documented fault commands', () => {
    expect(parseFaultLine('{"fault":"jam","slot":3,"count":1}')).toEqual({ fault: 'jam', slot: 3, count: 1 });
    expect(parseFaultLine('{"fault":"silent","ms":500}')).toEqual({ fault: 'silent', ms: 500 });
    expect(parseFaultLine('{"fault":"clear"}')).toEqual({ fault: 'clear' });
    expect(parseFaultLine('{"fault":"door","open":true}')).toEqual({ fault: 'door', open: true });
    expect(parseFaultLine('{"fault":"temperature","deciC":-35}')).toEqual({
      fault: 'temperature',
      deciC: -35,
    });
  });

  it('rejects a door without open or a temperature that is no i16 in tenths of a degree', () => {
    expect(() => parseFaultLine('{"fault":"door"}')).toThrow(/"open" must be true or false/);
    expect(() => parseFaultLine('{"fault":"door","open":"yes"}')).toThrow(/"open"/);
    for (const deciC of ['4.5', '40000', '"cold"'])
      expect(() => parseFaultLine(`{"fault":"temperature","deciC":${deciC}}`)).toThrow(
        /"deciC" must be an integer/,
      );
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

  it('reports its boot epoch in POLL, in the ACK of a DISPENSE, in VEND_STATUS and in INFO', async () => {
    const { sim, host, frames } = await board({ bootEpoch: 0x5eed0001 });
    host.write(new DispenseMessage(20, 1, 0x5eed0001).serialize(5));
    host.write(new QueryVendMessage(20).serialize(6));
    host.write(encodeFrame(Command.GetInfo, 7));
    await waitUntil(() => frames.some((f) => f.command === Command.Info), { what: 'INFO' });
    const msgs = frames.map((f) => ({ f, m: parseMessage(f) }));
    expect(msgs.find(({ m }) => m instanceof PollMessage)?.m).toEqual(new PollMessage(0, 0x5eed0001));
    const ack = msgs.find(({ f }) => f.command === Command.Ack && f.seq === 5)!.m as AckMessage;
    expect(ack.bootEpoch).toBe(0x5eed0001);
    expect(msgs.find(({ f }) => f.command === Command.Ack && f.seq === 6)!.f.payload).toHaveLength(0);
    const status = msgs.find(({ m }) => m instanceof VendStatusMessage)!.m as VendStatusMessage;
    expect(status.bootEpoch).toBe(0x5eed0001);
    const info = msgs.find(({ m }) => m instanceof InfoMessage)!.m as InfoMessage;
    expect(info).toMatchObject({ protocolVersion: 3, bootEpoch: 0x5eed0001 });
    await sim.stop();
  });

  it('refuses a DISPENSE meant for another boot epoch without acting on it or remembering it', async () => {
    const { sim, host, frames } = await board({ bootEpoch: 0x22 });
    host.write(new DispenseMessage(21, 1, 0x11).serialize(1));
    await waitUntil(() => frames.some((f) => f.command === Command.DispenseResult), { what: 'the refusal' });
    const r = parseMessage(
      frames.find((f) => f.command === Command.DispenseResult)!,
    ) as DispenseResultMessage;
    expect(r.result).toBe(ResultCode.WrongEpoch);
    expect(sim.vendState(21)).toBeUndefined();
    expect(sim.stock(1)).toBe(10);
    await sim.stop();
  });

  it('keeps its token memory across a restart in its state file, under a new boot epoch', async () => {
    const tmp = tempDir();
    try {
      const stateFile = join(tmp.dir, 'tokens.jsonl');
      const first = await board({ stateFile });
      first.host.write(new DispenseMessage(30, 1).serialize(1));
      await once(first.sim, 'vend');
      await first.sim.stop();
      const second = await board({ stateFile });
      expect(second.sim.bootEpoch).not.toBe(first.sim.bootEpoch);
      expect(second.sim.vendState(30)).toEqual({ state: 'final', slot: 1, result: 0 });
      await second.sim.stop();
    } finally {
      tmp.cleanup();
    }
  });

  it('on a crash-after-vend fault logs the vend and then sends nothing more', async () => {
    const records: unknown[] = [];
    const { sim, host, frames } = await board({ onOutcome: (r: unknown) => records.push(r) });
    sim.applyFault({ fault: 'crash-after-vend' });
    const crashed = once(sim, 'crash');
    host.write(new DispenseMessage(31, 1).serialize(1));
    await crashed;
    await new Promise((r) => setTimeout(r, 20));
    expect(records).toHaveLength(1);
    expect(frames.some((f) => f.command === Command.DispenseResult)).toBe(false);
    await sim.stop();
  });
});
