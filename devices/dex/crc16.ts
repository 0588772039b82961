/**
 * The CRC-16 of DEX/UCS: polynomial x^16 + x^15 + x^2 + 1 processed
 * least-significant bit first (0xA001 reflected), initial value 0, no final
 * XOR; the catalogue name is CRC-16/ARC (check value 0xBB3D over
 * "123456789"). The link sends it after every block, low byte first; the
 * audit's G85 segment shows it over the transaction set as four hex digits.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** Continues a CRC-16/ARC over `bytes` from `crc` (0 to start). */
export function crc16(bytes: Uint8Array, crc = 0): number {
  let c = crc & 0xffff;
  for (const b of bytes) c = (c >>> 8) ^ TABLE[(c ^ b) & 0xff]!;
  return c;
}

/** CRC-16/ARC of an ASCII string. */
export function crc16Text(text: string, crc = 0): number {
  return crc16(Buffer.from(text, 'latin1'), crc);
}

/** As G85 shows it: four upper-case hex digits. */
export function crcHex(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, '0');
}
