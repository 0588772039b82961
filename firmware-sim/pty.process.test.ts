import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTransport } from '../devices/vending/transport.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { createPtyPair, type PtyPair } from './pty.ts';

describe('createPtyPair', () => {
  const cleanup = cleanupsAfterEach();

  function tmp(): string {
    const dir = mkdtempSync(join(tmpdir(), 'vendgate-pty-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  it('links two ptys that carry bytes both ways through node-serialport', async () => {
    const pty: PtyPair = await createPtyPair(tmp());
    cleanup.push(() => pty.close());
    const a = await openTransport(pty.hostPath);
    const b = await openTransport(pty.devicePath);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const got = new Promise<Buffer>((r) => b.once('data', r));
    a.write(Buffer.from([0xfa, 0xfb, 1]));
    expect([...(await got)]).toEqual([0xfa, 0xfb, 1]);
  });

  it('restarts socat with the same link names, pointing at new ptys', async () => {
    const pty = await createPtyPair(tmp());
    cleanup.push(() => pty.close());
    const before = readlinkSync(pty.hostPath);
    const pid = pty.pid;
    await pty.restart();
    expect(existsSync(pty.hostPath)).toBe(true);
    expect(existsSync(pty.devicePath)).toBe(true);
    expect(pty.pid).not.toBe(pid);
    expect(typeof readlinkSync(pty.hostPath)).toBe('string');
    expect(before).toMatch(/^\/dev\/pts\//);
  });

  it('removes its links on close', async () => {
    const pty = await createPtyPair(tmp());
    await pty.close();
    expect(existsSync(pty.hostPath)).toBe(false);
  });

  it('says to apt-get install socat when socat is missing', async () => {
    await expect(createPtyPair(tmp(), { socat: '/nonexistent/socat' })).rejects.toThrow(
      /apt-get install socat/,
    );
  });
});
