import { z } from 'zod';
import { CampaignConfig, TimeZone } from '../../contract/coupons.ts';
import { GatewayIdPattern } from '../../contract/topics.ts';
import { CurrencyCode, MinorUnits } from '../../core/money.ts';
import {
  type AnyVendingDriver,
  VENDING_DRIVERS,
  type VendingDriverList,
} from '../../devices/vending/registry.ts';
import { AlertsConfig } from '../alerts/config.ts';
import { DexConfig } from '../audit/config.ts';
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
      'Price in minor units; when set, paid orders must match it exactly. A price the platform set (`catalogue.set`) wins over this one and survives restarts.',
    ),
    name: z.string().max(64).optional().describe('Product name shown on displays.'),
    capacity: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe(
        'How many items the slot holds: a refill without a level fills it to this. Without it a refill must give the level.',
      ),
    lowStockAt: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe(
        'Low stock is raised when the level is at or below this (and above 0); default a fifth of the capacity (at least 1), else 2.',
      ),
  })
  .strict();

/** When a machine's faults become conditions (gateway/telemetry/faults.ts). */
export const MACHINE_TELEMETRY_DEFAULTS = {
  doorOpenGraceMs: 120_000,
  offlineGraceMs: 60_000,
} as const;
const GraceMs = z.number().int().min(0).max(86_400_000);
const DeciC = z.number().int().min(-1000).max(1000);
const MachineTelemetry = z
  .object({
    doorOpenGraceMs: GraceMs.default(MACHINE_TELEMETRY_DEFAULTS.doorOpenGraceMs).describe(
      'A door open longer than this raises the door_open condition; closing it clears it.',
    ),
    offlineGraceMs: GraceMs.default(MACHINE_TELEMETRY_DEFAULTS.offlineGraceMs).describe(
      'A machine offline longer than this raises the offline condition; coming online clears it.',
    ),
    temperature: z
      .object({
        minDeciC: DeciC.describe(
          'Lowest acceptable cabinet temperature, tenths of a degree Celsius (40 = 4.0 °C).',
        ),
        maxDeciC: DeciC.describe('Highest acceptable cabinet temperature, tenths of a degree Celsius.'),
        graceMs: GraceMs.default(600_000).describe(
          'The temperature must stay outside the range this long before the temperature condition is raised.',
        ),
      })
      .strict()
      .refine((t) => t.minDeciC <= t.maxDeciC, { message: 'minDeciC must not exceed maxDeciC' })
      .optional()
      .describe('The cabinet temperature range, for boards that report one; none: not watched.'),
  })
  .strict()
  .describe("When this machine's door, temperature and link become conditions (alerts, dashboard, REST).");

/** The machine fields every driver shares; the registry entry of its `driver` adds the rest. */
const MachineCommon = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -'),
  port: z
    .string()
    .min(1)
    .describe('Serial device path (/dev/ttyUSB0) or raw serial over TCP (tcp://host:port, ser2net style).'),
  baudRate: z.number().int().positive().optional(),
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
  telemetry: MachineTelemetry.default(MACHINE_TELEMETRY_DEFAULTS),
  slots: z
    .array(SlotConfig)
    .default([])
    .describe(
      'What the machine sells: a remote-vend machine (slot-board) needs at least one slot; a cashless one (mdb) names its own items.',
    ),
  dex: DexConfig.optional(),
});
type MachineCommonShape = typeof MachineCommon.shape;

/** The machine schema of one driver: the shared fields, its `driver` value and its own fields; nothing else. */
type MachineSchemaOf<D extends AnyVendingDriver, Default extends string> = z.ZodObject<
  Omit<MachineCommonShape, keyof D['fields'] | 'driver'> & {
    driver: D['name'] extends Default ? z.ZodDefault<z.ZodLiteral<D['name']>> : z.ZodLiteral<D['name']>;
  } & D['fields'],
  z.core.$strict
>;
type MachineSchemasOf<D extends VendingDriverList> = {
  [K in keyof D]: MachineSchemaOf<D[K], D[0]['name']>;
};

/**
 * The machine config for a driver registry: a union on `driver`, so each
 * machine carries exactly its driver's fields. `driver` may be left out and
 * then means the registry's first entry (slot-board for the built-in one).
 */
export function machineSchemaFor<const D extends VendingDriverList>(drivers: D) {
  const [first] = drivers;
  const branches = drivers.map((d) =>
    MachineCommon.extend({
      driver: (d === first ? z.literal(d.name).default(d.name) : z.literal(d.name)).describe(
        `${d.name}: ${d.summary}.`,
      ),
      baudRate: MachineCommon.shape.baudRate.describe(`Serial speed; default ${d.defaultBaudRate}.`),
      ...d.fields,
    }).strict(),
  );
  const names = drivers.map((d) => d.name);
  // The mapped tuple type names each branch; zod's builder only sees an array of objects.
  const options = branches as unknown as MachineSchemasOf<D>;
  return z
    .discriminatedUnion('driver', options, {
      error: (issue) =>
        issue.code === 'invalid_union' ? `an unknown driver; expected one of ${names.join(', ')}` : undefined,
    })
    .describe(`A vending machine; its \`driver\` (default ${first.name}) decides which other fields it has.`);
}

/**
 * Bounds on HTTP clients, so slow or idle ones cannot hold the gateway's
 * sockets (slowloris): each timeout closes the connection with a 408 when it
 * passes, and connections beyond the cap are refused as they arrive.
 */
export const HttpLimits = z
  .object({
    maxConnections: z
      .number()
      .int()
      .min(1)
      .default(128)
      .describe('Open connections at most; more are closed as they arrive.'),
    headersTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('A client must send its whole request line and headers within this.'),
    requestTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe(
        'A client must send its whole request, body included, within this (at least headersTimeoutMs).',
      ),
    keepAliveTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(5000)
      .describe('An idle keep-alive connection is closed after this.'),
    idleTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe(
        'A connection on which nothing moves for this long is closed (longer than the 15 s keep-alive of kiosk event streams).',
      ),
    maxRequestsPerSocket: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('A keep-alive connection is closed after this many requests.'),
  })
  .strict()
  .refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, {
    message: 'headersTimeoutMs must not exceed requestTimeoutMs',
    path: ['headersTimeoutMs'],
  });
export type HttpLimits = z.infer<typeof HttpLimits>;
export const HTTP_LIMIT_DEFAULTS: HttpLimits = HttpLimits.parse({});

const BrokerUser = z
  .object({
    username: z.string().min(1),
    password: z.string().min(8, 'at least 8 characters'),
    publish: z.array(z.string()).default([]).describe('Topic filters this user may publish to.'),
    subscribe: z.array(z.string()).default([]).describe('Topic filters this user may subscribe to.'),
    clientId: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'The MQTT client id this user must connect with: an exact id, or a prefix ending in *. Default: the username, or username-*.',
      ),
  })
  .strict();

/** PEM text given inline, usually through the environment (VENDGATE_UPLINK__TLS__KEY_PEM). */
const PemText = z.string().regex(/-----BEGIN [A-Z0-9 ]+-----/, 'PEM text with a -----BEGIN ...----- line');

const UplinkTls = z
  .object({
    ca: z
      .string()
      .min(1)
      .optional()
      .describe(
        "File with the CA certificates (PEM) that signed the broker's certificate. Default Node's bundled public root CAs (which include Amazon Root CA 1 and the usual public CAs).",
      ),
    caPem: PemText.optional().describe('The CA bundle as PEM text instead of a file.'),
    cert: z
      .string()
      .min(1)
      .optional()
      .describe("File with the gateway's client certificate (PEM; intermediates after it)."),
    certPem: PemText.optional().describe('The client certificate as PEM text instead of a file.'),
    key: z.string().min(1).optional().describe("File with the client certificate's private key (PEM)."),
    keyPem: PemText.optional().describe(
      'The private key as PEM text instead of a file; set it through VENDGATE_UPLINK__TLS__KEY_PEM, never in the file.',
    ),
    keyPassphrase: z.string().min(1).optional().describe('Passphrase of an encrypted private key.'),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe(
        "SNI name sent and checked against the broker's certificate; default the host of uplink.url.",
      ),
    alpn: z
      .array(z.string().min(1).max(255))
      .optional()
      .describe(
        'ALPN protocols to offer, e.g. [x-amzn-mqtt-ca] for AWS IoT Core with certificates on port 443.',
      ),
  })
  .strict();

const Uplink = z
  .object({
    url: z
      .string()
      .regex(
        /^(mqtts?|wss?):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:@[\]]+)(:\d{1,5})?(\/\S*)?$/,
        'an MQTT URL such as mqtts://broker.example.com:8883 (no user:password@: use uplink.username and uplink.password)',
      )
      .describe(
        "The operator's broker: mqtts://host:8883, wss://host:443/mqtt, or mqtt:// / ws:// on a trusted network.",
      ),
    clientId: z
      .string()
      .regex(/^[A-Za-z0-9_:.-]{1,128}$/, "1-128 letters, digits, '_', ':', '.' or '-'")
      .optional()
      .describe(
        'MQTT client id; default vendgate-{gatewayId}. Stable across restarts so the broker keeps the session.',
      ),
    username: z.string().min(1).optional(),
    password: z
      .string()
      .min(1)
      .optional()
      .describe('Set it through VENDGATE_UPLINK__PASSWORD, not in the file.'),
    tls: UplinkTls.default({}),
  })
  .strict()
  .superRefine((u, ctx) => {
    const pairs = [
      ['ca', 'caPem'],
      ['cert', 'certPem'],
      ['key', 'keyPem'],
    ] as const;
    for (const [file, pem] of pairs) {
      if (u.tls[file] !== undefined && u.tls[pem] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['tls', pem],
          message: `set tls.${file} (a file) or tls.${pem} (PEM text), not both`,
        });
    }
    const hasCert = u.tls.cert !== undefined || u.tls.certPem !== undefined;
    const hasKey = u.tls.key !== undefined || u.tls.keyPem !== undefined;
    if (hasCert !== hasKey)
      ctx.addIssue({
        code: 'custom',
        path: ['tls', hasCert ? 'key' : 'cert'],
        message: hasCert
          ? 'a client certificate needs its private key (tls.key or tls.keyPem)'
          : 'a private key needs its client certificate (tls.cert or tls.certPem)',
      });
    const secure = /^(mqtts|wss):/.test(u.url);
    const tlsSet = Object.values(u.tls).some((v) => v !== undefined);
    if (tlsSet && !secure)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'tls settings need an mqtts:// or wss:// URL',
      });
  })
  .describe(
    "The outbound connection to the operator's broker, with TLS and client certificates. When set, the platform link (status, will, events, commands) runs on it and the embedded broker (or broker.url) serves the site's local devices only; when unset, the local broker serves both.",
  );

/** The whole config schema for a driver registry (tests extend the built-in one). */
export function configSchemaFor<const D extends VendingDriverList>(drivers: D) {
  return z
    .object({
      gatewayId: z.string().regex(GatewayIdPattern, '1-64 letters, digits, _ or -').default('vendgate-1'),
      timeZone: TimeZone.default('Asia/Shanghai').describe(
        "The site's IANA time zone: days of sales, the dashboard's clock and DEX schedules follow it.",
      ),
      dataDir: z
        .string()
        .default('./data')
        .describe('Where the SQLite store lives unless store.path is set.'),
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
            .describe(
              'normal survives a killed process; full also survives power loss (an fsync per commit).',
            ),
          reserveBytes: z
            .number()
            .int()
            .nonnegative()
            .default(32 * 1024 * 1024)
            .describe(
              'Free space kept on the data directory for the outcomes of vends already under way: below it, new paid orders are deferred (command.deferred, code 2005) until space is freed.',
            ),
        })
        .strict()
        .default({ synchronous: 'normal', reserveBytes: 32 * 1024 * 1024 }),
      broker: z
        .object({
          url: z
            .string()
            .regex(/^(mqtts?|wss?|tcp):\/\//, 'an MQTT URL such as mqtt://127.0.0.1:1883')
            .optional()
            .describe(
              "The site's local broker, external. When unset, the embedded broker is used. Without an uplink the platform link runs on it too.",
            ),
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
              allowAnonymousLoopback: z
                .boolean()
                .optional()
                .describe(
                  "Let clients on a loopback address connect without a login (never with the gateway's or a user's client id). Default: yes while no users are configured, no once users exist.",
                ),
              maxPacketSize: z
                .number()
                .int()
                .min(1024)
                .max(16 * 1024 * 1024)
                .default(262_144)
                .describe(
                  'Largest MQTT packet accepted, in bytes; a larger one closes the connection before its payload is read.',
                ),
              connectTimeoutMs: z
                .number()
                .int()
                .min(100)
                .max(60_000)
                .default(5000)
                .describe('A connection that sends no complete CONNECT within this time is closed.'),
              maxConnections: z
                .number()
                .int()
                .min(1)
                .max(65_535)
                .default(256)
                .describe('TCP connections beyond this are closed on arrival.'),
            })
            .strict()
            .default({
              host: '127.0.0.1',
              port: 1883,
              users: [],
              maxPacketSize: 262_144,
              connectTimeoutMs: 5000,
              maxConnections: 256,
            }),
        })
        .strict()
        .default({
          embedded: {
            host: '127.0.0.1',
            port: 1883,
            users: [],
            maxPacketSize: 262_144,
            connectTimeoutMs: 5000,
            maxConnections: 256,
          },
        })
        .describe("The local broker the site's devices (MQTT displays, tools) use."),
      uplink: Uplink.optional(),
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
              "How far a signed message's issuedAt may lie ahead of the gateway's clock. expiresAt gets no such grace.",
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
          eventBatching: z
            .boolean()
            .default(true)
            .describe(
              'Publish events in signed batches on evts (up to 100 events and 64 KiB per message, one signature each): far less signing and per-message work at both ends. false: one signed message per event on evt/{type}, for a platform written to the contract before batches.',
            ),
        })
        .strict()
        .default({
          publicKeys: {},
          maxSkewMs: 30_000,
          maxCommandLifetimeMs: 26 * 3600_000,
          resendAfterMs: 2000,
          eventBatching: true,
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
            .describe(
              'How long to keep asking an unreachable controller before reporting for reconciliation.',
            ),
        })
        .strict()
        .default({ resolveTimeoutMs: 10 * 60_000 }),
      management: z
        .object({
          maxPrice: MinorUnits.min(1)
            .max(1_000_000_000)
            .default(1_000_000_000)
            .describe(
              'The highest price, in minor units, a `catalogue.set` may give a slot; a higher one is refused (12003).',
            ),
          waitForIdleMs: z
            .number()
            .int()
            .min(100)
            .max(3600_000)
            .default(120_000)
            .describe(
              'How long a management command waits for a vend in flight on its machine before it is refused (12006).',
            ),
          maxWaiting: z
            .number()
            .int()
            .min(1)
            .max(256)
            .default(16)
            .describe('Most management commands waiting per machine; one more is refused at once (12006).'),
        })
        .strict()
        .default({ maxPrice: 1_000_000_000, waitForIdleMs: 120_000, maxWaiting: 16 })
        .describe(
          'Remote management by signed commands (catalogue.set, stock.refill, machine.test_vend, machine.reset): prices from the platform win over the config file.',
        ),
      http: z
        .object({
          enabled: z.boolean().default(true),
          host: z
            .string()
            .default('127.0.0.1')
            .describe('Listen address; loopback only by default. Set http.token before opening it wider.'),
          port: Port.default(8080),
          token: z
            .string()
            .min(16, 'at least 16 characters')
            .max(256)
            .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
            .optional()
            .describe(
              'Operator token for the API and the dashboard: requests send `Authorization: Bearer <token>`, a browser opens /?token=<token> once and keeps a cookie. Set it through VENDGATE_HTTP__TOKEN. When unset the API is open to whoever reaches http.host. The kiosk pages (/display/...) never need it.',
            ),
          limits: HttpLimits.default(HTTP_LIMIT_DEFAULTS),
        })
        .strict()
        .default({ enabled: true, host: '127.0.0.1', port: 8080, limits: HTTP_LIMIT_DEFAULTS }),
      alerts: AlertsConfig,
      machines: z.array(machineSchemaFor(drivers)).default([]),
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
      // Every branch of the machine union has the shared fields and a driver name.
      const machines = (cfg as unknown as { machines: readonly AnyMachineConfig[] }).machines;
      const seen = new Set<string>();
      machines.forEach((m, i) => {
        if (seen.has(m.id))
          ctx.addIssue({
            code: 'custom',
            path: ['machines', i, 'id'],
            message: `duplicate machine id "${m.id}"`,
          });
        seen.add(m.id);
        const role = drivers.find((d) => d.name === m.driver)?.role;
        if (role === 'remote-vend' && m.slots.length === 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['machines', i, 'slots'],
            message: `a ${m.driver} machine needs at least one slot`,
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
}

export const ConfigSchema = configSchemaFor(VENDING_DRIVERS);

export type ConfigFor<D extends VendingDriverList> = z.infer<ReturnType<typeof configSchemaFor<D>>>;
export type ConfigInputFor<D extends VendingDriverList> = z.input<ReturnType<typeof configSchemaFor<D>>>;
export type MachineConfigFor<D extends VendingDriverList> = ConfigFor<D>['machines'][number];

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type MachineConfig = Config['machines'][number];

/** What the composition root reads of every machine, whatever its driver. */
export type AnyMachineConfig = z.infer<typeof MachineCommon> & { driver: string };
/** A config parsed with any driver registry, as the composition root sees it. */
export type AnyConfig = Omit<Config, 'machines'> & { machines: AnyMachineConfig[] };
