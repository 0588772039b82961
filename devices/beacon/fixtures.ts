/**
 * Loads the hand-checked advertisement fixtures (fixtures/advertisements.json)
 * for tests, the benchmark and simulators.
 */
import { readFileSync } from 'node:fs';
import type { BeaconFrame } from './frames.ts';

export interface BeaconFixture {
  name: string;
  source: string;
  /** The whole advertising data. */
  ad: Buffer;
  /** What noble hands over: manufacturerData (from the company id) or the Eddystone serviceData frame. */
  payload: { field: 'manufacturerData' | 'serviceData'; bytes: Buffer };
  expected: BeaconFrame;
  /** For the EID fixture: the inputs the ephemeral id was computed from. */
  eidInputs?: { identityKey: string; rotationExponent: number; beaconTimeSeconds: number };
}

interface RawFixture {
  name: string;
  source: string;
  ad: Array<{ hex: string; note: string }>;
  payload: { field: 'manufacturerData' | 'serviceData'; from: number };
  expected: BeaconFrame;
  eidInputs?: BeaconFixture['eidInputs'];
}

export function loadBeaconFixtures(): BeaconFixture[] {
  const url = new URL('./fixtures/advertisements.json', import.meta.url);
  const raw = JSON.parse(readFileSync(url, 'utf8')) as { fixtures: RawFixture[] };
  return raw.fixtures.map((f) => {
    const ad = Buffer.from(f.ad.map((c) => c.hex.replaceAll(' ', '')).join(''), 'hex');
    const fixture: BeaconFixture = {
      name: f.name,
      source: f.source,
      ad,
      payload: { field: f.payload.field, bytes: ad.subarray(f.payload.from) },
      expected: f.expected,
    };
    if (f.eidInputs) fixture.eidInputs = f.eidInputs;
    return fixture;
  });
}
