import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import {
  type PlatformConfig,
  PlatformConfigSchema,
  type ResolvedPlatformConfig,
  type SecretRef,
} from './schema.ts';

export const DEFAULT_PLATFORM_CONFIG_PATH = 'vendgate-platform.yaml';
export const PLATFORM_ENV_PREFIX = 'VENDGATE_PLATFORM_';

/**
 * Loads the platform config: the YAML file (when present, or required),
 * then `VENDGATE_PLATFORM_*` overrides (`VENDGATE_PLATFORM_BROKER__URL` sets
 * `broker.url`: `__` separates levels, UPPER_SNAKE becomes camelCase, values
 * read as YAML scalars), then the schema, then the secrets from their env
 * variables or files. Errors name the field and never show a secret.
 */
export function loadPlatformConfig(
  opts: { path?: string; env?: NodeJS.ProcessEnv; required?: boolean } = {},
): ResolvedPlatformConfig {
  const path = opts.path ?? DEFAULT_PLATFORM_CONFIG_PATH;
  const env = opts.env ?? process.env;
  let raw: unknown = {};
  if (existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new VendgateError(
        ErrorCode.ConfigFileUnreadable,
        `cannot read ${path}: ${(err as Error).message}`,
        { path },
      );
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
      throw new VendgateError(ErrorCode.ConfigYamlSyntax, `${path} is not valid YAML${where}`, { path });
    }
  } else if (opts.required) {
    throw new VendgateError(ErrorCode.ConfigFileUnreadable, `config file ${path} does not exist`, { path });
  }
  return resolvePlatformConfig(parsePlatformConfig(applyPlatformEnv(raw, env), path), env);
}

export function parsePlatformConfig(raw: unknown, source = '(inline)'): PlatformConfig {
  const r = PlatformConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  // Only the path and the rule: a value could be a secret someone pasted where a reference belongs.
  const problems = r.error.issues.map((i) => `  - ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new VendgateError(
    ErrorCode.ConfigInvalid,
    `invalid platform configuration in ${source}:\n${problems.join('\n')}`,
    {
      source,
      fields: r.error.issues.map((i) => i.path.map(String).join('.')),
    },
  );
}

export function applyPlatformEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const out: Record<string, unknown> = isRecord(raw) ? structuredClone(raw) : {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PLATFORM_ENV_PREFIX) || value === undefined) continue;
    const keys = name
      .slice(PLATFORM_ENV_PREFIX.length)
      .split('__')
      .map((k) => k.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    if (keys.some((k) => k.length === 0)) continue;
    let node: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      if (!isRecord(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = parseScalar(value);
  }
  return out;
}

export function resolvePlatformConfig(c: PlatformConfig, env: NodeJS.ProcessEnv): ResolvedPlatformConfig {
  const payerHashKey = Buffer.from(readSecret(c.privacy.payerHashKey, 'privacy.payerHashKey', env), 'utf8');
  if (payerHashKey.length < 16) {
    throw new VendgateError(ErrorCode.ConfigInvalid, 'privacy.payerHashKey must be at least 16 bytes', {
      field: 'privacy.payerHashKey',
    });
  }
  const { postgresUrl, ...store } = c.store;
  const { password, ...broker } = c.broker;
  return {
    ...c,
    store: {
      ...store,
      sqlitePath: c.store.sqlitePath ?? join(c.dataDir, 'platform.db'),
      ...(postgresUrl ? { postgresUrl: readSecret(postgresUrl, 'store.postgresUrl', env) } : {}),
    },
    broker: { ...broker, ...(password ? { password: readSecret(password, 'broker.password', env) } : {}) },
    signing: {
      keys: c.signing.keys.map((k, i) => ({
        keyId: k.keyId,
        privateKey: readSecret(k.privateKey, `signing.keys.${i}.privateKey`, env),
        ...(k.activeFrom !== undefined ? { activeFrom: k.activeFrom } : {}),
      })),
    },
    privacy: { payerHashKey, retentionDays: c.privacy.retentionDays },
  };
}

/** A secret's value from its env variable or file (trailing newline trimmed); the error names the field, not the value. */
export function readSecret(ref: SecretRef, field: string, env: NodeJS.ProcessEnv): string {
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        `${field}: environment variable ${ref.env} is not set`,
        {
          field,
          env: ref.env,
        },
      );
    }
    return v;
  }
  try {
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `${field}: cannot read secret file ${ref.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { field, file: ref.file },
    );
  }
}

function parseScalar(value: string): unknown {
  try {
    const v: unknown = parseYaml(value);
    return v === null ? value : v;
  } catch {
    return value;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
