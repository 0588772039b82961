/**
 * Vend jobs on a VSB board (docs/protocols/slot-board.md, sections 3.6 and
 * 6): DISPENSE out, DISPENSE_PROGRESS and DISPENSE_RESULT back.
 *
 * - One DISPENSE in flight per machine; the next goes out as soon as the
 *   previous DISPENSE_RESULT arrived (the board answers BUSY otherwise).
 * - A token already being dispensed gets the same promise, never a second
 *   DISPENSE; a token the board has seen is re-reported by the board itself.
 * - After the board acknowledged a DISPENSE the result must follow within
 *   `dispenseTimeoutMs`, else DeviceTimeout (the caller then asks with
 *   QUERY_VEND, never dispenses again blind).
 * - Every DISPENSE names the boot epoch of the board it is meant for
 *   (section 3.3); the board's ACK names the epoch that received it.
 * - Every rejection says in its context whether the DISPENSE was `sent`,
 *   whether it was `acknowledged` and by which `ackEpoch`: a token a board
 *   acknowledged and later calls "never seen" proves that board lost its
 *   memory (section 6), so it must not be sent again.
 * - A board that restarted (new epoch) while a vend was in flight fails
 *   that vend with DeviceRestarted at once: the result will never come
 *   from the board it was sent to.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { Log } from '../../../core/log.ts';
import type { VendFailureReason, VendOutcome } from '../port.ts';
import { deviceTimeoutError } from '../request-queue.ts';
import { Command } from './codec.ts';
import type { FrameSender } from './link.ts';
import {
  AckMessage,
  DispenseMessage,
  type DispenseProgressMessage,
  type DispenseResultMessage,
  ProgressStage,
  RESULT_NAMES,
  ResultCode,
} from './messages.ts';

/** Section 3.8 result code -> domain failure reason. */
export function failureReason(result: number): { reason: VendFailureReason; detail?: string } {
  switch (result) {
    case ResultCode.Jammed:
      return { reason: 'jammed' };
    case ResultCode.MotorDidNotStop:
      return { reason: 'motor-fault', detail: 'motor did not stop' };
    case ResultCode.NoMotor:
      return { reason: 'motor-fault', detail: 'no motor' };
    case ResultCode.DropSensorMiss:
      return { reason: 'drop-sensor-miss' };
    case ResultCode.EmptySlot:
      return { reason: 'empty-slot' };
    case ResultCode.UnknownSlot:
      return { reason: 'unknown-slot' };
    case ResultCode.Busy:
      return { reason: 'busy' };
    default:
      return {
        reason: 'other',
        detail: RESULT_NAMES[result] ?? `board result code 0x${result.toString(16)}`,
      };
  }
}

/** A board result code for `vendToken` at `slot` as a domain outcome. */
export function toOutcome(vendToken: number, slot: number, result: number): VendOutcome {
  if (result === ResultCode.Success) return { kind: 'dispensed', vendToken, slot };
  const { reason, detail } = failureReason(result);
  return detail === undefined
    ? { kind: 'failed', vendToken, slot, reason }
    : { kind: 'failed', vendToken, slot, reason, detail };
}

export interface VendJobsOptions {
  machineId: string;
  log: Log;
  link: FrameSender;
  dispenseTimeoutMs: number;
  /** The boot epoch of the board as last reported (undefined = not known yet: DISPENSE carries 0). */
  bootEpoch: () => number | undefined;
  /** Every boot epoch a DISPENSE's ACK reported. */
  onBootEpoch: (epoch: number) => void;
  /** Every DISPENSE_RESULT, including late ones for vends no longer awaited. */
  onOutcome?: ((outcome: VendOutcome) => void) | undefined;
  onProgress: (vendToken: number, stage: 'accepted' | 'dispensing') => void;
}

interface VendJob {
  vendToken: number;
  slot: number;
  sent: boolean;
  /** The epoch the DISPENSE named (0 = not known). */
  sentEpoch: number;
  /** Set once the board ACKed the DISPENSE: the epoch its ACK named, or null for an ACK without one. */
  ackEpoch: number | null | undefined;
  timer: NodeJS.Timeout | null;
  promise: Promise<VendOutcome>;
  resolve: (o: VendOutcome) => void;
  reject: (e: VendgateError) => void;
}

export class VendJobs {
  private readonly jobs = new Map<number, VendJob>();
  private readonly waiting: VendJob[] = [];
  private active: VendJob | null = null;

  constructor(private readonly opts: VendJobsOptions) {}

  /** Vends not settled yet (in flight or waiting). */
  get pending(): number {
    return this.jobs.size;
  }

  dispense(vendToken: number, slot: number): Promise<VendOutcome> {
    if (!Number.isInteger(vendToken) || vendToken < 1 || vendToken > 0xffffffff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'vendToken must be an integer 1..2^32-1', { vendToken }),
      );
    }
    if (!Number.isInteger(slot) || slot < 0 || slot > 0xff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'slot must be an integer 0..255', { slot }),
      );
    }
    const existing = this.jobs.get(vendToken);
    if (existing) return existing.promise;
    if (!this.opts.link.open) {
      return Promise.reject(this.opts.link.offlineError('port not open', { vendToken, slot, sent: false }));
    }
    let resolve!: (o: VendOutcome) => void;
    let reject!: (e: VendgateError) => void;
    const promise = new Promise<VendOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: VendJob = {
      vendToken,
      slot,
      sent: false,
      sentEpoch: 0,
      ackEpoch: undefined,
      timer: null,
      promise,
      resolve,
      reject,
    };
    this.jobs.set(vendToken, job);
    this.waiting.push(job);
    this.pump();
    return promise;
  }

  onResult(m: DispenseResultMessage): void {
    const job = this.jobs.get(m.vendToken);
    if (m.result === ResultCode.WrongEpoch) {
      // Not an outcome: the board we addressed is not there any more (section 6).
      this.opts.log.warn({ vendToken: m.vendToken }, 'board refused a DISPENSE meant for its previous boot');
      if (job)
        this.finish(
          job,
          null,
          this.restartedError(job, 'the board refused a DISPENSE meant for its previous boot'),
        );
      return;
    }
    const outcome = toOutcome(m.vendToken, m.slot, m.result);
    this.opts.onOutcome?.(outcome);
    if (job) this.finish(job, outcome, null);
    else
      this.opts.log.info({ vendToken: m.vendToken, outcome: outcome.kind }, 'outcome for a vend not awaited');
  }

  onProgress(m: DispenseProgressMessage): void {
    const stage = m.stage === ProgressStage.Accepted ? 'accepted' : 'dispensing';
    this.opts.onProgress(m.vendToken, stage);
  }

  /**
   * The board reported a new boot epoch: the vend in flight will get no
   * result from the board it was sent to. Fails it with DeviceRestarted
   * (waiting vends go out next, to the new board).
   */
  onBoardRestarted(previousEpoch: number, bootEpoch: number): void {
    const job = this.active;
    if (!job) return;
    this.finish(
      job,
      null,
      this.restartedError(job, `the board restarted while the vend was in flight`, {
        previousEpoch,
        bootEpoch,
      }),
    );
  }

  /**
   * Rejects every vend, in flight or waiting, with `err` plus its token,
   * slot and whether its DISPENSE was sent. Sends nothing: call it before
   * the link fails its frames, so no waiting vend takes the freed slot.
   */
  failAll(err: VendgateError): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    this.waiting.length = 0;
    this.active = null;
    for (const job of jobs) this.settle(job, null, withVend(err, job, job.sent));
  }

  private pump(): void {
    while (!this.active && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      if (this.jobs.get(job.vendToken) !== job) continue; // already settled (e.g. failed while waiting)
      job.sentEpoch = this.opts.bootEpoch() ?? 0;
      const payload = new DispenseMessage(job.vendToken, job.slot, job.sentEpoch).payload();
      if (
        !this.opts.link.send(
          Command.Dispense,
          payload,
          (ack) => this.onAck(job, ack),
          (e) => this.onSendFail(job, e),
        )
      ) {
        this.jobs.delete(job.vendToken);
        this.settle(
          job,
          null,
          this.opts.link.busyError({ vendToken: job.vendToken, slot: job.slot, sent: false }),
        );
        continue;
      }
      job.sent = true;
      this.active = job;
    }
  }

  private onAck(job: VendJob, ack: Uint8Array): void {
    const epoch = ack.length === 4 ? AckMessage.from(ack).bootEpoch! : null;
    if (this.jobs.get(job.vendToken) === job) job.ackEpoch = epoch;
    if (epoch !== null) this.opts.onBootEpoch(epoch);
    if (this.jobs.get(job.vendToken) !== job) return;
    job.timer = setTimeout(() => {
      job.timer = null;
      this.finish(
        job,
        null,
        deviceTimeoutError(
          this.opts.machineId,
          `no DISPENSE_RESULT within ${this.opts.dispenseTimeoutMs} ms`,
          vendContext(job, true),
        ),
      );
    }, this.opts.dispenseTimeoutMs);
  }

  private restartedError(job: VendJob, why: string, context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceRestarted, `machine ${this.opts.machineId}: ${why}`, {
      machineId: this.opts.machineId,
      ...context,
      ...vendContext(job, job.sent),
    });
  }

  private onSendFail(job: VendJob, err: VendgateError): void {
    if (this.jobs.get(job.vendToken) !== job) return;
    this.finish(job, null, withVend(err, job, true));
  }

  private finish(job: VendJob, outcome: VendOutcome | null, err: VendgateError | null): void {
    if (this.jobs.get(job.vendToken) !== job) return;
    this.jobs.delete(job.vendToken);
    if (this.active === job) this.active = null;
    this.settle(job, outcome, err);
    this.pump();
  }

  private settle(job: VendJob, outcome: VendOutcome | null, err: VendgateError | null): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (outcome) job.resolve(outcome);
    else job.reject(err!);
  }
}

/** What a rejection says about its vend: token, slot, whether the DISPENSE went out and who acknowledged it. */
function vendContext(job: VendJob, sent: boolean): Record<string, unknown> {
  return {
    vendToken: job.vendToken,
    slot: job.slot,
    sent,
    sentEpoch: job.sentEpoch,
    acknowledged: job.ackEpoch !== undefined,
    ...(typeof job.ackEpoch === 'number' ? { ackEpoch: job.ackEpoch } : {}),
  };
}

/** `err` with the vend's context (vendContext) added to its own. */
function withVend(err: VendgateError, job: VendJob, sent: boolean): VendgateError {
  return new VendgateError(err.code, err.message, { ...err.context, ...vendContext(job, sent) });
}
