/**
 * Clocks. Edge boxes often have no real-time clock: the wall clock jumps at
 * boot and on every NTP correction, by minutes. So two clocks, never mixed:
 *
 * - `wallMs()`: Unix ms, for what is shown to people and put on the wire
 *   (event timestamps, `issuedAt`/`expiresAt` of signed commands);
 * - `monoMs()`: milliseconds on a monotonic clock with an arbitrary origin,
 *   for every duration: timers, timeouts, an order's remaining life, resend
 *   intervals. It never goes back and does not move when the wall clock is set.
 *
 * A deadline that arrives as a wall time (a command's `expiresAt`) is turned
 * into a monotonic one once, on receipt: `toMonoDeadline`.
 */
export interface Clock {
  wallMs(): number;
  monoMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monoMs: () => performance.now(),
};

/**
 * The monotonic time at which `wallDeadline` falls, judged by the wall clock
 * now. Later wall clock jumps no longer move it.
 */
export function toMonoDeadline(clock: Clock, wallDeadline: number): number {
  return clock.monoMs() + (wallDeadline - clock.wallMs());
}

/** A clock tests move by hand: `advance` moves both, `setWall` jumps the wall clock alone. */
export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.wall = startWallMs;
  }

  wallMs(): number {
    return this.wall;
  }

  monoMs(): number {
    return this.mono;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a monotonic clock cannot go back');
    this.wall += ms;
    this.mono += ms;
  }

  /** Steps the wall clock (as NTP or a boot without RTC does); the monotonic clock stays. */
  setWall(wallMs: number): void {
    this.wall = wallMs;
  }
}
