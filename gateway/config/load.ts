import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
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
  return { config: parseConfig(withEnv, source), source };
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
    const shown = value === undefined ? 'nothing' : JSON.stringify(value);
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
    node[keys.at(-1)!] = parseScalar(value);
  }
  return out;
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
