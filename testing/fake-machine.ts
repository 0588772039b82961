import { EventEmitter } from 'node:events';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import type {
  DispenseRequest,
  VendingMachine,
  VendingMachineEvents,
  VendOutcome,
  VendQueryResult,
} from '../devices/vending/port.ts';

/**
 * An in-memory VendingMachine for unit tests of the ledger and runner, passed
 * through the port seam. It remembers tokens like a real board, so a test can
 * check that nothing dispensed twice.
 */
export class FakeMachine extends EventEmitter<VendingMachineEvents> implements VendingMachine {
  online = true;
  readonly outcomes = new Map<number, VendOutcome>();
  readonly dispenseCalls: DispenseRequest[] = [];
  /** Physical dispenses (what a customer would receive). */
  dispensedCount = 0;
  /** What the next dispense() does; default dispenses. */
  script: Array<'ok' | 'jam' | 'lose-answer' | 'lose-request' | 'drop-sensor-miss'> = [];
  queryFails = 0;

  constructor(readonly machineId: string) {
    super();
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  setOnline(v: boolean): void {
    this.online = v;
    if (v) this.emit('online');
    else this.emit('offline', 'test');
  }

  async dispense(req: DispenseRequest): Promise<VendOutcome> {
    this.dispenseCalls.push(req);
    if (!this.online) throw new VendgateError(ErrorCode.DeviceOffline, 'offline');
    const known = this.outcomes.get(req.vendToken);
    if (known) return known;
    const step = this.script.shift() ?? 'ok';
    if (step === 'lose-request') throw new VendgateError(ErrorCode.DeviceTimeout, 'no answer');
    let outcome: VendOutcome;
    if (step === 'jam')
      outcome = { kind: 'failed', vendToken: req.vendToken, slot: req.slot, reason: 'jammed' };
    else if (step === 'drop-sensor-miss') {
      outcome = { kind: 'failed', vendToken: req.vendToken, slot: req.slot, reason: 'drop-sensor-miss' };
    } else {
      outcome = { kind: 'dispensed', vendToken: req.vendToken, slot: req.slot };
      this.dispensedCount++;
    }
    this.outcomes.set(req.vendToken, outcome);
    if (step === 'lose-answer') throw new VendgateError(ErrorCode.DeviceTimeout, 'answer lost');
    return outcome;
  }

  async queryVend(vendToken: number): Promise<VendQueryResult> {
    if (this.queryFails > 0) {
      this.queryFails--;
      throw new VendgateError(ErrorCode.DeviceTimeout, 'no answer to query');
    }
    return this.outcomes.get(vendToken) ?? { kind: 'never-seen', vendToken };
  }
}
