import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { generateReports, runBeaconParseBench } from '../../bench/beacon-parse.ts';
import { loadBeaconFixtures } from './fixtures.ts';
import { parseAdvertisement, parseNobleAdvertisement } from './parse.ts';

const require = createRequire(import.meta.url);
type NbsResult = Record<string, unknown> & { beaconType: string };
const nbs = require('node-beacon-scanner/lib/parser.js') as { parse(p: unknown): NbsResult | null };
const NobleGap = require('@abandonware/noble/lib/hci-socket/gap.js') as {
  prototype: { parseServices(this: unknown, a: string, eir: Buffer, prev: boolean, type: number): unknown };
};

function peripheral(ad: Buffer) {
  const advertisement = NobleGap.prototype.parseServices.call(
    { _discoveries: {} },
    '00:11:22:33:44:55',
    ad,
    false,
    3,
  );
  return { id: '001122334455', address: '00:11:22:33:44:55', rssi: -60, advertisement };
}

describe('compatibility with node-beacon-scanner', () => {
  it('agrees on every field of every fixture it understands (it has no AltBeacon)', () => {
    for (const f of loadBeaconFixtures()) {
      const theirs = nbs.parse(peripheral(f.ad));
      const ours = f.expected;
      switch (ours.kind) {
        case 'ibeacon':
          expect(theirs?.iBeacon, f.name).toEqual({
            uuid: ours.uuid,
            major: ours.major,
            minor: ours.minor,
            txPower: ours.measuredPower,
          });
          break;
        case 'eddystone-uid':
          expect(theirs?.eddystoneUid, f.name).toEqual({
            txPower: ours.txPower,
            namespace: ours.namespace.toUpperCase(),
            instance: ours.instance.toUpperCase(),
          });
          break;
        case 'eddystone-url':
          expect(theirs?.eddystoneUrl, f.name).toEqual({ txPower: ours.txPower, url: ours.url });
          break;
        case 'eddystone-tlm':
          // It reports 0x8000 as -128 °C and uptime in raw 0.1 s ticks.
          expect(theirs?.eddystoneTlm, f.name).toEqual({
            batteryVoltage: ours.batteryMv,
            temperature: ours.temperatureC ?? -128,
            advCnt: ours.advCount,
            secCnt: Math.round(ours.uptimeS * 10),
          });
          break;
        case 'eddystone-eid':
          expect(theirs?.eddystoneEid, f.name).toEqual({ txPower: ours.txPower, eid: ours.eid });
          break;
        case 'altbeacon':
          expect(theirs, f.name).toBeNull();
          break;
      }
    }
  });

  it('recognises the same reports in the benchmark mix, raw or through noble', () => {
    for (const r of generateReports(1000, 7)) {
      const raw = parseAdvertisement(r.ad);
      expect(parseNobleAdvertisement(r.advertisement)).toStrictEqual(raw);
      expect(nbs.parse(r.peripheral) !== null).toBe(raw.ok && raw.kind !== 'altbeacon');
    }
  });
});

describe('runBeaconParseBench', () => {
  it('measures every row side by side over one mix and relates them to the bare read', async () => {
    const r = await runBeaconParseBench({ seconds: 0.5, trials: 1, reports: 256 });
    expect(r.rows.map((x) => x.name)).toEqual([
      'bare read (AD walk: length + type)',
      'vendgate parseAdvertisement (raw AD bytes)',
      'vendgate parseNobleAdvertisement (noble object)',
      'vendgate parse + track (Map by identity)',
      'node-beacon-scanner parser.parse (noble peripheral)',
    ]);
    for (const row of r.rows) expect(row.reportsPerSec).toBeGreaterThan(0);
    expect(r.rows[0]!.ratioToBare).toBe(1);
    expect(r.ratios.vendgateNobleVsNodeBeaconScanner).toBeGreaterThan(0);
  });
});
