/**
 * Linearizable read batching (DESIGN.md rule 4): every read that arrives
 * while no ReadIndex round is in flight joins the next round, so one
 * confirmation serves all reads waiting at that moment. A batch is released
 * once the member has applied up to the round's read index.
 *
 * @module
 */

interface PendingRead {
  resolve(): void;
  reject(err: Error): void;
  deadline: number;
}

interface Batch {
  ctx: string;
  reads: PendingRead[];
  /** Read index granted by Raft; -1 until the round completes. */
  index: number;
  deadline: number;
}

/** Hooks into the member. */
export interface ReadBarrierHooks {
  /** Starts a ReadIndex round identified by `ctx`. */
  issue(ctx: Uint8Array): void;
  /** The member's applied index now. */
  appliedIndex(): number;
}

/** Batches linearizable reads into ReadIndex rounds. */
export class ReadBarrier {
  readonly #hooks: ReadBarrierHooks;
  #queued: PendingRead[] = [];
  #inFlight: Batch | undefined;
  /** Rounds that have their index and wait for apply to catch up. */
  #waitingApply: Batch[] = [];
  #seq = 0;
  #scheduled = false;

  /** @param hooks how to start a round and read the applied index. */
  constructor(hooks: ReadBarrierHooks) {
    this.#hooks = hooks;
  }

  /** Resolves when a local read would be linearizable; rejects at `deadline`. */
  wait(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queued.push({ resolve, reject, deadline });
      this.#schedule();
    });
  }

  /** Raft answered the round `ctx` with read index `index`. */
  onReadState(ctx: Uint8Array, index: number): void {
    const batch = this.#inFlight;
    if (!batch || batch.ctx !== ctxKey(ctx)) return; // a round we already gave up on
    this.#inFlight = undefined;
    batch.index = index;
    if (index <= this.#hooks.appliedIndex()) release(batch);
    else this.#waitingApply.push(batch);
    this.#schedule();
  }

  /** The member applied up to `applied`: release rounds whose index is reached. */
  onApplied(applied: number): void {
    if (this.#waitingApply.length === 0) return;
    const still: Batch[] = [];
    for (const b of this.#waitingApply) {
      if (b.index <= applied) release(b);
      else still.push(b);
    }
    this.#waitingApply = still;
  }

  /** Fails reads whose deadline passed; a stuck round is abandoned so later reads get a new one. */
  expire(now: number, err: Error): void {
    const expired = (r: PendingRead) => r.deadline <= now;
    if (this.#inFlight && this.#inFlight.deadline <= now) {
      for (const r of this.#inFlight.reads) r.reject(err);
      this.#inFlight = undefined;
    }
    this.#waitingApply = this.#waitingApply.filter((b) => {
      if (b.deadline > now) return true;
      for (const r of b.reads) r.reject(err);
      return false;
    });
    if (this.#queued.some(expired)) {
      for (const r of this.#queued.filter(expired)) r.reject(err);
      this.#queued = this.#queued.filter((r) => !expired(r));
    }
    this.#schedule();
  }

  /** Fails every waiting read (the member is stopping). */
  failAll(err: Error): void {
    const all = [...this.#queued, ...(this.#inFlight?.reads ?? [])];
    for (const b of this.#waitingApply) all.push(...b.reads);
    this.#queued = [];
    this.#inFlight = undefined;
    this.#waitingApply = [];
    for (const r of all) r.reject(err);
  }

  /** Issues the next round after the current turn, so reads arriving together share it. */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight || this.#queued.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#inFlight && this.#queued.length > 0) this.#issueNext();
    });
  }

  #issueNext(): void {
    const reads = this.#queued;
    this.#queued = [];
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, ++this.#seq);
    let deadline = Infinity;
    for (const r of reads) deadline = Math.min(deadline, r.deadline);
    this.#inFlight = { ctx: ctxKey(ctx), reads, index: -1, deadline };
    this.#hooks.issue(ctx);
  }
}

function release(b: Batch): void {
  for (const r of b.reads) r.resolve();
}

function ctxKey(ctx: Uint8Array): string {
  return String.fromCharCode(...ctx);
}
