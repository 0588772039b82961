import { z } from 'zod';
import { CampaignConfig } from '../../contract/coupons.ts';
import { GatewayIdPattern } from '../../contract/topics.ts';
import { CurrencyCode, MinorUnits } from '../../core/money.ts';
import { CURRENCIES as MDB_CURRENCIES } from '../../devices/vending/mdb/money.ts';
import { BLE_CONFIG_DEFAULTS, BleConfig } from '../beacons/config.ts';

/**
 * The one configuration schema. Every field has a documented default, so an
 * empty file is a valid config for the embedded site. `npm run docs` renders
 * this schema into docs/config.schema.json.
 */
const Port = z.number().int().min(0).max(65535);

const SlotConfig = z
  .object({
    slot: z.number().int().min(1).max(255).describe('Slot (selection) number on the machine.'),
    price: MinorUnits.optional().describe(
      'Price in minor units; when set, paid orders must match it exactly.',
    ),
    name: z.string().max(64).optional().describe('Product name shown on displays.'),
  })
  .strict();

const MachineConfig = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -'),
    driver: z
      .enum(['slot-board', 'mdb'])
      .default('slot-board')
      .describe(
        'slot-board: a spiral/slot controller that dispenses on command (remote vend, docs/protocols/slot-board.md); mdb: the gateway is the cashless device behind an MDB adapter (select-then-pay, docs/protocols/mdb-adapter.md).',
      ),
    port: z
      .string()
      .min(1)
      .describe('Serial device path (/dev/ttyUSB0) or raw serial over TCP (tcp://host:port, ser2net style).'),
    baudRate: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Serial speed; default 9600 (slot-board), 115200 (mdb).'),
    mdb: z
      .object({
        scaleFactor: z.number().int().min(1).max(255).default(1),
        decimalPlaces: z.number().int().min(0).max(6).default(2),
        maxResponseTimeSec: z
          .number()
          .int()
          .min(5)
          .max(255)
          .default(90)
          .describe("The reader's application maximum response time: the customer must pay within it."),
      })
      .strict()
      .default({ scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 90 }),
    display: z
      .object({
        locale: z.enum(['zh-CN', 'en', 'de', 'ja']).default('zh-CN'),
        name: z.string().min(1).max(60).optional().describe('The machine name shown when idle.'),
        staticQrUrl: z
          .string()
          .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'an absolute URL')
          .optional()
          .describe("The machine's static remote-vend URL, shown as a QR when idle."),
        mqtt: z
          .object({
            password: z
              .string()
              .min(8, 'at least 8 characters')
              .describe(
                'The display device logs in to the embedded broker as display-{machine id} with this password.',
              ),
          })
          .strict()
          .optional()
          .describe(
            'Also drive an MQTT display device: render commands (retained) on vendgate/v1/{gatewayId}/display/{machine id}/render; the device may read only that topic and publish only its state topic.',
          ),
      })
      .strict()
      .default({ locale: 'zh-CN' })
      .describe('The payment display of this machine, served at /display/{machine id}.'),
    currency: CurrencyCode.default('CNY'),
    silenceTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(1500)
      .describe('No poll for this long = offline; reopen.'),
    slots: z
      .array(SlotConfig)
      .default([])
      .describe(
        'What the machine sells: a slot-board needs at least one slot; an mdb machine names its own items.',
      ),
  })
  .strict();

const BrokerUser = z
  .object({
    username: z.string().min(1),
    password: z.string().min(8, 'at least 8 characters'),
    publish: z.array(z.string()).default([]).describe('Topic filters this user may publish to.'),
    subscribe: z.array(z.string()).default([]).describe('Topic filters this user may subscribe to.'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    gatewayId: z.string().regex(GatewayIdPattern, '1-64 letters, digits, _ or -').default('vendgate-1'),
    dataDir: z.string().default('./data').describe('Where the SQLite store lives unless store.path is set.'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        pretty: z.boolean().default(false).describe('Human-readable logs instead of JSON lines.'),
      })
      .strict()
      .default({ level: 'info', pretty: false }),
    store: z
      .object({
        path: z.string().optional().describe('SQLite file; default {dataDir}/vendgate.db.'),
        synchronous: z
          .enum(['normal', 'full'])
          .default('normal')
          .describe('normal survives a killed process; full also survives power loss (an fsync per commit).'),
      })
      .strict()
      .default({ synchronous: 'normal' }),
    broker: z
      .object({
        url: z
          .string()
          .regex(/^(mqtts?|wss?|tcp):\/\//, 'an MQTT URL such as mqtt://127.0.0.1:1883')
          .optional()
          .describe('External broker. When unset, the embedded broker is used.'),
        username: z.string().optional(),
        password: z.string().optional(),
        embedded: z
          .object({
            host: z
              .string()
              .default('127.0.0.1')
              .describe('Listen address; loopback only unless users are configured.'),
            port: Port.default(1883),
            users: z.array(BrokerUser).default([]),
          })
          .strict()
          .default({ host: '127.0.0.1', port: 1883, users: [] }),
      })
      .strict()
      .default({ embedded: { host: '127.0.0.1', port: 1883, users: [] } }),
    platform: z
      .object({
        publicKeys: z
          .record(
            z.string(),
            z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 raw 32-byte Ed25519 public key'),
          )
          .default({})
          .describe('Trusted platform command-signing keys by key id ("default" when commands name none).'),
        gatewayKey: z
          .string()
          .regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 raw 32-byte Ed25519 seed')
          .optional()
          .describe(
            'The gateway event-signing key (base64 raw seed; a secret). Default: made on first start in {dataDir}/gateway-key.json (mode 0600).',
          ),
        maxSkewMs: z
          .number()
          .int()
          .nonnegative()
          .default(30_000)
          .describe(
            'Clock skew allowed on the issuedAt of commands, acks and responses; expiresAt gets none.',
          ),
        maxCommandLifetimeMs: z
          .number()
          .int()
          .positive()
          .default(26 * 3600_000),
        resendAfterMs: z
          .number()
          .int()
          .positive()
          .default(2000)
          .describe('Resend unacknowledged events after this.'),
      })
      .strict()
      .default({
        publicKeys: {},
        maxSkewMs: 30_000,
        maxCommandLifetimeMs: 26 * 3600_000,
        resendAfterMs: 2000,
      }),
    outbox: z
      .object({
        maxRows: z.number().int().min(10).default(100_000),
        telemetryTtlMs: z.number().int().positive().default(3600_000),
      })
      .strict()
      .default({ maxRows: 100_000, telemetryTtlMs: 3600_000 }),
    vend: z
      .object({
        resolveTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(10 * 60_000)
          .describe('How long to keep asking an unreachable controller before reporting for reconciliation.'),
      })
      .strict()
      .default({ resolveTimeoutMs: 10 * 60_000 }),
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default('127.0.0.1'),
        port: Port.default(8080),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 8080 }),
    machines: z.array(MachineConfig).default([]),
    ble: BleConfig.default(BLE_CONFIG_DEFAULTS),
    coupons: z
      .object({
        userKey: z
          .string()
          .min(16, 'at least 16 characters')
          .optional()
          .describe(
            'Secret for pseudonymising user ids (HMAC). Set it through VENDGATE_COUPONS__USER_KEY; it is never stored. When unset a random per-process key is used and per-user caps restart with the gateway.',
          ),
        retentionDays: z
          .number()
          .int()
          .positive()
          .default(30)
          .describe('Shake claims are purged after this many days.'),
        beacons: z
          .array(z.string())
          .default([])
          .describe(
            'Beacon ids shake claims may name, e.g. ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:12345.',
          ),
        campaigns: z.array(CampaignConfig).default([]),
      })
      .strict()
      .default({ retentionDays: 30, beacons: [], campaigns: [] }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.machines.forEach((m, i) => {
      if (seen.has(m.id))
        ctx.addIssue({
          code: 'custom',
          path: ['machines', i, 'id'],
          message: `duplicate machine id "${m.id}"`,
        });
      seen.add(m.id);
      if (m.driver === 'mdb' && !(m.currency in MDB_CURRENCIES)) {
        ctx.addIssue({
          code: 'custom',
          path: ['machines', i, 'currency'],
          message: `an mdb reader supports ${Object.keys(MDB_CURRENCIES).join(', ')}`,
        });
      }
      if (m.driver === 'slot-board' && m.slots.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['machines', i, 'slots'],
          message: 'a slot-board machine needs at least one slot',
        });
      }
      const slots = new Set<number>();
      m.slots.forEach((s, j) => {
        if (slots.has(s.slot)) {
          ctx.addIssue({
            code: 'custom',
            path: ['machines', i, 'slots', j, 'slot'],
            message: `duplicate slot ${s.slot}`,
          });
        }
        slots.add(s.slot);
      });
    });
  });

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type MachineConfig = z.infer<typeof MachineConfig>;
