/**
 * Printable QR stickers of a machine's static remote-vend URL (flow 1: scan,
 * choose and pay on the phone, the machine dispenses). Written as SVG (for a
 * print shop, scales without loss) and PNG (for everything else), with error
 * correction level Q, since a sticker gets scratched and dirty, and a quiet
 * zone of 4 modules.
 *
 *   vendgate qr sticker --machine M --url URL [--out DIR] [--level Q|H] [--size PX]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { ScanUrl } from './port.ts';
import { type QrLevel, QUIET_ZONE_MODULES, renderQrSvg } from './qr.ts';

export interface StickerOptions {
  /** The static remote-vend URL of the machine. */
  url: string;
  outDir: string;
  /** File name without extension: letters, digits, _ - . */
  name: string;
  /** Q (default) or H; stickers never go below Q. */
  level?: 'Q' | 'H';
  /** PNG width in pixels, quiet zone included; default 1200 (about 10 cm at 300 dpi). */
  pngWidth?: number;
}

export interface StickerFiles {
  svgPath: string;
  pngPath: string;
  /** Modules across, quiet zone included. */
  modules: number;
  version: number;
  level: QrLevel;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export async function writeStickerQr(opts: StickerOptions): Promise<StickerFiles> {
  const url = ScanUrl.safeParse(opts.url);
  if (!url.success || !/^https?:\/\//i.test(opts.url)) {
    throw new VendgateError(ErrorCode.DisplayQrInvalid, `"${opts.url}" is not an http(s) URL for a sticker`, {
      url: opts.url,
    });
  }
  if (!NAME.test(opts.name)) {
    throw new VendgateError(
      ErrorCode.DisplayQrInvalid,
      `"${opts.name}" is not a file name (1-64 letters, digits, _ - ., no path)`,
      { name: opts.name },
    );
  }
  const level = opts.level ?? 'Q';
  if (level !== 'Q' && level !== 'H') {
    throw new VendgateError(ErrorCode.DisplayQrInvalid, `sticker level must be Q or H, not "${level}"`, {
      level,
    });
  }
  const pngWidth = opts.pngWidth ?? 1200;
  if (!Number.isInteger(pngWidth) || pngWidth < 200 || pngWidth > 10_000) {
    throw new VendgateError(ErrorCode.DisplayQrInvalid, `PNG width must be 200-10000 px, not ${pngWidth}`, {
      pngWidth,
    });
  }
  const outDir = resolve(opts.outDir);
  await mkdir(outDir, { recursive: true });
  const qr = await renderQrSvg(url.data, { level, margin: QUIET_ZONE_MODULES });
  const svgPath = join(outDir, `${opts.name}.svg`);
  const pngPath = join(outDir, `${opts.name}.png`);
  await writeFile(svgPath, `${qr.svg}\n`);
  await QRCode.toFile(pngPath, url.data, {
    type: 'png',
    errorCorrectionLevel: level,
    margin: QUIET_ZONE_MODULES,
    // A whole number of pixels per module keeps the edges sharp.
    width: Math.max(1, Math.floor(pngWidth / qr.modules)) * qr.modules,
    color: { dark: '#000000ff', light: '#ffffffff' },
  });
  return { svgPath, pngPath, modules: qr.modules, version: qr.version, level };
}

const USAGE = 'usage: vendgate qr sticker --machine M --url URL [--out DIR] [--level Q|H] [--size PX]\n';

/** `vendgate qr sticker ...`; returns the exit code (0 ok, 1 invalid input, 2 usage). */
export async function runStickerCli(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let values: { machine?: string; url?: string; out?: string; level?: string; size?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        machine: { type: 'string', short: 'm' },
        url: { type: 'string', short: 'u' },
        out: { type: 'string', short: 'o', default: '.' },
        level: { type: 'string', default: 'Q' },
        size: { type: 'string', default: '1200' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(USAGE);
    return 0;
  }
  if (!values.machine || !values.url) {
    err.write(USAGE);
    return 2;
  }
  try {
    const files = await writeStickerQr({
      url: values.url,
      outDir: values.out ?? '.',
      name: `qr-${values.machine}`,
      level: values.level as 'Q' | 'H',
      pngWidth: Number(values.size),
    });
    out.write(`${JSON.stringify({ machine: values.machine, url: values.url, ...files })}\n`);
    return 0;
  } catch (e) {
    if (e instanceof VendgateError) {
      err.write(`vendgate qr sticker: ${e.message} (${e.code} ${e.codeName})\n`);
      return 1;
    }
    throw e;
  }
}
