/**
 * Which config fields are secrets, and the config with them masked, for
 * everything that shows a config to a person (`vendgate config check`,
 * error messages). Decided by the field's name, so a section added later
 * with a `password` is masked without being listed here.
 */

export const MASK = '[secret]';

/**
 * password, userKey, token, secret, privateKey, apiKey, gatewayKey, and PEM
 * text (keyPem: a private key) (and names ending in them, e.g. `uplinkPassword`).
 */
const SECRET_NAME = /(password|passphrase|secret|token|userkey|privatekey|apikey|gatewaykey|pem)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_NAME.test(key);
}

/** A deep copy of `value` with every secret field's value replaced by MASK (absent fields stay absent). */
export function maskSecrets<T>(value: T): T {
  return mask(value) as T;
}

function mask(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mask);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      isSecretKey(k) && v !== undefined && v !== null ? MASK : mask(v),
    ]),
  );
}
