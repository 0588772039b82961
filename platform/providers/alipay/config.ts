/**
 * The Alipay adapter's configuration. Key material is PEM text, Alipay's
 * bare base64 DER, or a file path (see keys.ts); the config loader passes
 * what the environment or config file holds. Nothing here is logged.
 */
import { z } from 'zod';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

export const AlipayConfig = z
  .object({
    /** The open platform gateway, e.g. https://openapi.alipay.com/gateway.do (or a sandbox's). */
    gatewayUrl: z.url({ protocol: /^https?$/ }),
    /** The app's APPID (16 digits at Alipay). */
    appId: z.string().regex(/^[0-9]{8,32}$/, 'the app id is digits'),
    /** The merchant's partner id (PID, 2088 + 12 digits): notifications carry it as `seller_id`. */
    sellerId: z.string().regex(/^2088[0-9]{12}$/, 'a partner id: 2088 followed by 12 digits'),
    /** The app's RSA2 private key: signs every request. */
    appPrivateKey: z.string().min(1),
    /** Alipay's RSA2 public key: verifies responses and notifications. */
    alipayPublicKey: z.string().min(1),
    /** Every gateway call and bill download is aborted after this long. */
    requestTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** A gateway response larger than this is refused (they are a few kB). */
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    /** A bill archive (compressed or expanded) larger than this is refused. */
    maxBillBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    /** A notification whose notify_time is older than this is rejected as stale (Alipay retries for about 25 h). */
    notificationMaxAgeMs: z
      .number()
      .int()
      .min(60_000)
      .default(26 * 3600_000),
    /** Tolerated clock skew for notify_time in the future. */
    notificationMaxSkewMs: z
      .number()
      .int()
      .min(0)
      .default(5 * 60_000),
  })
  .strict();
export type AlipayConfig = z.infer<typeof AlipayConfig>;
export type AlipayConfigInput = z.input<typeof AlipayConfig>;

/** Validates a config object; the error names the fields, never their values. */
export function parseAlipayConfig(input: unknown): AlipayConfig {
  const r = AlipayConfig.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new VendgateError(ErrorCode.AlipayConfigInvalid, `alipay config invalid: ${issues.join('; ')}`, {
      fields: r.error.issues.map((i) => i.path.join('.')),
    });
  }
  return r.data;
}
