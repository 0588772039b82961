/**
 * The domain port the gateway core uses to talk to a vending machine that
 * dispenses on command (remote vend). No wire formats here: a driver for a
 * particular controller board family implements this interface.
 */
import type { EventEmitter } from 'node:events';

/** Why a vend did not dispense, as the controller reported it. */
export type VendFailureReason =
  | 'jammed'
  | 'empty-slot'
  | 'drop-sensor-miss'
  | 'motor-fault'
  | 'unknown-slot'
  | 'busy'
  | 'other';

export type VendOutcome =
  | { kind: 'dispensed'; vendToken: number; slot: number }
  | { kind: 'failed'; vendToken: number; slot: number; reason: VendFailureReason; detail?: string };

/**
 * What the controller says about a vend token when asked after a crash or a
 * reconnect. `never-seen` means the board has no record of that token. That
 * proves nothing was dispensed only if the board kept its memory: a board
 * that restarted and lost it says `never-seen` for tokens it did dispense.
 * So `never-seen` carries the boot identity of the board that answered
 * (`bootEpoch`, when the controller reports one), to be compared with the
 * identity the vend was sent to.
 */
export type VendQueryResult =
  | VendOutcome
  | { kind: 'in-progress'; vendToken: number }
  | { kind: 'never-seen'; vendToken: number; bootEpoch?: number };

export interface DispenseRequest {
  /** Unique per order, committed in the ledger before the first byte is sent. 1..2^32-1. */
  vendToken: number;
  slot: number;
}

export interface VendingMachineEvents {
  /** The board answers again after silence or a reopened port. */
  online: [];
  /** No poll from the board for the silence timeout, or the port closed. */
  offline: [reason: string];
  /** Dispense progress as reported by the board. */
  progress: [vendToken: number, stage: 'accepted' | 'dispensing'];
  /** The controller reported a new boot identity: it restarted (and may have lost its memory of tokens). */
  restarted: [previousEpoch: number, bootEpoch: number];
  /** The machine's sensors changed (door, cabinet temperature), as the board reports them. */
  sensors: [reading: MachineSensors];
}

/** What a board senses about the cabinet, where its protocol can say. */
export interface MachineSensors {
  doorOpen?: boolean;
  /** Cabinet temperature in tenths of a degree Celsius (integers, so 4.5 °C is 45). */
  temperatureDeciC?: number;
}

/** One slot's stock as the machine itself senses it. */
export interface SensedStock {
  slot: number;
  level: number;
}

export interface VendingMachine extends EventEmitter<VendingMachineEvents> {
  readonly machineId: string;
  readonly online: boolean;
  /**
   * The controller's boot identity as last reported (a random value it
   * chose at boot), or undefined when it reports none or has not yet. Kept
   * with a vend's intent so a later `never-seen` can be checked against it.
   */
  readonly bootEpoch?: number | undefined;
  /** Opens the transport and starts the driver. Resolves once the port is open (not necessarily online). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Asks the board to dispense and resolves with the final outcome. Rejects
   * with a VendgateError (DeviceTimeout / DeviceOffline) when the outcome is
   * not known; the caller must then resolve it with queryVend, never by
   * dispensing again blind.
   */
  dispense(req: DispenseRequest): Promise<VendOutcome>;
  /** Asks the board what became of a vend token. Rejects when the board does not answer. */
  queryVend(vendToken: number): Promise<VendQueryResult>;
  /**
   * Restarts the machine's controller (a board reset) and resolves once it
   * answers again. Absent when the driver cannot. Never called while a vend
   * is in flight on the machine.
   */
  reset?(): Promise<void>;
  /** The stock the machine itself senses, per slot; absent when its protocol cannot say. */
  readStock?(): Promise<readonly SensedStock[]>;
}
