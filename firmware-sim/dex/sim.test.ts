import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { parseEvaDts } from '../../devices/dex/evadts/parse.ts';
import { readDexAudit } from '../../devices/dex/link.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { DexMachineSim } from './sim.ts';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/dex');
const SNACK = readFileSync(join(FIXTURES, 'snack.dex'), 'latin1');
/** Short waits: the peer is in memory, so any silence longer than this is the fault under test. */
const FAST = { answerTimeoutMs: 300, stallTimeoutMs: 300, enqAttempts: 2 };

describe('DEX/UCS link against the simulated machine', () => {
  const cleanups = cleanupsAfterEach();

  async function machine(audit = SNACK, blockBytes = 64) {
    const { host, device } = createMemoryTransportPair('dex');
    const sim = new DexMachineSim(device, {
      audit,
      blockBytes,
      communicationId: 'SNK0000117',
      answerTimeoutMs: 500,
    });
    await sim.start();
    await host.open();
    cleanups.push(
      () => sim.stop(),
      () => host.close(),
    );
    return { host, sim };
  }

  it('reads the whole audit in acknowledged blocks, byte for byte, with the machine identity', async () => {
    const { host, sim } = await machine();
    const ends: unknown[] = [];
    sim.on('read-end', (r) => ends.push(r));
    const t = await readDexAudit(host, FAST);
    expect(t.text).toBe(SNACK);
    expect(t.blocks).toBe(Math.ceil(SNACK.length / 64));
    expect(t.retransmissions).toBe(0);
    expect(t.machine).toEqual({ communicationId: 'SNK0000117', revisionLevel: 'R01L01', responseCode: '00' });
    expect(parseEvaDts(t.text).problems).toEqual([]);
    expect(ends).toEqual([{ ok: true, blocks: t.blocks, bytes: SNACK.length, resends: 0 }]);
  });

  it('asks again for a block with a bad CRC and gets it right the second time', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'corrupt-crc', count: 2 });
    const t = await readDexAudit(host, FAST);
    expect(t.text).toBe(SNACK);
    expect(t.retransmissions).toBe(2);
  });

  it('gives up with DexCrcMismatch when a block keeps failing its CRC', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'corrupt-crc', count: 100 });
    const err = await expectVendgateError(
      readDexAudit(host, { ...FAST, maxRetransmissions: 2 }),
      ErrorCode.DexCrcMismatch,
    );
    expect(err.message).toBe('data block 1 failed its CRC-16 3 times; giving up');
  });

  it('reports a machine that stops in the middle of a block as DexStalled, naming the block', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'stall', afterBlocks: 2 });
    const err = await expectVendgateError(readDexAudit(host, FAST), ErrorCode.DexStalled);
    expect(err.message).toMatch(/^the machine stopped in the middle of block 3 \(128 bytes received\)/);
    expect(err.context).toMatchObject({ blocks: 2, bytes: 128, midBlock: true });
  });

  it('receives a truncated audit in good blocks, and the parser flags it', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'truncate', fraction: 0.4 });
    const t = await readDexAudit(host, FAST);
    expect(t.text.length).toBe(Math.floor(SNACK.length * 0.4));
    expect(parseEvaDts(t.text).problems).toEqual(expect.arrayContaining([expect.stringMatching(/no G85/)]));
  });

  it('reports a machine that never answers the ENQ as DexNoAnswer', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'silent' });
    sim.applyFault({ fault: 'silent' });
    await expectVendgateError(readDexAudit(host, { ...FAST, enqAttempts: 1 }), ErrorCode.DexNoAnswer);
  });

  it('refuses an audit larger than its bound with DexTooLarge', async () => {
    const { host } = await machine();
    const err = await expectVendgateError(
      readDexAudit(host, { ...FAST, maxBytes: 200 }),
      ErrorCode.DexTooLarge,
    );
    expect(err.message).toMatch(/larger than 200 bytes \(block 4\)/);
  });

  it('reads again after a failed read: every transfer starts from a clean state', async () => {
    const { host, sim } = await machine();
    sim.applyFault({ fault: 'stall', afterBlocks: 1 });
    await expectVendgateError(readDexAudit(host, FAST), ErrorCode.DexStalled);
    const t = await readDexAudit(host, { ...FAST, answerTimeoutMs: 1500 });
    expect(t.text).toBe(SNACK);
  });
});
