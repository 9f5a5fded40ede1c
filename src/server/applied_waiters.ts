/**
 * Requests waiting for this member to apply a given log index (etcd's
 * applyWait): a simple token names the entry that issued it, and a member
 * that has not applied that entry yet waits for it before judging the
 * token. Every wait has a deadline.
 *
 * @module
 */

interface Waiting {
  index: number;
  deadline: number;
  resolve(): void;
  reject(err: Error): void;
}

/** Waits keyed by log index, released as the applied index moves. */
export class AppliedWaiters {
  #waiting: Waiting[] = [];

  /** Resolves once `applied() >= index`; rejects at `deadline` (ms) or when failed. */
  wait(index: number, applied: number, deadline: number): Promise<void> {
    if (index <= applied) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.#waiting.push({ index, deadline, resolve, reject })
    );
  }

  /** The member applied up to `applied`. */
  onApplied(applied: number): void {
    if (this.#waiting.length === 0) return;
    const still: Waiting[] = [];
    for (const w of this.#waiting) w.index <= applied ? w.resolve() : still.push(w);
    this.#waiting = still;
  }

  /** Fails the waits whose deadline passed. */
  expire(now: number, err: Error): void {
    if (this.#waiting.length === 0) return;
    const still: Waiting[] = [];
    for (const w of this.#waiting) w.deadline <= now ? w.reject(err) : still.push(w);
    this.#waiting = still;
  }

  /** Fails every wait (the member stops). */
  failAll(err: Error): void {
    for (const w of this.#waiting) w.reject(err);
    this.#waiting = [];
  }
}
