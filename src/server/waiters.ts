/**
 * Proposals this member made that wait for their entry to be applied: the
 * request id travels in the entry, and applying it settles the waiter with
 * the apply result or error. Each waiter has a deadline (etcd's request
 * timeout), swept by the member's timer.
 *
 * @module
 */

interface Waiter<T> {
  resolve(r: T): void;
  reject(e: Error): void;
  deadline: number;
}

/** Pending proposals by request id. */
export class Waiters<T> {
  readonly #pending = new Map<number, Waiter<T>>();

  /** Registers request `id`, due by `deadline` (ms since the epoch). */
  add(id: number, deadline: number, resolve: (r: T) => void, reject: (e: Error) => void): void {
    this.#pending.set(id, { resolve, reject, deadline });
  }

  /** Removes and returns the waiter of `id`, if this member is waiting for it. */
  take(id: number): { resolve(r: T): void; reject(e: Error): void } | undefined {
    const w = this.#pending.get(id);
    if (w) this.#pending.delete(id);
    return w;
  }

  /** Rejects every waiter whose deadline passed, with `error()`; returns how many. */
  expire(now: number, error: () => Error): number {
    let n = 0;
    for (const [id, w] of this.#pending) {
      if (w.deadline > now) continue;
      this.#pending.delete(id);
      w.reject(error());
      n++;
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
    for (const w of this.#pending.values()) w.reject(err);
    this.#pending.clear();
  }
}
