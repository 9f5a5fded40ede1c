/**
 * The clock seam: everything a member reads the time from or schedules on.
 * Production uses {@link REAL_CLOCK}; the whole-member simulation
 * (src/server/sim) passes a virtual one driven by its seeded scheduler, so
 * timers fire in a reproducible order and the wall clock can jump.
 *
 * Two readings, because they answer different questions:
 * - `now()` is the wall clock (ms since the epoch). It may jump backwards or
 *   forwards (NTP, an operator); use it only where a wall time is the point
 *   (ids seeded from the time, log stamps).
 * - `monotonic()` never jumps: deadlines, timeouts, lease expiry and
 *   durations use it, as Go's monotonic readings do in etcd. It counts ms
 *   from the same origin as the wall clock at process start, so its values
 *   look like epoch ms.
 *
 * @module
 */

/** An opaque timer id: the runtime's, or a number from a simulated clock. */
export type TimerId = number | ReturnType<typeof setTimeout>;

/** Time and timers. */
export interface Clock {
  /** Wall-clock ms since the epoch; may jump. */
  now(): number;
  /** Monotonic ms (epoch-based at process start); never goes backwards. */
  monotonic(): number;
  /** Calls `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer from {@link Clock.setTimeout}; undefined is ignored. */
  clearTimeout(id: TimerId | undefined): void;
  /** Calls `fn` every `ms` until cleared. */
  setInterval(fn: () => void, ms: number): TimerId;
  /** Cancels a timer from {@link Clock.setInterval}; undefined is ignored. */
  clearInterval(id: TimerId | undefined): void;
}

const ORIGIN = performance.timeOrigin;

/** The process's clocks and the runtime's timers. */
export const REAL_CLOCK: Clock = {
  now: Date.now,
  monotonic: () => ORIGIN + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
};

/** Resolves after `ms` on `clock` (a sleep the simulation can drive). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
