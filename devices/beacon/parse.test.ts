import { createCipheriv } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { loadBeaconFixtures } from './fixtures.ts';
import { MAX_ADVERTISING_DATA, type NobleAdvertisementLike } from './frames.ts';
import {
  NO_BEACON_FOUND,
  parseAdvertisement,
  parseEddystoneServiceData,
  parseManufacturerData,
  parseNobleAdvertisement,
} from './parse.ts';

const fixtures = loadBeaconFixtures();
const hex = (s: string) => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

/**
 * noble's own AD parser (lib/hci-socket/gap.js, Gap#parseServices), called
 * without a Bluetooth socket: turns the fixture bytes into exactly the
 * advertisement object noble emits on a real adapter.
 */
const require = createRequire(import.meta.url);
const NobleGap = require('@abandonware/noble/lib/hci-socket/gap.js') as {
  prototype: {
    parseServices(
      this: unknown,
      address: string,
      eir: Buffer,
      prev: boolean,
      type: number,
      tx?: number,
    ): unknown;
  };
};
function nobleAdvertisement(ad: Buffer): NobleAdvertisementLike {
  return NobleGap.prototype.parseServices.call(
    { _discoveries: {} },
    'aa:bb:cc:dd:ee:ff',
    ad,
    false,
    0x03,
  ) as NobleAdvertisementLike;
}

describe('beacon fixtures', () => {
  it('has a fixture for every frame kind', () => {
    const kinds = new Set(fixtures.map((f) => f.expected.kind));
    expect([...kinds].sort()).toEqual(
      ['altbeacon', 'eddystone-eid', 'eddystone-tlm', 'eddystone-uid', 'eddystone-url', 'ibeacon'].sort(),
    );
  });

  it('fit in a legacy 31-byte advertisement', () => {
    for (const f of fixtures) expect(f.ad.length, f.name).toBeLessThanOrEqual(31);
  });

  for (const f of fixtures) {
    it(`decodes ${f.name} from raw advertising data, every field`, () => {
      expect(parseAdvertisement(f.ad)).toStrictEqual(f.expected);
    });

    it(`decodes ${f.name} from the bare payload noble hands over`, () => {
      const r =
        f.payload.field === 'manufacturerData'
          ? parseManufacturerData(f.payload.bytes)
          : parseEddystoneServiceData(f.payload.bytes);
      expect(r).toStrictEqual(f.expected);
    });

    it(`decodes ${f.name} from the advertisement object noble's own AD parser builds`, () => {
      const adv = nobleAdvertisement(f.ad);
      expect(parseNobleAdvertisement(adv)).toStrictEqual(f.expected);
    });
  }

  it('has an EID fixture whose ephemeral id follows from its key and time per the EID computation spec', () => {
    const f = fixtures.find((x) => x.eidInputs)!;
    const { identityKey, rotationExponent: k, beaconTimeSeconds: t } = f.eidInputs!;
    const aes = (key: Buffer, data: Buffer) => {
      const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
      return Buffer.concat([c.update(data), c.final()]);
    };
    const tkData = Buffer.alloc(16);
    tkData[11] = 0xff;
    tkData.writeUInt16BE(Math.floor(t / 65536) & 0xffff, 14);
    const tk = aes(Buffer.from(identityKey, 'hex'), tkData);
    const eidData = Buffer.alloc(16);
    eidData[11] = k;
    eidData.writeUInt32BE(Math.floor(t / 2 ** k) * 2 ** k, 12);
    const eid = aes(tk, eidData).subarray(0, 8).toString('hex');
    expect(f.expected).toMatchObject({ kind: 'eddystone-eid', eid });
  });
});

describe('parseAdvertisement', () => {
  const wechat = fixtures[0]!.ad;

  it('finds the beacon after other AD structures such as a local name and TX power', () => {
    const ad = Buffer.concat([hex('05 09 56 47 30 31'), hex('02 0A 04'), wechat.subarray(3)]);
    expect(parseAdvertisement(ad)).toMatchObject({ kind: 'ibeacon', major: 10001 });
  });

  it('stops at a zero length byte, so zero padding to 31 bytes is fine', () => {
    const padded = Buffer.concat([wechat, Buffer.alloc(1)]);
    expect(parseAdvertisement(padded)).toStrictEqual(fixtures[0]!.expected);
    expect(parseAdvertisement(Buffer.concat([hex('02 01 06 00'), wechat.subarray(3)]))).toBe(NO_BEACON_FOUND);
  });

  it('parses only the given range of a larger buffer and reports offsets relative to it', () => {
    const big = Buffer.concat([hex('DE AD BE EF'), wechat, hex('FF FF')]);
    expect(parseAdvertisement(big, 4, 4 + wechat.length)).toStrictEqual(fixtures[0]!.expected);
    const r = parseAdvertisement(big, 4, 4 + 20);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated, offset: 3 });
  });

  it('says which AD structure is truncated and at which offset', () => {
    const r = parseAdvertisement(wechat.subarray(0, 20));
    expect(r).toStrictEqual({
      ok: false,
      kind: 'not-a-beacon',
      code: ErrorCode.BeaconTruncated,
      reason: 'AD structure #1 at offset 3 declares length 26 but only 16 bytes follow',
      offset: 3,
    });
  });

  it('says an iBeacon manufacturer data structure is too short for the format', () => {
    const r = parseAdvertisement(hex('02 01 06 0B FF 4C 00 02 15 FD A5 06 93 A4 E2 4F'));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated, offset: 5 });
    expect(r.ok || r.reason).toBe('iBeacon manufacturer data is 10 bytes; needs 25');
  });

  it('answers "no known beacon" for other manufacturers and services', () => {
    // Microsoft Swift Pair style manufacturer data and a heart-rate service list.
    const r = parseAdvertisement(hex('02 01 06 03 03 0D 18 07 FF 06 00 03 00 80 01'));
    expect(r).toBe(NO_BEACON_FOUND);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconNotABeacon });
  });

  it('answers "no known beacon" for empty input', () => {
    expect(parseAdvertisement(Buffer.alloc(0))).toBe(NO_BEACON_FOUND);
  });

  it('refuses the encrypted TLM variant as unsupported rather than misreading it', () => {
    const r = parseAdvertisement(
      hex('02 01 06 03 03 AA FE 15 16 AA FE 20 01 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF'),
    );
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconUnsupported, offset: 12 });
  });

  it('refuses an Eddystone frame type with a nonzero low nibble instead of reading it as a UID', () => {
    // Captured shape of a UID frame (namespace + instance) but type byte 0x05, which is reserved.
    const r = parseAdvertisement(
      hex('03 03 AA FE 17 16 AA FE 05 E7 8B 81 8E 2A E6 4E 1B 9C 33 4A 01 02 03 04 05 06 00 00'),
    );
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconUnsupported, offset: 8 });
    expect(r.ok || r.reason).toBe(
      'Eddystone frame type 0x05 is reserved (its low nibble is not 0); not UID (0x00), URL (0x10), TLM (0x20) or EID (0x30)',
    );
    expect(parseEddystoneServiceData(hex('1F 00 61'))).toMatchObject({ code: ErrorCode.BeaconUnsupported });
  });

  it('gives an AltBeacon id as id1 (UUID form), id2 and id3 as well as the 20-byte hex string', () => {
    const r = parseAdvertisement(
      hex('02 01 06 1B FF 18 01 BE AC 2F 23 44 54 CF 6D 4A 0F AD F2 F4 91 1B A9 FF A6 01 2C 00 07 C5 00'),
    );
    expect(r).toStrictEqual({
      ok: true,
      kind: 'altbeacon',
      companyId: 0x0118,
      beaconId: '2f234454cf6d4a0fadf2f4911ba9ffa6012c0007',
      id1: '2F234454-CF6D-4A0F-ADF2-F4911BA9FFA6',
      id2: 300,
      id3: 7,
      referenceRssi: -59,
      mfgReserved: 0,
    });
  });

  it('refuses an unknown Eddystone frame type as unsupported', () => {
    const r = parseAdvertisement(hex('03 03 AA FE 06 16 AA FE 40 00 00'));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconUnsupported, offset: 8 });
  });

  it('refuses an Eddystone-URL with an unknown scheme byte or a reserved URL byte', () => {
    expect(parseAdvertisement(hex('06 16 AA FE 10 EE 04 61'))).toMatchObject({
      code: ErrorCode.BeaconMalformed,
      offset: 6,
    });
    const r = parseAdvertisement(hex('08 16 AA FE 10 EE 03 61 20'));
    expect(r).toMatchObject({ code: ErrorCode.BeaconMalformed, offset: 8 });
    expect(r.ok || r.reason).toContain('0x20 is reserved');
  });

  it('accepts an Eddystone-UID without the two RFU bytes, as early beacons send it', () => {
    const uid = fixtures.find((f) => f.expected.kind === 'eddystone-uid')!;
    const short = Buffer.concat([hex('02 01 06 03 03 AA FE 15 16 AA FE'), uid.payload.bytes.subarray(0, 18)]);
    expect(parseAdvertisement(short)).toStrictEqual(uid.expected);
  });

  it('refuses advertising data longer than BLE allows, before reading it', () => {
    const r = parseAdvertisement(Buffer.alloc(MAX_ADVERTISING_DATA + 1, 0x01));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconMalformed, offset: 0 });
  });

  it('walks the longest allowed run of one-byte AD structures and finds no beacon', () => {
    const ones = Buffer.alloc(MAX_ADVERTISING_DATA);
    for (let i = 0; i < ones.length; i += 2) ones[i] = 0x01;
    expect(parseAdvertisement(ones)).toBe(NO_BEACON_FOUND);
  });
});

describe('parseNobleAdvertisement', () => {
  it('prefers Eddystone service data and ignores other services', () => {
    const tlm = fixtures.find((f) => f.expected.kind === 'eddystone-tlm')!;
    const r = parseNobleAdvertisement({
      manufacturerData: Buffer.from([0x06, 0x00, 0x01]),
      serviceData: [
        { uuid: '180f', data: Buffer.from([0x64]) },
        { uuid: 'feaa', data: tlm.payload.bytes },
      ],
      serviceUuids: ['feaa'],
    });
    expect(r).toStrictEqual(tlm.expected);
  });

  it('reports a truncated Eddystone frame rather than "no beacon"', () => {
    const r = parseNobleAdvertisement({
      serviceData: [{ uuid: 'feaa', data: Buffer.from([0x00, 0xee, 0x01]) }],
    });
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated });
    expect(r.ok || r.reason).toBe('Eddystone-UID frame is 3 bytes; needs 18 (20 with RFU)');
  });

  it('answers "no known beacon" for an advertisement with nothing in it', () => {
    expect(parseNobleAdvertisement({})).toBe(NO_BEACON_FOUND);
    expect(parseNobleAdvertisement({ manufacturerData: null, serviceData: [] })).toBe(NO_BEACON_FOUND);
  });
});
