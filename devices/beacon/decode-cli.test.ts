import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { decodeBeaconHex, runBeaconDecodeCli } from './decode-cli.ts';
import { loadBeaconFixtures } from './fixtures.ts';

const fixtures = loadBeaconFixtures();
const WECHAT_AD = '0201061AFF4C000215FDA50693A4E24FB1AFCFC6EB0764782527113039C5';

function run(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = runBeaconDecodeCli(
    args,
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
  );
  return { code, out, err };
}

describe('decodeBeaconHex', () => {
  it('decodes the WeChat shake iBeacon from raw advertising data', () => {
    expect(decodeBeaconHex(WECHAT_AD)).toStrictEqual({
      ok: true,
      frame: fixtures[0]!.expected,
      as: 'advertising-data',
    });
  });

  it('accepts hex with spaces, colons, a 0x prefix and lower case', () => {
    const spaced = fixtures[0]!.ad.toString('hex').replace(/(..)/g, '$1 ');
    expect(decodeBeaconHex(spaced)).toMatchObject({ ok: true });
    expect(decodeBeaconHex(`0x${fixtures[0]!.ad.toString('hex')}`)).toMatchObject({ ok: true });
    expect(decodeBeaconHex(spaced.trim().replaceAll(' ', ':'))).toMatchObject({ ok: true });
  });

  it('decodes every fixture both as advertising data and as the bare payload', () => {
    for (const f of fixtures) {
      expect(decodeBeaconHex(f.ad.toString('hex')), f.name).toMatchObject({ ok: true, frame: f.expected });
      const bare =
        f.payload.field === 'manufacturerData'
          ? f.payload.bytes.toString('hex')
          : `aafe${f.payload.bytes.toString('hex')}`;
      expect(decodeBeaconHex(bare), f.name).toMatchObject({ ok: true, frame: f.expected });
    }
  });

  it('decodes a bare Eddystone frame without the UUID when told it is Eddystone', () => {
    const tlm = fixtures.find((f) => f.expected.kind === 'eddystone-tlm')!;
    expect(decodeBeaconHex(tlm.payload.bytes.toString('hex'), { as: 'eddystone' })).toMatchObject({
      ok: true,
      frame: tlm.expected,
      as: 'eddystone-service-data',
    });
  });

  it('says the hex is bad and where', () => {
    expect(decodeBeaconHex('02 01 0G')).toStrictEqual({
      ok: false,
      code: ErrorCode.BeaconHexInvalid,
      message: 'not valid hex: "G" at character 7 is not a hex digit',
    });
    expect(decodeBeaconHex('020')).toMatchObject({
      ok: false,
      message: expect.stringContaining('odd number'),
    });
    expect(decodeBeaconHex('  ')).toMatchObject({ ok: false, message: 'not valid hex: no hex digits given' });
  });

  it('says which AD structure is truncated at which offset', () => {
    const r = decodeBeaconHex(WECHAT_AD.slice(0, 40));
    expect(r).toStrictEqual({
      ok: false,
      code: ErrorCode.BeaconTruncated,
      message:
        'not a beacon (7003 BeaconTruncated) as advertising data: AD structure #1 at offset 3 declares length 26 but only 16 bytes follow',
    });
  });

  it('says no known beacon frame was found', () => {
    const r = decodeBeaconHex('02 01 06 05 09 56 47 30 31');
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconNotABeacon });
    expect(r.ok || r.message).toContain('no known beacon frame found');
  });

  it('explains a truncated bare iBeacon payload both ways it could be read', () => {
    const r = decodeBeaconHex('4C 00 02 15 FD A5 06 93');
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated });
    expect(r.ok || r.message).toContain(
      'as manufacturer data: iBeacon manufacturer data is 8 bytes; needs 25',
    );
    expect(r.ok || r.message).toContain('as advertising data:');
  });
});

describe('runBeaconDecodeCli', () => {
  it('prints the decoded frame as JSON and exits 0', () => {
    const r = run([WECHAT_AD]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toStrictEqual({
      decodedAs: 'advertising-data',
      kind: 'ibeacon',
      uuid: 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825',
      major: 10001,
      minor: 12345,
      measuredPower: -59,
    });
  });

  it('joins several arguments, so spaced hex can be pasted unquoted', () => {
    const bytes = fixtures[0]!.ad.toString('hex').match(/../g)!;
    expect(run(bytes).code).toBe(0);
  });

  it('exits 1 with the reason on stderr when the bytes are not a beacon', () => {
    const r = run(['02', '01', '06']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('no known beacon frame found');
  });

  it('exits 2 on bad hex, a missing argument or an unknown option', () => {
    expect(run(['zz'])).toMatchObject({ code: 2, err: expect.stringContaining('not valid hex') });
    expect(run([])).toMatchObject({ code: 2, err: expect.stringContaining('usage:') });
    expect(run(['--frob', '00'])).toMatchObject({
      code: 2,
      err: expect.stringContaining('unknown option --frob'),
    });
    expect(run(['--as', 'xml', '00'])).toMatchObject({
      code: 2,
      err: expect.stringContaining('--as must be one of'),
    });
  });

  it('reads the bytes the way --as says', () => {
    const eid = fixtures.find((f) => f.expected.kind === 'eddystone-eid')!;
    const r = run(['--as=eddystone', eid.payload.bytes.toString('hex')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ kind: 'eddystone-eid', eid: '3439c83a6564bfdf' });
    expect(run(['--as', 'ad', '4c000215']).code).toBe(1);
  });

  it('prints usage on --help and exits 0', () => {
    expect(run(['--help'])).toMatchObject({
      code: 0,
      out: expect.stringContaining('vendgate beacon decode'),
    });
  });
});
