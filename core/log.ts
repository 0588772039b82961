import pino, { type Logger } from 'pino';
import { VendgateError } from './errors.ts';

/** Fields that are secrets or identify a person, at the top of a logged object and one or two levels down. */
const REDACTED_FIELDS = [
  'password',
  'secret',
  'privateKey',
  'sig',
  'signature',
  'token',
  'userKey',
  'apiKey',
  'authorization',
  'cookie',
  'paymentUrl',
  'codeUrl',
  'userId',
  'openid',
];

/**
 * Structured, namespaced logs. Payment tokens, signatures, secrets (the
 * operator token, coupons.userKey, passwords) and user identifiers are
 * redacted wherever they appear in a logged object (top level, one and two
 * levels down, and the headers of a logged request), so a log file shipped
 * to support never carries them.
 */
export const REDACTED_PATHS = [
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((f) => `*.${f}`),
  ...REDACTED_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * Errors in logs: a catalogued error is an expected failure (a port in use,
 * a bad config) whose code, message and context say what went wrong, so it
 * is logged without its stack; anything else is a fault and keeps pino's
 * full form, stack included.
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof VendgateError)) return pino.stdSerializers.err(err as Error);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return {
    type: 'VendgateError',
    code: err.code,
    name: err.codeName,
    message: err.message,
    context: err.context,
    ...(cause === undefined ? {} : { cause }),
  };
}

export type Log = Logger;

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

export function createRootLogger(opts: LogOptions = {}): Log {
  const level = opts.level ?? process.env.VENDGATE_LOG_LEVEL ?? 'info';
  const base = {
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    level,
  };
  if (opts.destination) return pino(base, opts.destination as pino.DestinationStream);
  if (opts.pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, ignore: 'pid,hostname', messageKey: 'msg' },
      },
    });
  }
  return pino(base);
}

/** A child logger for one namespace, e.g. `vending:m1` or `link`. */
export function namespaced(root: Log, ns: string): Log {
  return root.child({ ns });
}

/** A silent logger for tests and benchmarks. */
export function silentLogger(): Log {
  return pino({ level: 'silent' });
}
