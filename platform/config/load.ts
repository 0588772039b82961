import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type PlatformConfig, PlatformConfigSchema } from './schema.ts';

export const PLATFORM_ENV_PREFIX = 'VENDGATE_PLATFORM_';

/** The largest platform config file read: far above any real one, so a wrong path cannot eat memory. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Loads the platform config: the YAML file, then `VENDGATE_PLATFORM_*`
 * overrides (`VENDGATE_PLATFORM_BROKER__URL` sets `broker.url`: `__`
 * separates levels, UPPER_SNAKE becomes camelCase, values read as YAML
 * scalars), then the `env:NAME` and `file:PATH` references, then the
 * schema. Relative paths (dataDir, sqlitePath, file: secrets) are taken
 * from the file's folder. Errors name the field and never show a value.
 */
export function loadPlatformConfig(path: string, env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  return parsePlatformConfig(readPlatformFile(path), { env, baseDir: resolve(path, '..'), source: path });
}

export function readPlatformFile(path: string): unknown {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_CONFIG_BYTES) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        `${path} is ${bytes.length} bytes, more than a config file can be (${MAX_CONFIG_BYTES})`,
        { path },
      );
    }
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof VendgateError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new VendgateError(
      ErrorCode.ConfigFileUnreadable,
      `cannot read the platform config ${path} (${code})`,
      {
        path,
      },
    );
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new VendgateError(ErrorCode.ConfigYamlSyntax, `${path} is not valid YAML${where}`, { path });
  }
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /** Where relative paths start. Default the working directory. */
  baseDir?: string;
  /** Named in errors. */
  source?: string;
}

/** Environment overrides, references and the schema, over a config already read. */
export function parsePlatformConfig(raw: unknown, opts: ParseOptions = {}): PlatformConfig {
  const env = opts.env ?? process.env;
  const baseDir = opts.baseDir ?? process.cwd();
  const source = opts.source ?? '(inline)';
  const resolved = resolveRefs(applyPlatformEnv(raw, env), env, baseDir);
  const r = PlatformConfigSchema.safeParse(resolved);
  if (!r.success) {
    // Only the path and the rule: a value could be a secret someone pasted where a reference belongs.
    const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `platform config ${source} invalid: ${problems.join('; ')}`,
      {
        source,
        fields: r.error.issues.map((i) => i.path.map(String).join('.')),
      },
    );
  }
  const c = r.data;
  const dataDir = isAbsolute(c.dataDir) ? c.dataDir : resolve(baseDir, c.dataDir);
  return {
    ...c,
    dataDir,
    store: {
      ...c.store,
      ...(c.store.sqlitePath ? { sqlitePath: resolve(baseDir, c.store.sqlitePath) } : {}),
    },
  };
}

export function applyPlatformEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const out: Record<string, unknown> = isRecord(raw) ? structuredClone(raw) : {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PLATFORM_ENV_PREFIX) || value === undefined) continue;
    const keys = name
      .slice(PLATFORM_ENV_PREFIX.length)
      .split('__')
      .map((k) => k.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    if (keys.some((k) => k.length === 0 || k === '__proto__' || k === 'constructor' || k === 'prototype'))
      continue;
    let node: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      if (!isRecord(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1) as string] = parseScalar(value);
  }
  return out;
}

/**
 * Replaces every string `env:NAME` with that variable and `file:PATH` with
 * the file's text (one trailing newline trimmed). An unset variable or an
 * unreadable file is an error naming the field and the variable or path,
 * never a value.
 */
export function resolveRefs(v: unknown, env: NodeJS.ProcessEnv, baseDir = process.cwd(), path = ''): unknown {
  const field = path || '(root)';
  if (typeof v === 'string' && v.startsWith('env:')) {
    const name = v.slice(4);
    const value = env[name];
    if (value === undefined || value === '') {
      throw new VendgateError(ErrorCode.ConfigInvalid, `${field}: environment variable ${name} is not set`, {
        field,
        name,
      });
    }
    return value;
  }
  if (typeof v === 'string' && v.startsWith('file:')) {
    const file = resolve(baseDir, v.slice(5));
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        `${field}: cannot read secret file ${file} (${code})`,
        {
          field,
          file,
        },
      );
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => resolveRefs(x, env, baseDir, `${path}[${i}]`));
  if (isRecord(v)) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, resolveRefs(x, env, baseDir, path ? `${path}.${k}` : k)]),
    );
  }
  return v;
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
