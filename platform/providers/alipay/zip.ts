/**
 * Reads the bill archive: a plain ZIP (PKWARE APPNOTE 6.3.x, sections 4.3.7
 * local file header, 4.3.12 central directory header, 4.3.16 end of central
 * directory), stored or deflated entries, names in GBK unless flag bit 11
 * says UTF-8 (Alipay's bill names are GBK). Every entry's CRC-32 and sizes
 * are checked, and the expanded size is bounded (no zip bombs). ZIP64,
 * encryption and multi-disk archives are refused: a bill never uses them.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

export interface ZipEntry {
  name: string;
  data: Buffer;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function bad(why: string): VendgateError {
  return new VendgateError(ErrorCode.AlipayBillInvalid, `bill archive: ${why}`, { retryable: false });
}

export function readZip(buf: Buffer, maxExpandedBytes: number, maxEntries = 16): ZipEntry[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record (not a zip, or truncated)');
  const disk = buf.readUInt16LE(eocd + 4);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (disk !== 0 || buf.readUInt16LE(eocd + 8) !== count) throw bad('multi-disk archives are not bills');
  if (count === 0xffff || cdOffset === 0xffffffff) throw bad('ZIP64 archives are not bills');
  if (count > maxEntries) throw bad(`${count} entries, at most ${maxEntries} expected`);
  if (cdOffset + cdSize > eocd) throw bad('the central directory lies outside the archive');
  const gbk = new TextDecoder('gbk', { fatal: true });
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const entries: ZipEntry[] = [];
  let expanded = 0;
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > eocd || buf.readUInt32LE(p) !== CENTRAL)
      throw bad(`central directory entry ${n + 1} is damaged`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const compSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    let name: string;
    try {
      name = (flags & 0x800 ? utf8 : gbk).decode(nameBytes);
    } catch {
      throw bad(`entry ${n + 1}: the name is neither GBK nor flagged UTF-8`);
    }
    if (flags & 0x1) throw bad(`${name}: encrypted entries are not bills`);
    if (method !== 0 && method !== 8)
      throw bad(`${name}: compression method ${method} is not stored or deflate`);
    expanded += size;
    if (expanded > maxExpandedBytes) throw bad(`expands beyond ${maxExpandedBytes} bytes`);
    if (localOffset + 30 > cdOffset || buf.readUInt32LE(localOffset) !== LOCAL) {
      throw bad(`${name}: the local header is missing`);
    }
    const dataStart =
      localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    if (dataStart + compSize > cdOffset) throw bad(`${name}: the data runs past the archive (truncated)`);
    const raw = buf.subarray(dataStart, dataStart + compSize);
    let data: Buffer;
    try {
      data = method === 0 ? Buffer.from(raw) : inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
    } catch {
      throw bad(`${name}: the deflate stream is damaged or larger than declared`);
    }
    if (data.length !== size) throw bad(`${name}: ${data.length} bytes, ${size} declared`);
    if (crc32(data) >>> 0 !== crc) throw bad(`${name}: CRC-32 mismatch (the file is corrupt)`);
    entries.push({ name, data });
  }
  return entries;
}
