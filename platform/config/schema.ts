import { z } from 'zod';

/**
 * The platform's configuration file (`vendgate platform start -c
 * platform.yaml`; docs/providers.md walks through it). Secrets never need to
 * sit in the file: any string value `env:NAME` is read from the environment
 * and `file:/path` from a file (a mounted secret), by load.ts before this
 * schema sees the value. The provider sections are validated by their
 * adapters' own schemas and `payments` by platform/payments/config.ts, so
 * one file configures the whole service.
 */
const KeyId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, '1-64 letters, digits, _ . : -');

export const PlatformConfigSchema = z
  .object({
    dataDir: z
      .string()
      .min(1)
      .default('./data/platform')
      .describe('Where the embedded store and the reconciliation reports live (relative to the file).'),
    log: z
      .object({
        level: z.enum(['silent', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
        pretty: z.boolean().default(false).describe('Human-readable lines instead of JSON (development).'),
      })
      .strict()
      .default({ level: 'info', pretty: false }),
    store: z
      .object({
        backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
        sqlitePath: z.string().min(1).optional().describe('Default {dataDir}/platform.db.'),
        postgresUrl: z
          .string()
          .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL')
          .optional()
          .describe(
            'postgres://user:password@host:5432/db: a secret (it holds the password), so env: or file:.',
          ),
        poolSize: z.number().int().min(1).max(200).optional(),
        payerHashKey: z
          .string()
          .min(1)
          .describe(
            'HMAC key for payer ids (openid, buyer id), base64 of at least 16 bytes: only the keyed hash is stored.',
          ),
      })
      .strict()
      .refine((s) => s.backend !== 'postgres' || s.postgresUrl !== undefined, {
        message: 'store.backend postgres needs store.postgresUrl',
        path: ['postgresUrl'],
      }),
    privacy: z
      .object({
        retentionDays: z
          .number()
          .int()
          .min(1)
          .max(3650)
          .default(90)
          .describe(
            'Events and notifications older than this are deleted, and the payer hash of final orders cleared, once a day.',
          ),
      })
      .strict()
      .default({ retentionDays: 90 }),
    broker: z
      .object({
        url: z.string().regex(/^mqtts?:\/\/\S+$/, 'an mqtt:// or mqtts:// URL'),
        username: z.string().min(1).optional(),
        password: z.string().optional(),
        protocolVersion: z
          .union([z.literal(4), z.literal(5)])
          .optional()
          .describe('Default 5.'),
        sharedGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 letters, digits, _ or -')
          .optional()
          .describe('Replicas with the same group share the fleet (MQTT 5 shared subscriptions).'),
      })
      .strict()
      .refine((b) => b.sharedGroup === undefined || b.protocolVersion !== 4, {
        message: 'broker.sharedGroup needs protocolVersion 5',
        path: ['sharedGroup'],
      }),
    signing: z
      .object({
        keys: z
          .array(
            z
              .object({
                keyId: KeyId,
                privateKey: z
                  .string()
                  .min(1)
                  .describe('base64 raw 32-byte Ed25519 seed (vendgate keys generate)'),
                activeFrom: z.number().int().nonnegative().optional(),
              })
              .strict(),
          )
          .min(1)
          .max(2)
          .describe('One key, or two during a rotation (the newest active one signs).'),
      })
      .strict(),
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8090),
        operatorToken: z
          .string()
          .min(16, 'at least 16 characters')
          .optional()
          .describe('/api and /ops want `Authorization: Bearer <token>`; unset leaves them open.'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8090 }),
    fleet: z
      .object({
        ackIntervalMs: z.number().int().min(1).max(1000).default(5),
        ingestBatchMs: z.number().int().min(0).max(1000).default(2),
        ingestBatchMax: z.number().int().min(1).max(5000).default(500),
        commandTtlMs: z.number().int().min(1000).max(3_600_000).default(60_000),
      })
      .strict()
      .default({ ackIntervalMs: 5, ingestBatchMs: 2, ingestBatchMax: 500, commandTtlMs: 60_000 })
      .describe('Tuning of the gateway link: ack batching, ingest batching, command lifetime.'),
    providers: z
      .object({
        wechat: z.unknown().optional().describe('WeChat Pay API v3 (docs/providers.md).'),
        alipay: z.unknown().optional().describe('Alipay open platform (docs/providers.md).'),
      })
      .strict()
      .refine((p) => p.wechat !== undefined || p.alipay !== undefined, {
        message: 'lists neither wechat nor alipay',
      }),
    payments: z.unknown().describe('Public URL, catalogue, timings (platform/payments/config.ts).'),
  })
  .strict();

export type PlatformConfigInput = z.input<typeof PlatformConfigSchema>;
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;
