import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { renderQrSvg } from './qr.ts';
import { runStickerCli, stickerSvg, wrapText, writeStickerQr } from './sticker.ts';
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
    expect(bad.text()).toContain('error 9103 (DisplayQrInvalid)');
  });

  it('writes a printable sticker with the QR code, the instruction and the machine id in the machine language', async () => {
    const dir = tmp();
    const files = await writeStickerQr({
      url: URL,
      outDir: dir,
      name: 'qr-lobby-1',
      machineId: 'lobby-1',
      locale: 'ja',
    });
    expect(files.stickerPath).toBe(join(dir, 'sticker-lobby-1.svg'));
    const sticker = readFileSync(files.stickerPath, 'utf8');
    const qr = readFileSync(files.svgPath, 'utf8').trim();
    // The same QR code, scaled into the top 100 units of the sticker.
    const modulesPath = /<path stroke="#000000" d="([^"]+)"/.exec(qr)![1]!;
    expect(sticker).toContain(modulesPath);
    expect(sticker).toContain('<svg x="0" y="0" width="100" height="100" ');
    expect(sticker).toContain('>スキャンして購入</text>');
    expect(sticker).toContain('>機械番号 lobby-1</text>');
    expect(sticker).toContain('lang="ja"');
  });

  it('escapes a machine id and wraps a long instruction into lines that fit the sticker', async () => {
    const { svg } = await renderQrSvg(URL, { level: 'Q' });
    const out = stickerSvg(svg, 'a<b>&"c', 'de');
    expect(out).toContain('Automat a&lt;b&gt;&amp;&quot;c');
    expect(out).not.toContain('a<b>');
    const lines = [...out.matchAll(/font-size="4.6">([^<]+)</g)].map((m) => m[1]);
    expect(lines).toEqual(['Am Handy wählen und bezahlen – der', 'Automat gibt die Ware aus.']);
  });

  it('wraps any text into trimmed lines without losing or reordering a character', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[A-Za-z\u4e00-\u4e10]{1,12}$/), { maxLength: 20 }),
        (words) => {
          const text = words.join(' ');
          const lines = wrapText(text, 4.6, 60);
          expect(lines.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
          for (const l of lines) expect(l).toBe(l.trim());
        },
      ),
    );
  });

  it('answers an output directory under /proc with a clear error instead of spinning', async () => {
    const err = sink();
    const code = await runStickerCli(
      ['--machine', 'm1', '--url', URL, '--out', '/proc/nope'],
      sink().stream,
      err.stream,
    );
    expect(code).toBe(1);
    expect(err.text()).toMatch(
      /^vendgate qr sticker: error 1101 \(CliPathUnusable\): --out \/proc\/nope: cannot make/,
    );
  });

  it('answers a file where the output directory should be, and an unknown locale, with one line each', async () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'x');
    const err = sink();
    expect(await runStickerCli(['-m', 'm1', '-u', URL, '--out', file], sink().stream, err.stream)).toBe(1);
    expect(err.text()).toBe(
      `vendgate qr sticker: error 1101 (CliPathUnusable): --out ${file}: it is a file, not a directory\n`,
    );
    const dir = tmp();
    const bad = sink();
    expect(
      await runStickerCli(['-m', 'm1', '-u', URL, '--out', dir, '--locale', 'fr'], sink().stream, bad.stream),
    ).toBe(1);
    expect(bad.text()).toContain('sticker locale must be one of zh-CN, en, de, ja, not "fr"');
    expect(existsSync(join(dir, 'qr-m1.png'))).toBe(false);
  });
});
