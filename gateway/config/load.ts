import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import type { MqttTlsOptions } from '../../contract/mqtt-client.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type Config, ConfigSchema } from './schema.ts';

export const DEFAULT_CONFIG_PATH = 'vendgate.yaml';
export const ENV_PREFIX = 'VENDGATE_';

/**
 * Loads `vendgate.yaml` (or the given path), applies environment overrides
 * and validates the result. `VENDGATE_HTTP__PORT=9090` sets `http.port`:
 * after the prefix, `__` separates levels and UPPER_SNAKE becomes camelCase.
 * Values are read as YAML scalars, so numbers and booleans keep their type.
 */
export function loadConfig(opts: { path?: string; env?: NodeJS.ProcessEnv; required?: boolean } = {}): {
  config: Config;
  source: string;
} {
  const path = opts.path ?? DEFAULT_CONFIG_PATH;
  let raw: unknown = {};
  let source = '(defaults)';
  if (existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new VendgateError(
        ErrorCode.ConfigFileUnreadable,
        `cannot read config file ${path}: ${(err as Error).message}`,
        {
          path,
        },
      );
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
      throw new VendgateError(
        ErrorCode.ConfigYamlSyntax,
        `config file ${path} is not valid YAML${where}: ${(err as Error).message}`,
        {
          path,
        },
      );
    }
    source = path;
  } else if (opts.required) {
    throw new VendgateError(ErrorCode.ConfigFileUnreadable, `config file ${path} does not exist`, { path });
  }
  const withEnv = applyEnvOverrides(raw, opts.env ?? process.env);
  const config = parseConfig(withEnv, source);
  // Unreadable or mismatched certificates are configuration errors: say so
  // now (and in `vendgate config check`), not at the first connect.
  if (config.uplink) resolveUplinkTls(config.uplink);
  return { config, source };
}

/**
 * Validates a config object; the error names each field, its value and what
 * was expected. `schema`: the schema of another driver registry
 * (`configSchemaFor(drivers)`), default the built-in one.
 */
export function parseConfig(raw: unknown, source?: string): Config;
export function parseConfig<S extends z.ZodType>(raw: unknown, source: string, schema: S): z.output<S>;
export function parseConfig(raw: unknown, source = '(inline)', schema: z.ZodType = ConfigSchema): unknown {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    const value = valueAt(raw, issue.path);
    const shown =
      value === undefined
        ? 'nothing'
        : isSecretField(issue.path)
          ? '[redacted]'
          : JSON.stringify(value).replace(/\/\/[^@/\s"]*@/g, '//[redacted]@');
    return `  - ${path}: ${issue.message} (got ${shown && shown.length > 80 ? `${shown.slice(0, 77)}...` : shown})`;
  });
  throw new VendgateError(
    ErrorCode.ConfigInvalid,
    `invalid configuration in ${source}:\n${problems.join('\n')}`,
    {
      source,
      fields: result.error.issues.map((i) => i.path.map(String).join('.')),
    },
  );
}

export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const out: Record<string, unknown> = isRecord(raw) ? structuredClone(raw) : {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    // PEM text stays text: as YAML its lines would fold into one.
    const parsed = PEM_BEGIN.test(value) ? value : parseScalar(value);
    const keys = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((k) => k.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    if (keys.some((k) => k.length === 0) || keys[0] === 'logLevel') continue;
    let node: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      if (!isRecord(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = parsed;
  }
  return out;
}

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]+-----/;

/** Fields whose values an error message must not show (passwords, keys, passphrases, PEM text). */
const SECRET_FIELD = /(password|passphrase|pem|secret|privatekey|userkey)$/i;

function isSecretField(path: readonly PropertyKey[]): boolean {
  return path.some((k) => typeof k === 'string' && SECRET_FIELD.test(k));
}

export type UplinkConfig = NonNullable<Config['uplink']>;

export interface UplinkTls {
  /** What connectMqtt needs (tlsClientOptions). */
  options: MqttTlsOptions;
  /** The client certificate, for the startup log and expiry warnings. */
  clientCert?: { subject: string; issuer: string; validFrom: Date; validTo: Date };
}

/**
 * Reads the uplink's TLS material, from files (tls.ca, tls.cert, tls.key) or
 * PEM text (tls.caPem, ...; a literal `\n` for each line break allowed, for one-line environment
 * variables), and checks it the way the TLS handshake will: PEM of the right
 * kind, the key the certificate's, the passphrase right. Errors name the
 * field and the file, never their contents. Read at every start, so a
 * renewed certificate takes effect on restart.
 */
export function resolveUplinkTls(
  uplink: UplinkConfig,
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): UplinkTls {
  const t = uplink.tls;
  const ca = material('ca', t.ca, t.caPem, 'CERTIFICATE', read);
  const cert = material('cert', t.cert, t.certPem, 'CERTIFICATE', read);
  const key = material('key', t.key, t.keyPem, 'PRIVATE KEY', read);
  if (ca) secureContext('ca', { ca: ca.pem }, ca.where);
  if (cert && key) {
    secureContext(
      'key',
      { cert: cert.pem, key: key.pem, passphrase: t.keyPassphrase },
      key.where,
      cert.where,
    );
  }
  const options: MqttTlsOptions = {};
  if (ca) options.ca = ca.pem;
  if (cert) options.cert = cert.pem;
  if (key) options.key = key.pem;
  if (t.keyPassphrase !== undefined) options.passphrase = t.keyPassphrase;
  if (t.servername !== undefined) options.servername = t.servername;
  if (t.alpn?.length) options.alpnProtocols = t.alpn;
  let clientCert: UplinkTls['clientCert'];
  if (cert) {
    const x = new X509Certificate(cert.pem);
    clientCert = {
      subject: x.subject.replace(/\n/g, ', '),
      issuer: x.issuer.replace(/\n/g, ', '),
      validFrom: new Date(x.validFrom),
      validTo: new Date(x.validTo),
    };
  }
  return clientCert ? { options, clientCert } : { options };
}

function material(
  field: 'ca' | 'cert' | 'key',
  file: string | undefined,
  text: string | undefined,
  kind: 'CERTIFICATE' | 'PRIVATE KEY',
  read: (path: string) => string,
): { pem: string; where: string } | undefined {
  let pem: string;
  let where: string;
  if (file !== undefined) {
    where = `uplink.tls.${field} (${file})`;
    if (PEM_BEGIN.test(file)) {
      throw tlsConfigError(
        `uplink.tls.${field} is a file path but holds PEM text: put the text in uplink.tls.${field}Pem instead`,
        `uplink.tls.${field}`,
      );
    }
    try {
      pem = read(file);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw tlsConfigError(
        `cannot read ${where}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`,
        `uplink.tls.${field}`,
      );
    }
  } else if (text !== undefined) {
    where = `uplink.tls.${field}Pem`;
    pem = text.replace(/\\n/g, '\n');
  } else {
    return undefined;
  }
  const begin = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem);
  if (!begin) {
    throw tlsConfigError(
      `${where} is not PEM (no -----BEGIN ${kind}----- line); convert DER with \`openssl ${kind === 'CERTIFICATE' ? 'x509' : 'pkey'} -inform der -in FILE -out FILE.pem\``,
      `uplink.tls.${field}`,
    );
  }
  if (!begin[1]?.endsWith(kind)) {
    throw tlsConfigError(`${where} holds a ${begin[1]}, not a ${kind}`, `uplink.tls.${field}`);
  }
  return { pem, where };
}

function secureContext(
  field: 'ca' | 'key',
  options: Parameters<typeof createSecureContext>[0],
  where: string,
  certWhere?: string,
): void {
  try {
    createSecureContext(options);
  } catch (err) {
    // OpenSSL's reasons name what is wrong, never the key material.
    const reason = (err as Error).message;
    const code = (err as { code?: string }).code ?? '';
    let message = `${where}: ${reason}`;
    if (field === 'key' && /KEY_VALUES_MISMATCH|key values mismatch/i.test(`${code} ${reason}`))
      message = `${where} is not the private key of ${certWhere}`;
    else if (
      field === 'key' &&
      /bad decrypt|BAD_DECRYPT|interrupted or cancelled|bad password/i.test(`${code} ${reason}`)
    )
      message = `${where} is encrypted and uplink.tls.keyPassphrase is missing or wrong`;
    throw tlsConfigError(message, `uplink.tls.${field}`);
  }
}

function tlsConfigError(message: string, field: string): VendgateError {
  return new VendgateError(ErrorCode.ConfigInvalid, `invalid configuration: ${message}`, { fields: [field] });
}

function parseScalar(value: string): unknown {
  try {
    const v: unknown = parseYaml(value);
    return v === null ? value : v;
  } catch {
    return value;
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = raw;
  for (const k of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[k];
  }
  return node;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
