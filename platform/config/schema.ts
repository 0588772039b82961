import { z } from 'zod';

/**
 * The platform's configuration (`vendgate-platform.yaml`). Secrets never sit
 * in the file: each is `{ env: NAME }` or `{ file: PATH }` (a mounted secret),
 * resolved by load.ts into the plain strings of ResolvedPlatformConfig.
 */
export const SecretRef = z
  .union([
    z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name') }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ])
  .describe(
    'Where a secret comes from: `{ env: NAME }` or `{ file: /run/secrets/x }`; never the secret itself.',
  );
export type SecretRef = z.infer<typeof SecretRef>;

const KeyId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, '1-64 letters, digits, _ . : -');

export const PlatformConfigSchema = z
  .object({
    dataDir: z.string().min(1).default('./data/platform').describe('Where the embedded store lives.'),
    log: z
      .object({ level: z.enum(['silent', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .strict()
      .default({ level: 'info' }),
    store: z
      .object({
        backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
        sqlitePath: z.string().min(1).optional().describe('Default {dataDir}/platform.db.'),
        postgresUrl: SecretRef.optional().describe(
          'postgres://user:password@host:5432/db (a secret: it holds the password).',
        ),
        poolSize: z.number().int().min(1).max(200).default(10),
      })
      .strict()
      .default({ backend: 'sqlite', poolSize: 10 })
      .refine((s) => s.backend !== 'postgres' || s.postgresUrl !== undefined, {
        message: 'store.backend postgres needs store.postgresUrl',
        path: ['postgresUrl'],
      }),
    broker: z
      .object({
        url: z.string().regex(/^mqtts?:\/\/\S+$/, 'an mqtt:// or mqtts:// URL'),
        username: z.string().min(1).optional(),
        password: SecretRef.optional(),
        protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
        sharedGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/)
          .optional()
          .describe('Replicas with the same group share the fleet (MQTT 5 shared subscriptions).'),
      })
      .strict()
      .refine((b) => b.sharedGroup === undefined || b.protocolVersion === 5, {
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
                privateKey: SecretRef.describe('base64 raw 32-byte Ed25519 seed'),
                activeFrom: z.number().int().nonnegative().optional(),
              })
              .strict(),
          )
          .min(1)
          .max(2)
          .describe('One key, or two during a rotation (the newest active one signs).'),
      })
      .strict(),
    privacy: z
      .object({
        payerHashKey: SecretRef.describe('HMAC-SHA256 key for payer ids, at least 16 bytes.'),
        retentionDays: z.number().int().min(1).max(3650).default(90),
      })
      .strict(),
    fleet: z
      .object({
        ackIntervalMs: z.number().int().min(1).max(1000).default(5),
        ingestBatchMs: z.number().int().min(0).max(1000).default(2),
        ingestBatchMax: z.number().int().min(1).max(5000).default(500),
        commandTtlMs: z.number().int().min(1000).max(3_600_000).default(60_000),
      })
      .strict()
      .default({
        ackIntervalMs: 5,
        ingestBatchMs: 2,
        ingestBatchMax: 500,
        commandTtlMs: 60_000,
      }),
    /** The payments plane's sections (HTTP, providers) are validated by their own schemas. */
    http: z.record(z.string(), z.unknown()).optional(),
    providers: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type PlatformConfigInput = z.input<typeof PlatformConfigSchema>;
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;

/** The config with every secret read: what the composition root passes on. */
export interface ResolvedPlatformConfig
  extends Omit<PlatformConfig, 'store' | 'broker' | 'signing' | 'privacy'> {
  store: Omit<PlatformConfig['store'], 'postgresUrl'> & { sqlitePath: string; postgresUrl?: string };
  broker: Omit<PlatformConfig['broker'], 'password'> & { password?: string };
  signing: { keys: { keyId: string; privateKey: string; activeFrom?: number }[] };
  privacy: { payerHashKey: Buffer; retentionDays: number };
}
