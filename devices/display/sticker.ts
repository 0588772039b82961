/**
 * Printable QR stickers of a machine's static remote-vend URL (flow 1: scan,
 * choose and pay on the phone, the machine dispenses). Three files:
 *
 *   sticker-<machine>.svg  what is printed: the QR code, "Scan to buy", a
 *                          one-line instruction and the machine id, in the
 *                          machine's language (so a technician can tell the
 *                          stickers of a row of machines apart)
 *   qr-<machine>.svg/.png  the bare QR code, for a print shop's own layout
 *
 * Error correction level Q, since a sticker gets scratched and dirty, and a
 * quiet zone of 4 modules (ISO/IEC 18004 section 7.3.8).
 *
 *   vendgate qr sticker --machine M --url URL [--out DIR] [--locale L] [--level Q|H] [--size PX]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import { describeErrno, ensureDirectory } from '../../core/directories.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { MESSAGES } from './messages.ts';
import { DEFAULT_LOCALE, LOCALES, Locale, ScanUrl } from './port.ts';
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
  /** The machine id printed under the QR code; default `name`. */
  machineId?: string;
  /** The language of the sticker's texts; default zh-CN. */
  locale?: Locale;
}

export interface StickerFiles {
  /** The printable sticker: QR code, instruction and machine id. */
  stickerPath: string;
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
  const locale = Locale.safeParse(opts.locale ?? DEFAULT_LOCALE);
  if (!locale.success) {
    throw new VendgateError(
      ErrorCode.DisplayQrInvalid,
      `sticker locale must be one of ${LOCALES.join(', ')}, not "${opts.locale}"`,
      { locale: opts.locale },
    );
  }
  const outDir = await ensureDirectory(opts.outDir, '--out');
  const qr = await renderQrSvg(url.data, { level, margin: QUIET_ZONE_MODULES });
  const svgPath = join(outDir, `${opts.name}.svg`);
  const pngPath = join(outDir, `${opts.name}.png`);
  const stickerPath = join(outDir, `sticker-${opts.name.replace(/^qr-/, '')}.svg`);
  await writeOut(svgPath, () => writeFile(svgPath, `${qr.svg}\n`));
  await writeOut(stickerPath, () =>
    writeFile(stickerPath, stickerSvg(qr.svg, opts.machineId ?? opts.name, locale.data)),
  );
  await writeOut(pngPath, () =>
    QRCode.toFile(pngPath, url.data, {
      type: 'png',
      errorCorrectionLevel: level,
      margin: QUIET_ZONE_MODULES,
      // A whole number of pixels per module keeps the edges sharp.
      width: Math.max(1, Math.floor(pngWidth / qr.modules)) * qr.modules,
      color: { dark: '#000000ff', light: '#ffffffff' },
    }),
  );
  return { stickerPath, svgPath, pngPath, modules: qr.modules, version: qr.version, level };
}

/** A write under `--out` that failed says which file and why, as a catalogued error. */
async function writeOut(path: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VendgateError(
      ErrorCode.CliPathUnusable,
      `--out: cannot write ${path}: ${describeErrno(code)}`,
      {
        path,
        ...(code ? { errno: code } : {}),
      },
    );
  }
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

/** Sticker units: the QR code is 100 across; texts are sized in the same units. */
const STICKER_WIDTH = 100;
const TEXT_WIDTH = 92;

/** Rough advance of a character in em: CJK and full-width ones are square, the rest about half. */
function charEm(c: string): number {
  return (c.codePointAt(0) ?? 0) >= 0x2e80 ? 1 : 0.56;
}

/**
 * Greedy line breaking for the instruction: at spaces in Latin text,
 * between any two characters in CJK text (no font metrics on the gateway;
 * the estimate errs on the wide side).
 */
export function wrapText(text: string, fontSize: number, width = TEXT_WIDTH): string[] {
  const tokens = text.match(/[\u2e80-\uffff]|[^\s\u2e80-\uffff]+|\s+/g) ?? [];
  const lines: string[] = [];
  let line = '';
  let used = 0;
  for (const token of tokens) {
    const w = [...token].reduce((sum, c) => sum + charEm(c), 0) * fontSize;
    if (/^\s+$/.test(token)) {
      if (line) {
        line += ' ';
        used += 0.3 * fontSize;
      }
      continue;
    }
    if (line && used + w > width) {
      lines.push(line.trimEnd());
      line = '';
      used = 0;
    }
    line += token;
    used += w;
  }
  if (line.trim()) lines.push(line.trimEnd());
  return lines;
}

/** The printable sticker: the QR code on top, then the title, the instruction and the machine id. */
export function stickerSvg(qrSvg: string, machineId: string, locale: Locale): string {
  const m = MESSAGES[locale];
  const qr = qrSvg.replace(/^<svg /, `<svg x="0" y="0" width="${STICKER_WIDTH}" height="${STICKER_WIDTH}" `);
  const hint = wrapText(m.idleHint, 4.6);
  let y = STICKER_WIDTH + 9;
  const texts = [`<text x="50" y="${y}" font-size="9" font-weight="700">${escapeXml(m.idleTitle)}</text>`];
  y += 3;
  for (const line of hint) {
    y += 6;
    texts.push(`<text x="50" y="${y}" font-size="4.6">${escapeXml(line)}</text>`);
  }
  y += 9;
  texts.push(
    `<text x="50" y="${y}" font-size="5.5" font-weight="700" data-machine="${escapeXml(machineId)}">${escapeXml(m.stickerMachine(machineId))}</text>`,
  );
  const height = y + 5;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${STICKER_WIDTH} ${height}" width="${STICKER_WIDTH}mm" height="${height}mm" lang="${locale}">
<rect width="${STICKER_WIDTH}" height="${height}" fill="#ffffff"/>
${qr}
<g fill="#000000" text-anchor="middle" font-family="Noto Sans CJK SC, Noto Sans CJK JP, Noto Sans, DejaVu Sans, sans-serif">
${texts.join('\n')}
</g>
</svg>
`;
}

export const STICKER_USAGE = `usage: vendgate qr sticker --machine M --url URL [--out DIR] [--locale ${LOCALES.join('|')}] [--level Q|H] [--size PX]

Writes sticker-M.svg (to print: the QR code, an instruction and the machine id
in --locale, default ${DEFAULT_LOCALE}) and qr-M.svg / qr-M.png (the bare QR code)
into --out (default: the current directory), and prints their paths as JSON.
`;
const USAGE = STICKER_USAGE;

/** `vendgate qr sticker ...`; returns the exit code (0 ok, 1 invalid input, 2 usage). */
export async function runStickerCli(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let values: {
    machine?: string;
    url?: string;
    out?: string;
    level?: string;
    size?: string;
    locale?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        machine: { type: 'string', short: 'm' },
        url: { type: 'string', short: 'u' },
        out: { type: 'string', short: 'o', default: '.' },
        level: { type: 'string', default: 'Q' },
        size: { type: 'string', default: '1200' },
        locale: { type: 'string', short: 'l', default: DEFAULT_LOCALE },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err.write(`vendgate qr sticker: ${(e as Error).message}\n\n${USAGE}`);
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
      machineId: values.machine,
      locale: values.locale as Locale,
    });
    out.write(`${JSON.stringify({ machine: values.machine, url: values.url, ...files })}\n`);
    return 0;
  } catch (e) {
    if (e instanceof VendgateError) {
      err.write(`vendgate qr sticker: error ${e.code} (${e.codeName}): ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
