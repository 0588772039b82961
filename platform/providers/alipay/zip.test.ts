import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { readZip } from './zip.ts';
import { writeTestZip } from './zip-writer.test-support.ts';

// "2088000000000001_20240501_业务明细.csv" in GBK, as Alipay names bill files (no UTF-8 flag).
const GBK_NAME = Buffer.concat([
  Buffer.from('2088000000000001_20240501_'),
  Buffer.from([0xd2, 0xb5, 0xce, 0xf1, 0xc3, 0xf7, 0xcf, 0xb8]),
  Buffer.from('.csv'),
]);

describe('the bill zip reader', () => {
  it('reads stored and deflated entries and decodes GBK names', () => {
    const zip = writeTestZip([
      { name: GBK_NAME, data: Buffer.from('a,b\r\n'), deflate: true },
      { name: Buffer.from('说明.txt'), data: Buffer.from('x'), utf8Flag: true },
    ]);
    expect(readZip(zip, 1 << 20)).toEqual([
      { name: '2088000000000001_20240501_业务明细.csv', data: Buffer.from('a,b\r\n') },
      { name: '说明.txt', data: Buffer.from('x') },
    ]);
  });

  it('round-trips any contents', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 2000 }), fc.boolean()), { maxLength: 5 }),
        (files) => {
          const zip = writeTestZip(
            files.map(([data, deflate], i) => ({
              name: Buffer.from(`f${i}.csv`),
              data: Buffer.from(data),
              deflate,
            })),
          );
          expect(readZip(zip, 1 << 20).map((e) => [...e.data])).toEqual(files.map(([d]) => [...d]));
        },
      ),
    );
  });

  it('refuses an entry whose CRC-32 does not match (a corrupt bill)', async () => {
    const zip = writeTestZip([{ name: GBK_NAME, data: Buffer.from('a,b'), deflate: true, crc: 12345 }]);
    const err = await expectVendgateError(() => readZip(zip, 1 << 20), ErrorCode.AlipayBillInvalid);
    expect(err.message).toContain('CRC-32');
  });

  it('refuses every truncation, and what is not a zip', async () => {
    const zip = writeTestZip([{ name: GBK_NAME, data: Buffer.from('a,b'.repeat(50)), deflate: true }]);
    for (let n = 0; n < zip.length; n += 5) {
      await expectVendgateError(() => readZip(zip.subarray(0, n), 1 << 20), ErrorCode.AlipayBillInvalid);
    }
    await expectVendgateError(
      () => readZip(Buffer.from('<html>expired</html>'), 1 << 20),
      ErrorCode.AlipayBillInvalid,
    );
  });

  it('refuses an archive that would expand beyond the bound', async () => {
    const zip = writeTestZip([{ name: GBK_NAME, data: Buffer.alloc(100_000), deflate: true }]);
    await expectVendgateError(() => readZip(zip, 50_000), ErrorCode.AlipayBillInvalid);
  });
});
