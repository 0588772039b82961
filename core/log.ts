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

/**
 * How repeated lines are limited: the first `burst` lines with the same
 * message and error code (from the same logger) in an interval are written,
 * the rest are counted, and one summary line per interval says how many were
 * left out. A disk that stays full makes the same write fail thousands of
 * times a minute; unlimited, those lines fill what little space is left and
 * the log pipe's buffer grows the heap.
 */
export interface RepeatLimit {
  burst: number;
  intervalMs: number;
  /** Most distinct lines tracked at once; the oldest is forgotten beyond it. Default 1000. */
  maxKeys?: number;
  now?: () => number;
}

export const DEFAULT_REPEAT_LIMIT: RepeatLimit = { burst: 5, intervalMs: 60_000 };

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
  /** Repeated-line limit; `false` writes every line. Default DEFAULT_REPEAT_LIMIT. */
  repeats?: RepeatLimit | false;
}

export function createRootLogger(opts: LogOptions = {}): Log {
  const level = opts.level ?? process.env.VENDGATE_LOG_LEVEL ?? 'info';
  const limiter =
    opts.repeats === false ? undefined : new RepeatLimiter(opts.repeats ?? DEFAULT_REPEAT_LIMIT);
  const base: pino.LoggerOptions = {
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    level,
    ...(limiter ? { hooks: { logMethod: limiter.hook } } : {}),
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

type LogFn = (...args: unknown[]) => void;

interface Seen {
  windowStart: number;
  written: number;
  suppressed: number;
  /** What the summary line repeats: the last suppressed call's arguments. */
  last: unknown[];
  logger: Logger;
  method: LogFn;
}

/**
 * The repeated-line limit as a pino `logMethod` hook. Child loggers inherit
 * the hook, so one limiter covers every namespace of a root logger; a line's
 * identity includes the child's bindings, so "m1 offline" and "m2 offline"
 * are counted apart.
 */
export class RepeatLimiter {
  readonly #limit: Required<RepeatLimit>;
  readonly #seen = new Map<string, Seen>();
  #timer: NodeJS.Timeout | undefined;

  constructor(limit: RepeatLimit) {
    this.#limit = { maxKeys: 1000, now: Date.now, ...limit };
  }

  /** pino calls this for every enabled log call, with the logger as `this`. */
  readonly hook = (() => {
    const limiter = this;
    return function logMethod(this: Logger, args: unknown[], method: LogFn, level: number): void {
      limiter.#onLine(this, args, method, level);
    };
  })();

  /** Writes the summaries of every interval that has ended (the timer does this too). */
  flush(): void {
    const now = this.#limit.now();
    for (const [key, s] of this.#seen) {
      if (now - s.windowStart < this.#limit.intervalMs) continue;
      this.#summarise(s, now);
      this.#seen.delete(key);
    }
    if (this.#seen.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #onLine(logger: Logger, args: unknown[], method: LogFn, level: number): void {
    const key = lineKey(logger, args, level);
    const now = this.#limit.now();
    let s = this.#seen.get(key);
    if (s && now - s.windowStart >= this.#limit.intervalMs) {
      this.#summarise(s, now);
      s = undefined;
    }
    if (!s) {
      s = { windowStart: now, written: 0, suppressed: 0, last: args, logger, method };
      this.#seen.delete(key);
      this.#seen.set(key, s);
      if (this.#seen.size > this.#limit.maxKeys) {
        const oldest = this.#seen.keys().next().value;
        if (oldest !== undefined) this.#seen.delete(oldest);
      }
      this.#arm();
    }
    if (s.written < this.#limit.burst) {
      s.written++;
      method.apply(logger, args);
      return;
    }
    s.suppressed++;
    s.last = args;
  }

  #summarise(s: Seen, now: number): void {
    if (s.suppressed === 0) return;
    const [first, ...rest] = s.last;
    const seconds = Math.max(1, Math.round((now - s.windowStart) / 1000));
    const obj = typeof first === 'object' && first !== null ? first : {};
    const msg = typeof first === 'string' ? first : typeof rest[0] === 'string' ? rest[0] : '';
    s.method.apply(s.logger, [
      { ...obj, repeated: s.suppressed, repeatedOverSeconds: seconds },
      `${msg} (repeated ${s.suppressed} more times in ${seconds} s)`,
    ]);
    s.suppressed = 0;
  }

  #arm(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.flush(), this.#limit.intervalMs);
    this.#timer.unref();
  }
}

const chindings = pino.symbols.chindingsSym as unknown as string;

/** Same logger bindings, level, message and error code: the same line. */
function lineKey(logger: Logger, args: unknown[], level: number): string {
  const [first, second] = args;
  let msg = '';
  let code: unknown;
  if (typeof first === 'string') msg = first;
  else {
    if (typeof second === 'string') msg = second;
    if (first instanceof Error) code = (first as { code?: unknown }).code;
    else if (typeof first === 'object' && first !== null) {
      const o = first as { code?: unknown; err?: { code?: unknown } };
      code = o.code ?? o.err?.code;
    }
  }
  const bindings = (logger as unknown as Record<string, unknown>)[chindings];
  return `${level}\u0000${String(bindings ?? '')}\u0000${msg}\u0000${String(code ?? '')}`;
}
