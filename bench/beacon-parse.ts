/**
 * Beacon advertisement parsing throughput, side by side over one
 * pre-generated mix of advertisement reports:
 *
 *   bare        walk the AD structures reading only length and type bytes (the floor)
 *   vendgate    parseAdvertisement on the raw advertising data
 *   vendgate    parseNobleAdvertisement on the object noble emits
 *   vendgate    parse + track: BeaconSightings.observe (Map by identity, last-seen/RSSI)
 *   nbs         node-beacon-scanner's parser (lib/parser.js) on a noble-like peripheral
 *
 * The noble advertisement objects are built by noble's own AD parser
 * (Gap#parseServices), so both object-based parsers see exactly what a real
 * adapter would hand them. node-beacon-scanner does not know AltBeacon, so
 * it returns null for those reports (less work for it, not more).
 *
 * Method: deterministic report mix; every row warmed up, then measured in
 * several interleaved trials (process.hrtime.bigint) whose median is kept;
 * every result is stored in a ring so no parse can be optimised away.
 *
 *   node --import tsx bench/beacon-parse.ts [--seconds N]
 *
 * prints a table and writes bench/results/beacon-parse.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCode } from '../core/errors.ts';
import { encodeAdvertisement } from '../devices/beacon/encode.ts';
import { altBeaconIds, type BeaconFrame, type NobleAdvertisementLike } from '../devices/beacon/frames.ts';
import { parseAdvertisement, parseNobleAdvertisement } from '../devices/beacon/parse.ts';
import { BeaconSightings } from '../devices/beacon/tracker.ts';

export interface BeaconBenchRow {
  name: string;
  reportsPerSec: number;
  /** reportsPerSec divided by the bare read's (the floor is 1). */
  ratioToBare: number;
}

export interface BeaconParseBenchResult {
  rows: BeaconBenchRow[];
  /** vendgate's parser over node-beacon-scanner's, same noble objects; and raw-bytes parser over it. */
  ratios: {
    vendgateNobleVsNodeBeaconScanner: number;
    vendgateRawVsNodeBeaconScanner: number;
    vendgateTrackedVsNodeBeaconScanner: number;
  };
  mix: Record<string, number>;
  reports: number;
  trials: number;
  node: string;
  cpu: string;
  date: string;
}

export interface BeaconParseBenchOptions {
  /** Approximate total measuring time in seconds, spread over rows and trials (default 10). */
  seconds?: number;
  /** Measured trials per row; the median is reported (default 5). */
  trials?: number;
  /** Distinct reports in the mix (default 4096). */
  reports?: number;
}

interface Report {
  address: string;
  rssi: number;
  ad: Buffer;
  advertisement: NobleAdvertisementLike;
  peripheral: { id: string; address: string; rssi: number; advertisement: NobleAdvertisementLike };
  kind: string;
}

const require = createRequire(import.meta.url);

type NobleGapCtor = {
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
type NbsParser = { parse(peripheral: unknown): { beaconType: string } | null };

function loadNobleGap(): NobleGapCtor {
  return require('@abandonware/noble/lib/hci-socket/gap.js') as NobleGapCtor;
}

function loadNodeBeaconScannerParser(): NbsParser {
  return require('node-beacon-scanner/lib/parser.js') as NbsParser;
}

/** mulberry32: a small deterministic PRNG, so every run parses the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Share of each kind in the mix: a shop with shake beacons, Eddystone tags and phones nearby. */
const MIX: ReadonlyArray<[string, number]> = [
  ['ibeacon', 0.3],
  ['eddystone-uid', 0.15],
  ['eddystone-tlm', 0.1],
  ['eddystone-url', 0.1],
  ['eddystone-eid', 0.05],
  ['altbeacon', 0.1],
  ['noise', 0.2],
];

export function generateReports(count: number, seed = 0x5eed): Report[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const hex = (n: number) => bytes(n).toString('hex');
  const Gap = loadNobleGap();
  // 50 shake beacons on the WeChat UUID, 20 Eddystone namespaces/instances, 10 AltBeacons.
  const ibeacons = Array.from({ length: 50 }, () => ({ major: 10001, minor: int(65536) }));
  const uids = Array.from({ length: 20 }, () => ({ namespace: '8b0ca750095477cb3e77', instance: hex(6) }));
  const alts = Array.from({ length: 10 }, () => hex(20));
  const urls = [
    'https://www.example.com/',
    'https://goo.gl/Aq18zF',
    'http://shop.example.net/v1',
    'https://vend.example.org/',
  ];

  const reports: Report[] = [];
  for (let i = 0; i < count; i++) {
    let r = rnd();
    let kind = 'noise';
    for (const [k, share] of MIX) {
      if (r < share) {
        kind = k;
        break;
      }
      r -= share;
    }
    let frame: BeaconFrame | undefined;
    switch (kind) {
      case 'ibeacon': {
        const b = ibeacons[int(ibeacons.length)]!;
        frame = {
          ok: true,
          kind: 'ibeacon',
          uuid: 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825',
          ...b,
          measuredPower: -59 - int(10),
        };
        break;
      }
      case 'eddystone-uid':
        frame = { ok: true, kind: 'eddystone-uid', txPower: -18, ...uids[int(uids.length)]! };
        break;
      case 'eddystone-tlm':
        frame = {
          ok: true,
          kind: 'eddystone-tlm',
          version: 0,
          batteryMv: 2800 + int(400),
          temperatureC: rnd() < 0.1 ? null : (int(40 * 256) - 5 * 256) / 256,
          advCount: int(2 ** 32),
          uptimeS: int(2 ** 32) / 10,
        };
        break;
      case 'eddystone-url':
        frame = { ok: true, kind: 'eddystone-url', txPower: -20, url: urls[int(urls.length)]! };
        break;
      case 'eddystone-eid':
        frame = { ok: true, kind: 'eddystone-eid', txPower: -18, eid: hex(8) };
        break;
      case 'altbeacon': {
        const beaconId = alts[int(alts.length)]!;
        frame = {
          ok: true,
          kind: 'altbeacon',
          companyId: 0x0118,
          beaconId,
          ...altBeaconIds(beaconId),
          referenceRssi: -59,
          mfgReserved: 0,
        };
        break;
      }
    }
    let ad: Buffer;
    if (frame) {
      ad = encodeAdvertisement(frame);
    } else {
      // Phones and other gadgets: Apple Nearby/Continuity, Microsoft Swift Pair,
      // a named sensor with a 16-bit service, a Xiaomi-style service data.
      const n = int(4);
      if (n === 0) ad = Buffer.concat([Buffer.from('02011a0aff4c0010050318', 'hex'), bytes(3)]);
      else if (n === 1) ad = Buffer.concat([Buffer.from('0201060bff0600030080', 'hex'), bytes(5)]);
      else if (n === 2) ad = Buffer.from('0201060303 0f18 0909 56454e44 2d533031'.replaceAll(' ', ''), 'hex');
      else ad = Buffer.concat([Buffer.from('020106 0e16 95fe'.replaceAll(' ', ''), 'hex'), bytes(11)]);
    }
    // Each report owns its buffer, as one sliced out of an HCI event would.
    ad = Buffer.from(ad);
    const address = Array.from({ length: 6 }, () => hex(1)).join(':');
    const rssi = -40 - int(60);
    const advertisement = Gap.prototype.parseServices.call(
      { _discoveries: {} },
      address,
      ad,
      false,
      0x03,
    ) as NobleAdvertisementLike;
    reports.push({
      address,
      rssi,
      ad,
      advertisement,
      peripheral: { id: address.replaceAll(':', ''), address, rssi, advertisement },
      kind,
    });
  }
  return reports;
}

/** One pass over all reports; returns how many reports it handled. */
type Pass = (reports: Report[], ring: unknown[]) => number;

function bareRead(reports: Report[], ring: unknown[]): number {
  let sum = 0;
  for (let k = 0; k < reports.length; k++) {
    const b = reports[k]!.ad;
    const end = b.length;
    let i = 0;
    while (i < end) {
      const len = b[i]!;
      if (len === 0) break;
      if (i + 1 < end) sum += b[i + 1]!;
      i += len + 1;
    }
  }
  ring[0] = sum;
  return reports.length;
}

function vendgateRaw(reports: Report[], ring: unknown[]): number {
  for (let k = 0; k < reports.length; k++) ring[k & 1023] = parseAdvertisement(reports[k]!.ad);
  return reports.length;
}

function vendgateNoble(reports: Report[], ring: unknown[]): number {
  for (let k = 0; k < reports.length; k++)
    ring[k & 1023] = parseNobleAdvertisement(reports[k]!.advertisement);
  return reports.length;
}

function makeTracked(): Pass {
  const sightings = new BeaconSightings();
  return (reports, ring) => {
    const now = Date.now();
    for (let k = 0; k < reports.length; k++) {
      const r = reports[k]!;
      const f = parseAdvertisement(r.ad);
      if (f.ok) ring[k & 1023] = sightings.observe(f, r.rssi, now, r.address);
    }
    return reports.length;
  };
}

function makeNbs(): Pass {
  const parser = loadNodeBeaconScannerParser();
  return (reports, ring) => {
    for (let k = 0; k < reports.length; k++) ring[k & 1023] = parser.parse(reports[k]!.peripheral);
    return reports.length;
  };
}

/** Runs `pass` repeatedly for about `ms` milliseconds; returns reports per second. */
function measure(pass: Pass, reports: Report[], ring: unknown[], ms: number): number {
  const budget = BigInt(Math.max(1, Math.round(ms * 1e6)));
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  do {
    n += pass(reports, ring);
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < budget);
  return n / (Number(elapsed) / 1e9);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Checks both object parsers agree before timing them, so the race is between equals. */
function crossCheck(reports: Report[]): void {
  const nbs = loadNodeBeaconScannerParser();
  for (const r of reports) {
    const ours = parseAdvertisement(r.ad);
    const viaNoble = parseNobleAdvertisement(r.advertisement);
    if (ours.ok !== viaNoble.ok || (ours.ok && viaNoble.ok && ours.kind !== viaNoble.kind)) {
      throw new Error(`raw and noble parse disagree on a ${r.kind} report`);
    }
    const theirs = nbs.parse(r.peripheral);
    const expectNbs = ours.ok && ours.kind !== 'altbeacon';
    if (expectNbs !== (theirs !== null))
      throw new Error(`node-beacon-scanner disagrees on a ${r.kind} report`);
    if (ours.ok !== (r.kind !== 'noise')) throw new Error(`vendgate misread a ${r.kind} report`);
    if (!ours.ok && ours.code !== ErrorCode.BeaconNotABeacon)
      throw new Error(`malformed noise report: ${ours.reason}`);
  }
}

export async function runBeaconParseBench(
  opts: BeaconParseBenchOptions = {},
): Promise<BeaconParseBenchResult> {
  const seconds = opts.seconds ?? 10;
  const trials = Math.max(1, opts.trials ?? 5);
  const reports = generateReports(opts.reports ?? 4096);
  crossCheck(reports);

  const rowsDef: Array<[string, Pass]> = [
    ['bare read (AD walk: length + type)', bareRead],
    ['vendgate parseAdvertisement (raw AD bytes)', vendgateRaw],
    ['vendgate parseNobleAdvertisement (noble object)', vendgateNoble],
    ['vendgate parse + track (Map by identity)', makeTracked()],
    ['node-beacon-scanner parser.parse (noble peripheral)', makeNbs()],
  ];
  const ring: unknown[] = new Array(1024).fill(null);
  const perMs = (seconds * 1000) / (rowsDef.length * (trials + 1));
  const samples = rowsDef.map(() => [] as number[]);

  // Warm up every row (JIT tiers), then interleave the trials so drift hits all rows alike.
  for (const [, pass] of rowsDef) measure(pass, reports, ring, perMs);
  for (let t = 0; t < trials; t++) {
    for (let k = 0; k < rowsDef.length; k++) {
      const idx = (k + t) % rowsDef.length;
      samples[idx]!.push(measure(rowsDef[idx]![1], reports, ring, perMs));
    }
    await new Promise((r) => setImmediate(r));
  }

  const rates = samples.map(median);
  const bare = rates[0]!;
  const rows = rowsDef.map(([name], k) => ({
    name,
    reportsPerSec: Math.round(rates[k]!),
    ratioToBare: rates[k]! / bare,
  }));
  const nbs = rates[4]!;
  const mix: Record<string, number> = {};
  for (const r of reports) mix[r.kind] = (mix[r.kind] ?? 0) + 1;
  return {
    rows,
    ratios: {
      vendgateNobleVsNodeBeaconScanner: rates[2]! / nbs,
      vendgateRawVsNodeBeaconScanner: rates[1]! / nbs,
      vendgateTrackedVsNodeBeaconScanner: rates[3]! / nbs,
    },
    mix,
    reports: reports.length,
    trials,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
  };
}

export function formatBeaconParseBench(r: BeaconParseBenchResult): string {
  const w = Math.max(...r.rows.map((x) => x.name.length));
  const lines = [
    `beacon parse, ${r.reports} reports (${Object.entries(r.mix)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), median of ${r.trials}, ${r.node}, ${r.cpu}`,
    '',
    `${'parser'.padEnd(w)}  ${'reports/s'.padStart(12)}  ${'vs bare'.padStart(8)}`,
    ...r.rows.map(
      (x) =>
        `${x.name.padEnd(w)}  ${x.reportsPerSec.toLocaleString('en-US').padStart(12)}  ${x.ratioToBare.toFixed(3).padStart(8)}`,
    ),
    '',
    `vendgate vs node-beacon-scanner (same noble objects): ${r.ratios.vendgateNobleVsNodeBeaconScanner.toFixed(2)}x`,
    `vendgate raw bytes vs node-beacon-scanner:           ${r.ratios.vendgateRawVsNodeBeaconScanner.toFixed(2)}x`,
    `vendgate parse + track vs node-beacon-scanner:       ${r.ratios.vendgateTrackedVsNodeBeaconScanner.toFixed(2)}x`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : undefined;
  const result = await runBeaconParseBench(seconds && Number.isFinite(seconds) ? { seconds } : {});
  process.stdout.write(`${formatBeaconParseBench(result)}\n`);
  const out = fileURLToPath(new URL('./results/beacon-parse.json', import.meta.url));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
