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

/** Ring capacity when idle (a power of two). */
const MIN_RING = 1024;

/**
 * Pending proposals by request id. A waiter is its caller's own
 * {@link Settle} (a unary call, a promise's pair of functions), with no
 * record around it: every put waits here across young-generation
 * collections, so each object per waiter is copied by them. Deadlines sit
 * in a ring of two typed arrays in deadline order instead (no allocation
 * per waiter once the ring is large enough), which the member's one
 * request timeout from a monotonic clock keeps in the order of adding.
 * Settled waiters leave their id in the ring until their deadline: it
 * holds the ids added within one request timeout.
 */
export class Waiters<T> {
  readonly #pending = new Map<number, Settle<T>>();
  /** Request ids and deadlines: `#count` of them from `#head`, modulo the capacity. */
  #ids = new Float64Array(MIN_RING);
  #deadlines = new Float64Array(MIN_RING);
  #head = 0;
  #count = 0;

  /** Registers request `id`, due by `deadline` (ms), settled through `resolve`/`reject`. */
  add(id: number, deadline: number, resolve: (r: T) => void, reject: (e: Error) => void): void {
    this.addSink(id, deadline, { resolve, reject });
  }

  /** Registers request `id`, due by `deadline` (ms), settled through `sink`. */
  addSink(id: number, deadline: number, sink: Settle<T>): void {
    this.#pending.set(id, sink);
    if (this.#count === this.#ids.length) this.#grow();
    const ids = this.#ids;
    const deadlines = this.#deadlines;
    const mask = ids.length - 1;
    let at = (this.#head + this.#count) & mask;
    let left = this.#count;
    // Out of order (a caller with a shorter timeout) moves later ones up,
    // so expire never stops before an overdue waiter.
    while (left > 0) {
      const before = (at - 1) & mask;
      if (deadlines[before] <= deadline) break;
      ids[at] = ids[before];
      deadlines[at] = deadlines[before];
      at = before;
      left--;
    }
    ids[at] = id;
    deadlines[at] = deadline;
    this.#count++;
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
    const mask = ids.length - 1;
    let n = 0;
    while (this.#count > 0 && deadlines[this.#head] <= now) {
      const id = ids[this.#head];
      this.#head = (this.#head + 1) & mask;
      this.#count--;
      const w = this.#pending.get(id);
      // Settled ones left their id behind: only the still pending expire.
      if (w === undefined) continue;
      this.#pending.delete(id);
      w.reject(error());
      n++;
    }
    if (this.#pending.size === 0) this.#clearDeadlines();
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
    this.#head = 0;
    this.#count = 0;
    // A ring grown under load is given back once nothing waits.
    if (this.#ids.length > MIN_RING) {
      this.#ids = new Float64Array(MIN_RING);
      this.#deadlines = new Float64Array(MIN_RING);
    }
  }

  /** Doubles the ring, its entries moved to the front in order. */
  #grow(): void {
    const cap = this.#ids.length;
    const ids = new Float64Array(cap * 2);
    const deadlines = new Float64Array(cap * 2);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) & (cap - 1);
      ids[i] = this.#ids[from];
      deadlines[i] = this.#deadlines[from];
    }
    this.#ids = ids;
    this.#deadlines = deadlines;
    this.#head = 0;
  }
}
