/**
 * The configuration exchange with an MDB cashless adapter (section 3.3),
 * run on every (re)open of the port: `C,0` (SETCONF is only taken while the
 * reader is disabled), the SETCONF lines (always idle, currency, scale
 * factor, decimal places, maximum response time), then `C,1` unless the
 * reader is to stay disabled.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { AdapterMessage, HostCommand } from './codec.ts';
import { type MdbCurrency, mdbCurrencyCode } from './money.ts';

/** Section 3.3: the SETCONF keys we send. */
export const CONF_KEYS = {
  alwaysIdle: 'mdb-always-idle',
  currency: 'mdb-currency-code',
  scaleFactor: 'mdb-scale-factor',
  decimalPlaces: 'mdb-decimal-places',
  maxResponseTime: 'mdb-max-response-time',
} as const;

export interface ReaderConfig {
  currency: MdbCurrency;
  scaleFactor: number;
  decimalPlaces: number;
  /** How long the machine waits for an approval, seconds, 1..255. */
  maxResponseTimeSec: number;
  /**
   * Always idle (MDB 4.2 selection first), the default. False for a
   * pay-first machine: its sessions are begun by the reader with funds
   * (authorization first, section 7.5), so the machine takes no selection
   * without one.
   */
  alwaysIdle?: boolean;
}

/** Throws DeviceProtocol when the response time cannot go on the wire (the money fields are checked with the money config). */
export function checkMaxResponseTime(maxResponseTimeSec: number): void {
  if (!Number.isInteger(maxResponseTimeSec) || maxResponseTimeSec < 1 || maxResponseTimeSec > 255) {
    throw new VendgateError(ErrorCode.DeviceProtocol, 'maxResponseTimeSec must be an integer 1..255', {
      maxResponseTimeSec,
    });
  }
}

/**
 * Section 3.3: the disable and SETCONF lines, in order. Always idle (`1`):
 * the reader stays in session-less idle, so every vend request comes to us
 * as a select-then-pay request.
 */
export function readerSetupCommands(cfg: ReaderConfig): HostCommand[] {
  return [
    { type: 'disable' },
    { type: 'setconf', key: CONF_KEYS.alwaysIdle, value: cfg.alwaysIdle === false ? '0' : '1' },
    { type: 'setconf', key: CONF_KEYS.currency, value: mdbCurrencyCode(cfg.currency) },
    { type: 'setconf', key: CONF_KEYS.scaleFactor, value: String(cfg.scaleFactor) },
    { type: 'setconf', key: CONF_KEYS.decimalPlaces, value: String(cfg.decimalPlaces) },
    { type: 'setconf', key: CONF_KEYS.maxResponseTime, value: String(cfg.maxResponseTimeSec) },
  ];
}

/** How a command reads in a log line or adapter error: `setconf mdb-scale-factor=1`. */
export function describeCommand(cmd: HostCommand): string {
  return cmd.type === 'setconf' ? `setconf ${cmd.key}=${cmd.value}` : cmd.type;
}

export interface ConfigureOptions {
  config: ReaderConfig;
  /** Sends a command and resolves with its reply (ack, nack); rejects on timeout or link loss. */
  command: (cmd: HostCommand) => Promise<AdapterMessage>;
  /** False once this connection is gone (a newer one may be configuring): stop without a word. */
  isCurrent: () => boolean;
  /** Read after the SETCONF lines, so an enable()/disable() meanwhile is honoured. */
  wantEnabled: () => boolean;
  /**
   * The adapter refused a step. The exchange goes on: an adapter that does
   * not know a key still takes vends, with its own default for it.
   */
  onRefused: (cmd: HostCommand, reason: string | undefined) => void;
}

/**
 * Runs the exchange. Resolves true once every step was answered on a
 * connection still current, false when the connection was replaced
 * meanwhile. Rejects when a step got no reply (the caller drops the link).
 */
export async function configureReader(opts: ConfigureOptions): Promise<boolean> {
  for (const cmd of readerSetupCommands(opts.config)) {
    if (!opts.isCurrent()) return false;
    const reply = await opts.command(cmd);
    if (reply.type === 'nack') opts.onRefused(cmd, reply.reason);
  }
  if (!opts.isCurrent()) return false;
  if (opts.wantEnabled()) {
    const enable: HostCommand = { type: 'enable' };
    const reply = await opts.command(enable);
    if (reply.type === 'nack') opts.onRefused(enable, reply.reason);
  }
  return opts.isCurrent();
}
