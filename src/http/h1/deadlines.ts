/**
 * Coarse deadlines for HTTP/1.1 connections, checked by one shared
 * once-a-second sweep instead of a timer per wait: a keep-alive
 * connection waits for a request head after every response, and a timer
 * per wait showed in CPU profiles of the JSON gateway. A deadline fires
 * up to one sweep late, which is fine for bounds of seconds.
 *
 * @module
 */

/** How often the sweep looks at the deadlines, ms. */
export const SWEEP_MS = 1000;

/** One connection's deadline: when it passes, `onExpire` runs (once per arming). */
export class Deadline {
  /** performance.now() at which it expires; 0 when disarmed. */
  at = 0;

  constructor(readonly onExpire: () => void) {}

  /** Expires `ms` from now (replacing any earlier arming). */
  arm(ms: number): void {
    this.at = performance.now() + ms;
  }

  /** No deadline. */
  disarm(): void {
    this.at = 0;
  }
}

/** The deadlines of a set of connections, with the sweep that runs while there are any. */
export class DeadlineSweep {
  readonly #all = new Set<Deadline>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Number of deadlines watched. */
  get size(): number {
    return this.#all.size;
  }

  /** Watches a new deadline (disarmed) for `onExpire`. */
  add(onExpire: () => void): Deadline {
    const d = new Deadline(onExpire);
    this.#all.add(d);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(performance.now()), SWEEP_MS);
      // A sweep alone never keeps the process alive.
      Deno.unrefTimer(this.#timer);
    }
    return d;
  }

  /** Stops watching `d`. */
  delete(d: Deadline): void {
    this.#all.delete(d);
    if (this.#all.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Fires every armed deadline that has passed at `now` (public for tests). */
  sweep(now: number): void {
    for (const d of this.#all) {
      if (d.at !== 0 && d.at <= now) {
        d.at = 0;
        d.onExpire();
      }
    }
  }
}

/** The sweep shared by every HTTP/1.1 connection of the process. */
export const sharedSweep: DeadlineSweep = new DeadlineSweep();
