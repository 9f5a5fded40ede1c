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

/**
 * An object that is its own pending deadline ({@link Deadlines.arm}): a
 * call keeps the two numbers the sweep needs, so arming it allocates
 * nothing.
 */
export interface Armable {
  /** When it fires (performance.now() time); set by `arm`. */
  deadlineAt: number;
  /** Its place among the pending deadlines, -1 when not armed; kept by Deadlines. */
  deadlineSlot: number;
  /** Called once when the deadline passes (unless disarmed first). */
  fire(): void;
}

/** A deadline registered with {@link Deadlines.add}: its own handle. */
class Entry implements Deadline, Armable {
  deadlineAt = 0;
  deadlineSlot = -1;

  constructor(readonly target: DeadlineTarget, readonly owner: Deadlines) {}

  cancel(): void {
    this.owner.disarm(this);
  }

  fire(): void {
    const t = this.target;
    if (typeof t === "function") t();
    else t.fire();
  }
}

/**
 * Pending deadlines of one process (or one test). They sit in an array,
 * each knowing its index, and leave it by a swap with the last: a Set's
 * entry per call and its table resized as calls came and went were
 * allocations on every put.
 */
export class Deadlines {
  readonly #armed: Armable[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Calls `target` once, `ms` from now, unless canceled first. */
  add(ms: number, target: DeadlineTarget): Deadline {
    const entry = new Entry(target, this);
    this.arm(ms, entry);
    return entry;
  }

  /**
   * Calls `a.fire()` once, `ms` from now, unless {@link disarm}ed first.
   * An armed object is armed again at its new time.
   */
  arm(ms: number, a: Armable): void {
    a.deadlineAt = performance.now() + ms;
    if (a.deadlineSlot < 0) {
      a.deadlineSlot = this.#armed.length;
      this.#armed.push(a);
    }
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), SWEEP_MS);
      // Pending deadlines alone never keep a process alive.
      Deno.unrefTimer(this.#timer);
    }
  }

  /** `a` will not fire (nothing when it is not armed here). */
  disarm(a: Armable): void {
    const i = a.deadlineSlot;
    const armed = this.#armed;
    if (i < 0 || armed[i] !== a) return;
    const last = armed.pop()!;
    if (last !== a) {
      armed[i] = last;
      last.deadlineSlot = i;
    }
    a.deadlineSlot = -1;
  }

  /** Number of pending deadlines. */
  get size(): number {
    return this.#armed.length;
  }

  #sweep(): void {
    const now = performance.now();
    const armed = this.#armed;
    // From the end: a disarmed one's place is taken by the last, which this
    // loop has already looked at, so a fire() that disarms others skips
    // none still to look at (new ones are pushed behind, not yet due).
    for (let i = armed.length - 1; i >= 0; i = Math.min(i - 1, armed.length - 1)) {
      const a = armed[i];
      if (a.deadlineAt > now) continue;
      this.disarm(a);
      a.fire();
    }
    if (armed.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** The deadlines of the client port's direct gRPC paths. */
export const callDeadlines: Deadlines = new Deadlines();
