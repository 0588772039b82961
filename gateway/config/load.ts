import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import type { MqttTlsOptions } from '../../contract/mqtt-client.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type Config, ConfigSchema } from './schema.ts';
import { isSecretKey, maskSecrets } from './secrets.ts';

export { isSecretKey, MASK, maskSecrets } from './secrets.ts';

export const DEFAULT_CONFIG_PATH = 'vendgate.yaml';
export const ENV_PREFIX = 'VENDGATE_';

/** Which environment variable set each config path (`http.port` -> `VENDGATE_HTTP__PORT`). */
export type EnvSources = ReadonlyMap<string, string>;

/**
 * Loads `vendgate.yaml` (or the given path), applies environment overrides
 * and validates the result. `VENDGATE_HTTP__PORT=9090` sets `http.port`:
 * after the prefix, `__` separates levels and UPPER_SNAKE becomes camelCase.
 * Values are read as YAML scalars, so numbers and booleans keep their type.
 * A problem with a value that came from the environment names the variable.
 */
export function loadConfig(opts: { path?: string; env?: NodeJS.ProcessEnv; required?: boolean } = {}): {
  config: Config;
  source: string;
} {
  const path = opts.path ?? DEFAULT_CONFIG_PATH;
  let raw: unknown = {};
  let source = '(defaults)';
  if (existsSync(path)) {
    raw = readConfigFile(path);
    source = path;
  } else if (opts.required) {
    throw new VendgateError(ErrorCode.ConfigFileUnreadable, `config file ${path} does not exist`, { path });
  }
  const { value, sources } = applyEnvOverridesTraced(raw, opts.env ?? process.env);
  const config = validate(value, source, ConfigSchema, sources) as Config;
  // Unreadable or mismatched certificates are configuration errors: say so
  // now (and in `vendgate config check`), not at the first connect.
  if (config.uplink) resolveUplinkTls(config.uplink);
  return { config, source };
}

/** The parsed YAML of a config file: a mapping, or `{}` for an empty file. */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new VendgateError(ErrorCode.ConfigFileUnreadable, `cannot read config file ${path}: ${reason}`, {
      path,
    });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new VendgateError(ErrorCode.ConfigYamlSyntax, yamlErrorMessage(path, err), { path });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    // A list, a number or a stray line of text is no configuration: starting on defaults would hide it.
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `config file ${path} must be a mapping of sections (gatewayId:, http:, machines:, ...), but its root is ${kindOf(parsed)}`,
      { path, root: Array.isArray(parsed) ? 'list' : typeof parsed },
    );
  }
  return parsed as Record<string, unknown>;
}

/**
 * The yaml library's message quotes the offending source line, which may be
 * a password; only the reason and the position are kept.
 */
function yamlErrorMessage(path: string, err: unknown): string {
  if (!(err instanceof YAMLParseError)) return `config file ${path} is not valid YAML`;
  const reason = (err.message.split('\n')[0] ?? '').replace(/\s+at line \d+, column \d+:?\s*$/, '');
  const where = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
  return `config file ${path} is not valid YAML${where}: ${reason}`;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `a line of text, not "key: value"`;
  return `a ${typeof value}`;
}

/**
 * Validates a config object; the error names each field, its value (secrets
 * masked) and what was expected. `schema`: the schema of another driver
 * registry (`configSchemaFor(drivers)`), default the built-in one.
 */
export function parseConfig(raw: unknown, source?: string): Config;
export function parseConfig<S extends z.ZodType>(raw: unknown, source: string, schema: S): z.output<S>;
export function parseConfig(raw: unknown, source = '(inline)', schema: z.ZodType = ConfigSchema): unknown {
  return validate(raw, source, schema, new Map());
}

function validate(raw: unknown, source: string, schema: z.ZodType, fromEnv: EnvSources): unknown {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, raw, fromEnv));
  throw new VendgateError(
    ErrorCode.ConfigInvalid,
    `invalid configuration in ${source}:\n${problems.join('\n')}`,
    {
      source,
      fields: result.error.issues.map((i) => i.path.map(String).join('.')),
      ...(fromEnv.size > 0
        ? { env: [...new Set(result.error.issues.flatMap((i) => envOf(i, fromEnv)))] }
        : {}),
    },
  );
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, fromEnv: EnvSources): string[] {
  const path = issue.path.map(String).join('.') || '(root)';
  const value = valueAt(raw, issue.path);
  const shown = showValue(issue.path, value);
  // zod's own wording ("Invalid input: expected number, received string") is replaced; a schema's own message is kept.
  const message =
    issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')
      ? `expected ${withArticle(issue.expected)}`
      : issue.message;
  const vars = envOf(issue, fromEnv);
  if (vars.length === 0) return [`  - ${path}: ${message} (got ${shown})`];
  // The value came from the environment: name the variable, so the operator looks there and not in the file.
  return vars.map((name) => {
    const target = envPathOf(name, fromEnv) ?? path;
    const got = issue.code === 'unrecognized_keys' ? '' : `got ${shown}; `;
    return `  - ${name}: ${message} (${got}it sets ${target})`;
  });
}

/** The environment variables behind an issue: the one that set its path or a parent of it, or an unknown key. */
function envOf(issue: z.core.$ZodIssue, fromEnv: EnvSources): string[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.flatMap((k) => {
      const keyPath = [...path, k].join('.');
      return [...fromEnv].filter(([p]) => p === keyPath || p.startsWith(`${keyPath}.`)).map(([, n]) => n);
    });
  }
  const names: string[] = [];
  for (let i = path.length; i > 0; i--) {
    const name = fromEnv.get(path.slice(0, i).join('.'));
    if (name) names.push(name);
  }
  return names.slice(0, 1);
}

function envPathOf(name: string, fromEnv: EnvSources): string | undefined {
  for (const [path, n] of fromEnv) if (n === name) return path;
  return undefined;
}

function showValue(path: readonly PropertyKey[], value: unknown): string {
  if (value === undefined) return 'nothing';
  if (path.some((k) => typeof k === 'string' && isSecretKey(k))) return 'a value, not shown: it is a secret';
  // A URL's user info (mqtt://user:password@host) is a secret wherever it appears.
  const shown = (JSON.stringify(maskSecrets(value)) ?? String(value)).replace(
    /\/\/[^@/\s"]*@/g,
    '//[redacted]@',
  );
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

function withArticle(expected: string): string {
  const nouns: Record<string, string> = {
    object: 'mapping',
    array: 'list',
    int: 'integer',
    record: 'mapping',
  };
  const noun = nouns[expected] ?? expected;
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  return applyEnvOverridesTraced(raw, env).value;
}

/** `applyEnvOverrides`, also telling which variable set which path. */
export function applyEnvOverridesTraced(
  raw: unknown,
  env: NodeJS.ProcessEnv,
): { value: unknown; sources: EnvSources } {
  const sources = new Map<string, string>();
  if (!isRecord(raw)) return { value: raw, sources };
  const out: Record<string, unknown> = structuredClone(raw);
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
      // A list stays a list, so VENDGATE_MACHINES__0__PORT changes one machine instead of replacing them all.
      if (!isRecord(node[k]) && !Array.isArray(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = parsed;
    sources.set(keys.join('.'), name);
  }
  return { value: out, sources };
}

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]+-----/;

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
