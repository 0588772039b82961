import pino, { type Logger } from 'pino';

/**
 * Structured, namespaced logs. Payment tokens, signatures, secrets and user
 * identifiers are redacted wherever they appear in a logged object, so a log
 * file shipped to support never carries them.
 */
export const REDACTED_PATHS = [
  '*.password',
  '*.secret',
  '*.privateKey',
  '*.sig',
  '*.signature',
  '*.token',
  '*.paymentUrl',
  '*.codeUrl',
  '*.userId',
  '*.openid',
  'password',
  'secret',
  'privateKey',
  'sig',
  'token',
  'paymentUrl',
  'userId',
];

export type Log = Logger;

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

export function createRootLogger(opts: LogOptions = {}): Log {
  const level = opts.level ?? process.env.VENDGATE_LOG_LEVEL ?? 'info';
  const base = { redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, level };
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
