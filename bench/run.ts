/**
 * `npm run bench`: every performance target, measured in one run, each beside
 * its bare baseline, with ratios. Results go to bench/results/*.json.
 *
 *   npm run bench                 all benchmarks
 *   npm run bench -- remote-vend  one of: remote-vend, select-then-pay, beacon-parse, coupons, platform-ingest, platform-notify, hostile-input, dashboard
 *   npm run bench -- uplink-tls   only the TLS uplink beside plain TCP (remote-vend runs it too)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { formatBeaconParseBench, runBeaconParseBench } from './beacon-parse.ts';
import { formatCouponBench, runCouponBench } from './coupons.ts';
import { formatDashboardBench, runDashboardBench } from './dashboard.ts';
import { formatHostileInputBench, runHostileInputBench } from './hostile-input.ts';
import { formatPlatformIngestBench, runPlatformIngestBench } from './platform-ingest.ts';
import { formatPlatformNotifyBench, runPlatformNotifyBench } from './platform-notify.ts';
import {
  formatRemoteVendTargets,
  REMOTE_VEND_TARGETS,
  type RemoteVendBenchResult,
  runRemoteVendBench,
} from './remote-vend.ts';
import { runSelectThenPayBench, type SelectThenPayBenchResult } from './select-then-pay.ts';
import { fmt } from './stats.ts';
import { findMosquittoBinary } from './tls-broker.ts';
import { formatUplinkTlsBench, runUplinkTlsBench, type UplinkTlsBenchResult } from './uplink-tls.ts';

const TARGETS = { addedP99Ms: 2, ordersPerSec: 2000, peakRssMb: 150 };

function formatRemoteVend(r: RemoteVendBenchResult): string {
  const row = (name: string, p50: number, p99: number, tput: number) =>
    `${name.padEnd(34)} ${fmt(p50).padStart(8)} ${fmt(p99).padStart(8)} ${fmt(tput, 0).padStart(10)}`;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `remote vend, ${r.machines} simulated machines on socat ptys, embedded aedes broker, SQLite WAL on disk`,
    '',
    `${'path'.padEnd(34)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'orders/s'.padStart(10)}`,
    row('bare: MQTT -> pty -> echo -> MQTT', r.bare.latency.p50, r.bare.latency.p99, r.bare.throughputPerSec),
    row(
      'vendgate: order.paid -> vend.succeeded',
      r.gateway.latency.p50,
      r.gateway.latency.p99,
      r.gateway.throughputPerSec,
    ),
    '',
    `gateway adds: p50 ${fmt(r.addedP50Ms)} ms, p99 ${fmt(r.addedP99Ms)} ms (p99 ratio ${fmt(r.latencyRatioP99)}x); throughput ratio ${fmt(r.throughputRatio)}`,
    `gateway process: ${fmt(r.gateway.cpuMsPerOrder, 3)} ms CPU per order, peak RSS ${fmt(r.gateway.peakRssMb, 1)} MB`,
    '',
    `CPU ms per order by process during the throughput run (${cpus().length} cores; the sum caps orders/s at cores*1000/sum):`,
    `${'run'.padEnd(10)} ${'gateway'.padStart(8)} ${'boards'.padStart(8)} ${'socat'.padStart(8)} ${'loadgen'.padStart(8)} ${'sum'.padStart(8)} ${'ceiling/s'.padStart(10)}`,
    ...(
      [
        ['bare', r.bare.cpu],
        ['vendgate', r.gateway.cpu],
      ] as const
    ).map(
      ([name, c]) =>
        `${name.padEnd(10)} ${fmt(c.gateway, 3).padStart(8)} ${fmt(c.devices, 3).padStart(8)} ${fmt(c.socat, 3).padStart(8)} ${fmt(c.loadGenerator, 3).padStart(8)} ${fmt(c.total, 3).padStart(8)} ${fmt((cpus().length * 1000) / c.total, 0).padStart(10)}`,
    ),
    '(bare: the relay process with its broker in the gateway column)',
    formatRemoteVendTargets(r),
    `peak RSS < ${TARGETS.peakRssMb} MB ${met(r.gateway.peakRssMb < TARGETS.peakRssMb)}`,
  ].join('\n');
}

function formatSelectThenPay(r: SelectThenPayBenchResult): string {
  const row = (name: string, s: { p50: number; p99: number }) =>
    `${name.padEnd(58)} ${fmt(s.p50).padStart(8)} ${fmt(s.p99).padStart(8)}`;
  return [
    `select-then-pay, MDB machine + adapter simulator on a socat pty, ${r.rounds} vends, platform pays at once`,
    '',
    `${'segment'.padEnd(58)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
    row('button pressed -> vend request at the gateway (serial)', r.deviceToGateway),
    row('gateway -> order.create at the platform (MQTT)', r.gatewayToPlatform),
    row("platform's own time (create, answer, sign, publish payment)", r.platform),
    row('payment -> vend approved at the machine (ledger, serial)', r.paymentToApproval),
    row('total: button -> vend approved', r.total),
    '',
    `vendgate's share of the round trip (total less the platform's own time), p50: ${fmt(r.gatewayShareP50Ms)} ms`,
  ].join('\n');
}

async function main(): Promise<void> {
  const only = process.argv[2];
  mkdirSync('bench/results', { recursive: true });
  const header = `vendgate bench, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}`;
  console.log(`${header}\n`);
  if (!only || only === 'remote-vend' || only === 'uplink-tls') {
    const r = only === 'uplink-tls' ? undefined : await runRemoteVendBench();
    if (r) console.log(`${formatRemoteVend(r)}\n`);
    // The TLS uplink beside plain TCP, in the same invocation (Mosquitto required).
    let uplink: UplinkTlsBenchResult | undefined;
    if (findMosquittoBinary()) {
      uplink = await runUplinkTlsBench();
      console.log(`${formatUplinkTlsBench(uplink)}\n`);
    } else {
      console.log(
        'platform link over TLS: skipped, mosquitto is not installed (apt-get install mosquitto)\n',
      );
    }
    if (r) {
      writeFileSync(
        'bench/results/remote-vend.json',
        `${JSON.stringify({ date: new Date().toISOString(), targets: { ...REMOTE_VEND_TARGETS, peakRssMb: TARGETS.peakRssMb }, ...r, uplink }, null, 2)}\n`,
      );
    } else if (uplink) {
      writeFileSync(
        'bench/results/uplink-tls.json',
        `${JSON.stringify({ date: new Date().toISOString(), ...uplink }, null, 2)}\n`,
      );
    }
  }
  if (!only || only === 'select-then-pay') {
    const r = await runSelectThenPayBench();
    console.log(`${formatSelectThenPay(r)}\n`);
    writeFileSync('bench/results/select-then-pay.json', `${JSON.stringify(r, null, 2)}\n`);
  }
  if (!only || only === 'beacon-parse') {
    const r = await runBeaconParseBench({ seconds: 8 });
    console.log(`${formatBeaconParseBench(r)}\n`);
    writeFileSync('bench/results/beacon-parse.json', `${JSON.stringify(r, null, 2)}\n`);
  }
  if (!only || only === 'platform-ingest') {
    const r = await runPlatformIngestBench();
    console.log(`${formatPlatformIngestBench(r)}\n`);
    writeFileSync(
      'bench/results/platform-ingest.json',
      `${JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2)}\n`,
    );
  }
  if (!only || only === 'platform-notify') {
    const r = await runPlatformNotifyBench();
    console.log(`${formatPlatformNotifyBench(r)}\n`);
    writeFileSync(
      'bench/results/platform-notify.json',
      `${JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2)}\n`,
    );
  }
  if (!only || only === 'coupons') {
    const r = await runCouponBench();
    console.log(`${formatCouponBench(r)}\n`);
    writeFileSync('bench/results/coupons.json', `${JSON.stringify(r, null, 2)}\n`);
  }
  if (!only || only === 'hostile-input') {
    const r = await runHostileInputBench();
    console.log(`${formatHostileInputBench(r)}\n`);
    writeFileSync('bench/results/hostile-input.json', `${JSON.stringify(r, null, 2)}\n`);
  }
  if (!only || only === 'dashboard') {
    const r = await runDashboardBench();
    console.log(`${formatDashboardBench(r)}\n`);
    writeFileSync(
      'bench/results/dashboard.json',
      `${JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2)}\n`,
    );
  }
  console.log('results written to bench/results/');
}

await main();
