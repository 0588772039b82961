/**
 * Host commands to an MDB adapter (docs/protocols/mdb-adapter.md, section
 * 5): stop-and-wait through the shared request queue, one command in
 * flight, its reply matched to it (`r,ACK` / `r,NACK`, or `v,...` for `V`)
 * within `replyTimeoutMs`. A command is never resent: a second `C,VEND`
 * could approve a vend twice.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { Log } from '../../../core/log.ts';
import { deviceTimeoutError, RequestQueue } from '../request-queue.ts';
import { type AdapterMessage, encodeHostCommand, type HostCommand } from './codec.ts';

/** Host commands that may wait behind the one in flight; beyond it a call is refused with DeviceBusy. */
export const MAX_QUEUED_COMMANDS = 32;

export interface AdapterCommandStats {
  linesOut: number;
  nacks: number;
  replyTimeouts: number;
}

export interface AdapterCommandsOptions {
  machineId: string;
  log: Log;
  replyTimeoutMs: number;
  /** Counters updated in place (the driver's stats object). */
  stats: AdapterCommandStats;
  /** Writes a line to the current port. */
  write: (line: Buffer) => void;
  /** True while a port is open. */
  isOpen: () => boolean;
  /** Default MAX_QUEUED_COMMANDS. */
  maxQueued?: number;
}

interface Pending {
  cmd: HostCommand;
  line: Buffer;
  /** For `V` the reply is `v,...`; for everything else `r,ACK` / `r,NACK`. */
  expects: 'ack' | 'version';
  resolve: (reply: AdapterMessage) => void;
  reject: (err: VendgateError) => void;
}

export class AdapterCommands {
  private readonly queue: RequestQueue<Pending>;
  /** performance.now() of the last line written (for the keepalive). */
  lastSentAt = 0;

  constructor(private readonly opts: AdapterCommandsOptions) {
    const { stats, replyTimeoutMs } = opts;
    this.queue = new RequestQueue<Pending>({
      machineId: opts.machineId,
      what: 'commands',
      maxLength: opts.maxQueued ?? MAX_QUEUED_COMMANDS,
      timeoutMs: replyTimeoutMs,
      maxAttempts: 1,
      canSend: opts.isOpen,
      transmit: (p) => {
        stats.linesOut++;
        this.lastSentAt = performance.now();
        opts.write(p.line);
      },
      fail: (p, err) => p.reject(err),
      timeoutError: (p) => {
        stats.replyTimeouts++;
        opts.log.warn({ cmd: p.cmd.type }, 'no reply from the adapter');
        return deviceTimeoutError(opts.machineId, `no reply to ${p.cmd.type} within ${replyTimeoutMs} ms`, {
          command: p.cmd.type,
        });
      },
    });
  }

  /** Nothing in flight and nothing waiting. */
  get idle(): boolean {
    return this.queue.idle;
  }

  /** Queues a command; resolves with its reply (ack, nack or version). Rejects on timeout, link loss, a full queue. */
  send(cmd: HostCommand): Promise<AdapterMessage> {
    if (!this.opts.isOpen()) return Promise.reject(this.queue.offlineError('port not open'));
    let line: Buffer;
    try {
      line = encodeHostCommand(cmd);
    } catch (err) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, (err as Error).message, {
          machineId: this.opts.machineId,
        }),
      );
    }
    if (this.queue.full) return Promise.reject(this.queue.busyError({ command: cmd.type }));
    return new Promise<AdapterMessage>((resolve, reject) => {
      this.queue.push({ cmd, line, expects: cmd.type === 'version' ? 'version' : 'ack', resolve, reject });
    });
  }

  /** A command whose NACK is an error (CashlessCommandRefused). */
  async expectAck(cmd: HostCommand): Promise<void> {
    const reply = await this.send(cmd);
    if (reply.type === 'nack') {
      throw new VendgateError(
        ErrorCode.CashlessCommandRefused,
        `adapter refused ${cmd.type}: ${reply.reason ?? 'NACK'}`,
        { machineId: this.opts.machineId },
      );
    }
  }

  /** A reply line from the adapter: settles the command in flight if it answers it. */
  reply(reply: AdapterMessage): void {
    const p = this.queue.inflight;
    if (!p) {
      this.opts.log.debug({ reply: reply.type }, 'reply with no command in flight');
      return;
    }
    const matches = p.expects === 'version' ? reply.type === 'version' : reply.type !== 'version';
    if (!matches) {
      this.opts.log.debug(
        { reply: reply.type, cmd: p.cmd.type },
        'reply does not match the command in flight',
      );
      return;
    }
    this.queue.complete();
    if (reply.type === 'nack') this.opts.stats.nacks++;
    p.resolve(reply);
  }

  /** DeviceOffline naming the machine. */
  offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return this.queue.offlineError(reason, context);
  }

  /** Rejects the command in flight and every waiting one with `err`. */
  failAll(err: VendgateError): void {
    this.queue.failAll(err);
  }
}
