/**
 * QR codes as SVG, generated with the `qrcode` package on the gateway (the
 * kiosk page never runs a QR encoder). Error correction M by default (Q for
 * printed stickers, which get scratched), and a quiet zone of 4 modules as
 * ISO/IEC 18004 asks for.
 */
import QRCode from 'qrcode';
import { ErrorCode, VendgateError } from '../../core/errors.ts';

export type QrLevel = 'L' | 'M' | 'Q' | 'H';
export const QUIET_ZONE_MODULES = 4;

export interface QrSvg {
  svg: string;
  /** Modules across, quiet zone included: the page scales the image to a multiple of this. */
  modules: number;
  version: number;
  level: QrLevel;
}

export interface QrOptions {
  level?: QrLevel;
  /** Quiet zone in modules; default 4, never less. */
  margin?: number;
}

export async function renderQrSvg(text: string, opts: QrOptions = {}): Promise<QrSvg> {
  const level = opts.level ?? 'M';
  const margin = Math.max(QUIET_ZONE_MODULES, opts.margin ?? QUIET_ZONE_MODULES);
  let qr: QRCode.QRCode;
  try {
    qr = QRCode.create(text, { errorCorrectionLevel: level });
  } catch (err) {
    throw new VendgateError(
      ErrorCode.DisplayQrInvalid,
      `cannot encode ${text.length} characters as a QR code at level ${level}: ${(err as Error).message}`,
      { length: text.length, level },
      { cause: err },
    );
  }
  const svg = await QRCode.toString(text, {
    type: 'svg',
    errorCorrectionLevel: level,
    margin,
    color: { dark: '#000000ff', light: '#ffffffff' },
  });
  return { svg, modules: qr.modules.size + 2 * margin, version: qr.version, level };
}

export function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
