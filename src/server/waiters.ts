/**
 * Proposals this member made that wait for their entry to be applied: the
 * request id travels in the entry, and applying it settles the waiter with
 * the apply result or error. Each waiter has a deadline (etcd's request
 * timeout), swept by the member's timer.
 *
 * @module
 */

/** Told how a proposal ended: its apply result, or the etcd error that refused it. */
export interface Settle<T> {
  resolve(r: T): void;
  reject(e: Error): void;
}

/**
 * Pending proposals by request id. A waiter is its caller's own
 * {@link Settle} (a unary call, a promise's pair of functions), with no
 * record around it: every put waits here across young-generation
 * collections, so each object per waiter is copied by them. Deadlines sit
 * in two number arrays in deadline order instead, which the members' one
 * request timeout from a monotonic clock keeps in the order of adding.
 */
export class Waiters<T> {
  readonly #pending = new Map<number, Settle<T>>();
  /** Request ids and their deadlines, `[#head, length)` live, by nondecreasing deadline. */
  #ids: number[] = [];
  #deadlines: number[] = [];
  #head = 0;

  /** Registers request `id`, due by `deadline` (ms), settled through `resolve`/`reject`. */
  add(id: number, deadline: number, resolve: (r: T) => void, reject: (e: Error) => void): void {
    this.addSink(id, deadline, { resolve, reject });
  }

  /** Registers request `id`, due by `deadline` (ms), settled through `sink`. */
  addSink(id: number, deadline: number, sink: Settle<T>): void {
    this.#pending.set(id, sink);
    const ids = this.#ids;
    const deadlines = this.#deadlines;
    let at = deadlines.length;
    if (at > this.#head && deadlines[at - 1] > deadline) {
      // Out of order (a caller with a shorter timeout): keep the order, so
      // expire never stops before an overdue waiter.
      while (at > this.#head && deadlines[at - 1] > deadline) at--;
      ids.splice(at, 0, id);
      deadlines.splice(at, 0, deadline);
      return;
    }
    ids.push(id);
    deadlines.push(deadline);
  }

  /** Removes and returns the waiter of `id`, if this member is waiting for it. */
  take(id: number): Settle<T> | undefined {
    const w = this.#pending.get(id);
    if (w === undefined) return undefined;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#clearDeadlines();
    return w;
  }

  /** Rejects every waiter whose deadline passed, with `error()`; returns how many. */
  expire(now: number, error: () => Error): number {
    const ids = this.#ids;
    const deadlines = this.#deadlines;
    let head = this.#head;
    let n = 0;
    while (head < deadlines.length && deadlines[head] <= now) {
      const id = ids[head++];
      const w = this.#pending.get(id);
      // Settled ones left their id behind: only the still pending expire.
      if (w === undefined) continue;
      this.#pending.delete(id);
      w.reject(error());
      n++;
    }
    this.#head = head;
    if (this.#pending.size === 0) this.#clearDeadlines();
    else if (head > 1024 && head * 2 > ids.length) {
      // Drop the swept prefix once it is most of the arrays: the arrays
      // hold at most the ids added within one request timeout, twice.
      ids.splice(0, head);
      deadlines.splice(0, head);
      this.#head = 0;
    }
    return n;
  }

  /** Whether request `id` is still waited for (not settled, not expired). */
  has(id: number): boolean {
    return this.#pending.has(id);
  }

  /** How many proposals are waiting. */
  get size(): number {
    return this.#pending.size;
  }

  /** Rejects every waiter with `err` (the member stops). */
  failAll(err: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    this.#clearDeadlines();
    for (const w of all) w.reject(err);
  }

  #clearDeadlines(): void {
    this.#ids.length = 0;
    this.#deadlines.length = 0;
    this.#head = 0;
  }
}
