import { once } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SerialTransport } from '../../devices/vending/transport.ts';
import { createPtyPair, type PtyPair } from '../../firmware-sim/pty.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';

const cleanup = cleanupsAfterEach();

async function pair(): Promise<PtyPair> {
  const tmp = tempDir('vendgate-dio-');
  const p = await createPtyPair(tmp.dir);
  cleanup.push(() => tmp.cleanup());
  cleanup.push(() => p.close());
  return p;
}

async function open(path: string, directIo: boolean): Promise<SerialTransport> {
  const t = new SerialTransport(path, { directIo });
  await t.open();
  cleanup.push(() => t.close());
  return t;
}

function collect(t: SerialTransport, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        t.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    t.on('data', onData);
  });
}

describe.skipIf(process.platform !== 'linux')('direct-I/O serial binding on a socat pty pair', () => {
  it('carries every byte, in order, both ways, against the stock binding on the far end', async () => {
    const p = await pair();
    const direct = await open(p.hostPath, true);
    const stock = await open(p.devicePath, false);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }),
        async (chunks) => {
          const all = Buffer.concat(chunks);
          const toStock = collect(stock, all.length);
          for (const c of chunks) direct.write(c);
          expect(Buffer.compare(await toStock, all)).toBe(0);
          const toDirect = collect(direct, all.length);
          for (const c of chunks) stock.write(c);
          expect(Buffer.compare(await toDirect, all)).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('writes a frame larger than the pty buffer by waiting for the reader', async () => {
    const p = await pair();
    const direct = await open(p.hostPath, true);
    const stock = await open(p.devicePath, false);
    const big = Buffer.alloc(256 * 1024, 0x5a);
    const received = collect(stock, big.length);
    direct.write(big);
    expect((await received).length).toBe(big.length);
  });

  it('reports close when the far end of the pty pair goes away', async () => {
    const p = await pair();
    const direct = await open(p.hostPath, true);
    const closed = once(direct, 'close');
    await p.close();
    await closed;
    expect(direct.isOpen).toBe(false);
  });
});
