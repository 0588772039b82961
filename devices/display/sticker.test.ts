import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { runStickerCli, writeStickerQr } from './sticker.ts';
import { decodeQrPng } from './test-support.ts';

const URL = 'https://vend.example.com/m/lobby-1?src=sticker';
const cleanups = cleanupsAfterEach();
function tmp(): string {
  const t = tempDir('vendgate-sticker-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('the sticker QR writer', () => {
  it('writes a PNG that decodes back to the machine URL, at level Q with a 4-module quiet zone', async () => {
    const dir = tmp();
    const files = await writeStickerQr({ url: URL, outDir: dir, name: 'lobby-1' });
    expect(files.level).toBe('Q');
    expect(decodeQrPng(readFileSync(files.pngPath))).toBe(URL);
    const png = readFileSync(files.pngPath);
    const width = png.readUInt32BE(16);
    expect(width % files.modules).toBe(0);
    expect(width).toBeLessThanOrEqual(1200);
    // The first four modules of every edge are white: the quiet zone.
    const img = PNG.sync.read(png);
    const px = width / files.modules;
    const quiet = 4 * px;
    for (const [x, y] of [
      [0, 0],
      [quiet - 1, quiet - 1],
      [width - quiet, width / 2],
      [width / 2, width - 1],
    ] as const) {
      const i = (Math.floor(y) * width + Math.floor(x)) * 4;
      expect(img.data[i], `pixel ${x},${y}`).toBe(255);
    }
  });

  it('writes an SVG with a viewBox that includes the quiet zone', async () => {
    const dir = tmp();
    const files = await writeStickerQr({ url: URL, outDir: join(dir, 'new', 'dir'), name: 'lobby-1' });
    const svg = readFileSync(files.svgPath, 'utf8');
    expect(svg).toContain(`viewBox="0 0 ${files.modules} ${files.modules}"`);
    expect(svg.startsWith('<svg')).toBe(true);
  });

  it('refuses a URL that is not http(s), a file name with a path and a level below Q', async () => {
    const dir = tmp();
    for (const opts of [
      { url: 'javascript:alert(1)', outDir: dir, name: 'x' },
      { url: URL, outDir: dir, name: '../escape' },
      { url: URL, outDir: dir, name: 'x', level: 'L' as 'Q' },
    ]) {
      await expectVendgateError(writeStickerQr(opts), ErrorCode.DisplayQrInvalid);
    }
  });

  it('is the `vendgate qr sticker` command: writes qr-<machine>.svg and .png and prints where', async () => {
    const dir = tmp();
    const out = sink();
    const err = sink();
    const code = await runStickerCli(['--machine', 'm1', '--url', URL, '--out', dir], out.stream, err.stream);
    expect(err.text()).toBe('');
    expect(code).toBe(0);
    const printed = JSON.parse(out.text()) as { pngPath: string; svgPath: string };
    expect(printed.pngPath).toBe(join(dir, 'qr-m1.png'));
    expect(decodeQrPng(readFileSync(printed.pngPath))).toBe(URL);
  });

  it('says how to use the command when an argument is missing or wrong', async () => {
    const err = sink();
    expect(await runStickerCli(['--machine', 'm1'], sink().stream, err.stream)).toBe(2);
    expect(err.text()).toContain('usage: vendgate qr sticker');
    const bad = sink();
    expect(
      await runStickerCli(
        ['--machine', 'm1', '--url', 'ftp://x/y', '--out', tmp()],
        sink().stream,
        bad.stream,
      ),
    ).toBe(1);
    expect(bad.text()).toContain('9103 DisplayQrInvalid');
  });
});
