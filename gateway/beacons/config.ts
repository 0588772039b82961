/**
 * The `ble` section of the gateway configuration: the BLE scanner, the
 * site's own beacons (what shake claims may name and what the fleet
 * watches), fleet tuning, the gateway's own shake-beacon advertiser, and the
 * simulator switch. Every field has a default, so `{}` is a valid section
 * (BLE off, no beacons).
 *
 * Secrets never live in the file: a rotating beacon or the advertiser names
 * the environment variable that holds its shared secret (`secretEnv`).
 */
import { z } from 'zod';
import { canonicalBeaconKey } from '../../devices/beacon/rotating-id.ts';

const EnvVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name (A-Z, 0-9, _)')
  .describe('Name of an environment variable (not its value).');

const Rotation = z
  .object({
    secretEnv: EnvVarName.describe(
      'Name of the environment variable holding the shared rotation secret (at least 16 bytes, UTF-8). The secret itself never goes in the config file.',
    ),
    windowSec: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(600)
      .describe('How long one minor is current, in seconds (the beacon firmware must use the same).'),
    beaconKey: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'What distinguishes this beacon among those sharing the secret (the HMAC input). Default: the major, as a decimal string.',
      ),
  })
  .strict()
  .describe(
    'The beacon advertises a minor that changes every window to HMAC-SHA256(secret, beaconKey || window) (devices/beacon/rotating-id.ts), so a copied id goes stale.',
  );

export const BleBeaconConfig = z
  .object({
    id: z
      .string()
      .max(128)
      .refine((s) => canonicalBeaconKey(s) !== null, {
        message:
          'a beacon id: ibeacon:<UUID>:<major>:<minor> or eddystone:<namespace (20 hex)>:<instance (12 hex)>',
      })
      .describe(
        'The beacon id, e.g. `ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:1` or `eddystone:8b0ca750095477cb3e77:000000000001`. A rotating iBeacon is named with minor 0 (never advertised): `ibeacon:<UUID>:<major>:0`.',
      ),
    name: z.string().min(1).max(64).describe('A human name for the beacon, e.g. "Door".'),
    location: z
      .string()
      .max(128)
      .optional()
      .describe('Where it is mounted, e.g. "entrance, left of the door".'),
    rotating: Rotation.optional().describe(
      'Set for an iBeacon whose minor rotates; its id must then end in :0. Omit for a static beacon.',
    ),
    measuredPower: z
      .number()
      .int()
      .min(-127)
      .max(20)
      .optional()
      .describe('RSSI at 1 m (dBm) for distance estimates; default the value the beacon advertises.'),
  })
  .strict()
  .superRefine((b, ctx) => {
    const k = canonicalBeaconKey(b.id);
    if (!k || !b.rotating) return;
    if (k.kind !== 'ibeacon' || k.minor !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message: 'a rotating beacon is an iBeacon named with minor 0: ibeacon:<UUID>:<major>:0',
      });
    }
  });
export type BleBeaconConfig = z.infer<typeof BleBeaconConfig>;

const ScannerConfig = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Scan for the site beacons with the local Bluetooth adapter (noble, raw HCI socket; needs CAP_NET_RAW). Without an adapter the gateway logs BleUnavailable (7001) once and runs on without BLE.',
      ),
    hciDeviceId: z
      .number()
      .int()
      .min(0)
      .max(255)
      .optional()
      .describe('Adapter index N of hciN; default the first adapter (or NOBLE_HCI_DEVICE_ID).'),
    silentMs: z
      .number()
      .int()
      .min(1000)
      .default(30_000)
      .describe('Restart the scan when no advertisement at all arrived for this long (a stalled adapter).'),
    minRssi: z
      .number()
      .int()
      .min(-127)
      .max(20)
      .optional()
      .describe('Ignore beacon frames weaker than this (dBm), e.g. beacons in the shop next door.'),
  })
  .strict();

const FleetTuning = z
  .object({
    foundAfterSightings: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('A beacon is found after this many sightings within foundWithinMs (hysteresis).'),
    foundWithinMs: z.number().int().positive().default(5000),
    lostAfterMs: z
      .number()
      .int()
      .min(1000)
      .default(15_000)
      .describe('A present beacon is lost after no sighting for this long.'),
    pathLossExponent: z
      .number()
      .min(1)
      .max(6)
      .default(2.5)
      .describe('Log-distance path loss exponent for distance estimates: 2 in free space, 2.5-4 indoors.'),
    healthEveryMs: z
      .number()
      .int()
      .min(1000)
      .default(300_000)
      .describe(
        'At most one beacon.health event per beacon this often (plus one when its first telemetry arrives).',
      ),
    cloneHoldMs: z
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe('Claims naming a beacon are refused for this long after the last evidence it is cloned.'),
    cloneReportEveryMs: z
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe('At most one beacon.clone_suspected event per beacon and kind of evidence this often.'),
    recentMs: z
      .number()
      .int()
      .positive()
      .default(120_000)
      .describe(
        'While the scanner runs, a claim naming a static beacon is accepted only if the gateway saw that beacon within this long of the shake.',
      ),
  })
  .strict();

const AdvertiserConfig = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Advertise the gateway itself as a WeChat shake iBeacon with a rotating minor (bleno; best on a second adapter).',
      ),
    uuid: z
      .string()
      .regex(/^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/, 'a UUID')
      .default('FDA50693-A4E2-4FB1-AFCF-C6EB07647825')
      .describe('Proximity UUID; default the WeChat shake UUID.'),
    major: z.number().int().min(0).max(0xffff).default(10000).describe('The iBeacon major to advertise.'),
    windowSec: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(600)
      .describe('How long one rotating minor is advertised, in seconds.'),
    secretEnv: EnvVarName.default('VENDGATE_BLE_ADVERTISER_SECRET').describe(
      'Name of the environment variable holding the rotation secret (at least 16 bytes). The beacon key is the major.',
    ),
    measuredPower: z.number().int().min(-127).max(20).default(-59).describe('Calibrated RSSI at 1 m, dBm.'),
  })
  .strict();

export const BleConfig = z
  .object({
    scanner: ScannerConfig.default({ enabled: false, silentMs: 30_000 }),
    beacons: z
      .array(BleBeaconConfig)
      .default([])
      .describe(
        'The site beacons: shake claims may name them, and the scanner reports their presence, health and clones.',
      ),
    fleet: FleetTuning.default({
      foundAfterSightings: 3,
      foundWithinMs: 5000,
      lostAfterMs: 15_000,
      pathLossExponent: 2.5,
      healthEveryMs: 300_000,
      cloneHoldMs: 600_000,
      cloneReportEveryMs: 600_000,
      recentMs: 120_000,
    }),
    advertiser: AdvertiserConfig.default({
      enabled: false,
      uuid: 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825',
      major: 10000,
      windowSec: 600,
      secretEnv: 'VENDGATE_BLE_ADVERTISER_SECRET',
      measuredPower: -59,
    }),
    simulate: z
      .boolean()
      .default(false)
      .describe(
        'Feed the scanner from the beacon simulator instead of an adapter: the configured beacons, visitors walking past, battery drain and a clone appearing after a while. For the demo and tests.',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    const rotatingGroups = new Set<string>();
    const staticGroups = new Set<string>();
    cfg.beacons.forEach((b, i) => {
      const k = canonicalBeaconKey(b.id);
      if (!k) return;
      if (seen.has(k.key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['beacons', i, 'id'],
          message: `beacon ${b.id} is configured twice`,
        });
      }
      seen.add(k.key);
      if (k.kind !== 'ibeacon') return;
      const group = `${k.uuid}:${k.major}`;
      if (b.rotating ? staticGroups.has(group) : rotatingGroups.has(group)) {
        ctx.addIssue({
          code: 'custom',
          path: ['beacons', i, 'id'],
          message: `uuid ${k.uuid} major ${k.major} is used by both a rotating and a static beacon; give the rotating one its own major`,
        });
      }
      (b.rotating ? rotatingGroups : staticGroups).add(group);
    });
  })
  .describe('Bluetooth LE: the scanner watching the site beacons, and the gateway as a shake beacon.');

export type BleConfig = z.infer<typeof BleConfig>;
export type BleConfigInput = z.input<typeof BleConfig>;

/** The section with every default applied (what `ble: {}` parses to). */
export const BLE_CONFIG_DEFAULTS: BleConfig = BleConfig.parse({});
