import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
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
  return { config: validate(value, source, ConfigSchema, sources) as Config, source };
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
  const shown = JSON.stringify(maskSecrets(value)) ?? String(value);
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
    node[keys.at(-1)!] = parseScalar(value);
    sources.set(keys.join('.'), name);
  }
  return { value: out, sources };
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
