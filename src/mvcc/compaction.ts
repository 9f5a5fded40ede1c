/**
 * Runs a store's compactions in steps (issue 14 part 6). A compaction's
 * revision takes effect at once (the store raises its compact revision and
 * the key index's compaction point, see `KeyIndex.retained`); dropping the
 * obsolete versions and moving survivors out of sparse slabs
 * (`KeyIndex.compactSteps`) happens here, a bounded number of versions per
 * step with a pause between steps that lets the event loop, and so the
 * Raft loop, heartbeats and new writes, run. At 1,000,000 keys the work
 * done in one piece held the loop for about a second, long enough to cost
 * a leader its lease. etcd does the same with its compaction batches
 * (`--experimental-compaction-batch-limit`, a pause between batches).
 *
 * One compaction's work at a time. A compaction asked for while one is
 * under way waits for it; several waiting are done as one, at the newest
 * revision, which leaves exactly what doing them one after another would
 * (compacting at `b >= a` drops everything compacting at `a` does).
 *
 * The first step runs at once, inside the call that asks: a small store
 * is compacted before the call returns and no timer is ever set.
 *
 * @module
 */
import type { KeyIndex } from "./history.ts";
import type { Steps } from "./steps.ts";

/** Versions handled per step (a few milliseconds of work on a busy core). */
export const COMPACTION_STEP_VERSIONS = 8192;

/** A pause that yields to the event loop (a timer, not a microtask: I/O and timers get their turn). */
export const macrotaskPause = (): Promise<void> =>
  new Promise<void>((resolve) => setTimeout(resolve, 0));

interface Waiter {
  rev: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One key index's compaction work, done in steps. */
export class CompactionRunner {
  readonly #index: KeyIndex;
  /** Awaited between steps (replaceable: a member hands its own clock's pause). */
  pause: () => Promise<void> = macrotaskPause;
  /** Versions handled per step. */
  stepVersions = COMPACTION_STEP_VERSIONS;
  /** The compaction whose work is under way, and its steps. */
  #job: { rev: number; steps: Steps<void> } | undefined;
  /** The newest revision asked for. */
  #wanted = -1;
  /** The newest revision whose work is done. */
  #done = -1;
  #waiters: Waiter[] = [];
  #driving = false;

  /** @param index the key index whose obsolete versions this drops */
  constructor(index: KeyIndex) {
    this.#index = index;
  }

  /** Whether some compaction's work is not done yet. */
  get busy(): boolean {
    return this.#done < this.#wanted;
  }

  /**
   * Schedules the work of a compaction at `rev` (the caller has already
   * checked `rev` and made it the index's compaction point); runs the
   * first step now. Resolves when the work of every compaction up to
   * `rev` is done; rejects only if a pause rejected (the work was
   * abandoned: a stopping member).
   */
  request(rev: number): Promise<void> {
    if (rev > this.#wanted) this.#wanted = rev;
    const p = rev <= this.#done ? Promise.resolve() : new Promise<void>((resolve, reject) => {
      this.#waiters.push({ rev, resolve, reject });
    });
    // Nobody has to wait for it: an abandoned compaction is not an unhandled rejection.
    p.catch(() => {});
    if (!this.#driving && this.#step()) void this.#drive();
    return p;
  }

  /** Resolves when the work of every compaction asked for so far is done. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return this.request(this.#wanted);
  }

  /**
   * Does all outstanding work now, in one go (a caller that needs the
   * store fully compacted before it goes on: a sync compaction, tools).
   */
  finishNow(): void {
    while (this.#step());
  }

  /**
   * Does all outstanding work, awaiting `pause` between steps (a caller
   * with its own pause, such as Defragment, which must see the space a
   * compaction frees). Steps alternate with the runner's own pauses; each
   * is whole, so the work is the same.
   */
  async finish(pause: () => Promise<void>): Promise<void> {
    while (this.#step()) await pause();
  }

  /** Runs one step; returns whether work is left. */
  #step(): boolean {
    if (this.#job === undefined) {
      if (this.#done >= this.#wanted) return false;
      const rev = this.#wanted;
      this.#job = { rev, steps: this.#index.compactSteps(rev, this.stepVersions) };
    }
    const job = this.#job;
    if (!job.steps.next().done) return true;
    this.#job = undefined;
    this.#done = job.rev;
    this.#settle();
    return this.#done < this.#wanted;
  }

  /**
   * Steps with pauses between them until no work is left. Only a pause's
   * rejection abandons the work; anything a step throws (a broken
   * invariant of the index) escapes as an unhandled rejection and stops
   * the process, as a failed apply would (DESIGN.md rule 6).
   */
  async #drive(): Promise<void> {
    this.#driving = true;
    try {
      for (;;) {
        try {
          await this.pause();
        } catch (err) {
          // Abandoned (a stopping member): the index keeps what is done; the
          // compaction point stands, so reads and digests are unaffected.
          this.#job?.steps.return(undefined);
          this.#job = undefined;
          for (const w of this.#waiters.splice(0)) w.reject(err);
          return;
        }
        if (!this.#step()) return;
      }
    } finally {
      this.#driving = false;
    }
  }

  #settle(): void {
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.rev <= this.#done) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }
}
