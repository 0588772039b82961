/**
 * Test support (dev dependencies only): reads QR codes back out of PNG
 * images with jsQR, as a phone camera would, for the sticker and kiosk tests.
 */
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';

type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
// jsqr is CommonJS with `exports.default`; depending on the loader the default import is the function or the module.
const loaded = jsQRModule as unknown as JsQr | { default: JsQr };
const jsQR: JsQr = typeof loaded === 'function' ? loaded : loaded.default;

/** The text of the QR code in a PNG image, or undefined when none is found. */
export function decodeQrPng(png: Buffer): string | undefined {
  const img = PNG.sync.read(png);
  const data = new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length);
  return jsQR(data, img.width, img.height)?.data;
}
