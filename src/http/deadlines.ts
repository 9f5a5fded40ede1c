/**
 * Call deadlines (`grpc-timeout`) without a timer per call: the Go client
 * sends a deadline with nearly every request, and creating and clearing a
 * timer for each cost several percent of a member's CPU under load. One
 * interval sweeps the pending deadlines every {@link SWEEP_MS} while any
 * exist, so a deadline fires up to that much late.
 *
 * @module
 */

/** Sweep period: how late a deadline may fire. */
export const SWEEP_MS = 10;

/** A registered deadline; `cancel` it once the call finished. */
export interface Deadline {
  cancel(): void;
}

/**
 * What a deadline calls: a function, or an object's `fire` method (a call
 * object registers itself, so no closure is made per call).
 */
export type DeadlineTarget = (() => void) | { fire(): void };

/** A pending deadline; it is its own handle, so registering allocates one object. */
class Entry implements Deadline {
  constructor(
    readonly at: number,
    readonly target: DeadlineTarget,
    readonly entries: Set<Entry>,
  ) {}

  cancel(): void {
    this.entries.delete(this);
  }

  fire(): void {
    const t = this.target;
    if (typeof t === "function") t();
    else t.fire();
  }
}

/** Pending deadlines of one process (or one test). */
export class Deadlines {
  readonly #entries = new Set<Entry>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Calls `target` once, `ms` from now, unless canceled first. */
  add(ms: number, target: DeadlineTarget): Deadline {
    const entry = new Entry(performance.now() + ms, target, this.#entries);
    this.#entries.add(entry);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), SWEEP_MS);
      // Pending deadlines alone never keep a process alive.
      Deno.unrefTimer(this.#timer);
    }
    return entry;
  }

  /** Number of pending deadlines. */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(): void {
    const now = performance.now();
    for (const e of this.#entries) {
      if (e.at > now) continue;
      this.#entries.delete(e);
      e.fire();
    }
    if (this.#entries.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** The deadlines of the client port's direct gRPC paths. */
export const callDeadlines: Deadlines = new Deadlines();
