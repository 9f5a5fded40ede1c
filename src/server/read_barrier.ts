/**
 * Linearizable read batching (DESIGN.md rule 4): every read that arrives
 * while no ReadIndex round is in flight joins the next round, so one
 * confirmation serves all reads waiting at that moment. A batch is released
 * once the member has applied up to the round's read index.
 *
 * A round can be lost without an answer: a follower that knows no leader
 * drops the request, and a leader that is deposed (or cut off) never
 * answers. So a round unanswered for `retryMs` is sent again, and at once
 * when the member learns of a new leader, as etcd does (readIndexRetryTime).
 * Without that, a member rejoining after a partition kept every read waiting
 * behind a round sent while it was cut off, until that round's deadline
 * (seconds after the partition healed).
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
  /** The context bytes sent to Raft, kept to send the round again. */
  ctxBytes: Uint8Array;
  /** Read index granted by Raft; -1 until the round completes. */
  index: number;
  deadline: number;
  /** When the round was (last) sent to Raft. */
  sentAt: number;
}

/** How long a round may go unanswered before it is sent again (etcd's readIndexRetryTime). */
export const DEFAULT_READ_RETRY_MS = 500;

/** Hooks into the member. */
export interface ReadBarrierHooks {
  /** Starts a ReadIndex round identified by `ctx`. */
  issue(ctx: Uint8Array): void;
  /** The member's applied index now. */
  appliedIndex(): number;
  /** Clock for retries, in the unit of the deadlines. Default `Date.now`. */
  now?: () => number;
  /** Resend a round unanswered for this long. Default {@link DEFAULT_READ_RETRY_MS}. */
  retryMs?: number;
  /** A round was sent again for want of an answer (etcd's slow read index). */
  onSlowRound?(): void;
  /**
   * Where round numbers start (default 0). A member passes a random one:
   * the leader's answer to a round of its previous process may arrive
   * after a restart, and must not match a new round of the same number
   * (its index predates writes acknowledged before the new reads began).
   * etcd numbers its rounds with its time-seeded request ids for the same
   * reason.
   */
  firstSeq?: number;
}

/** Batches linearizable reads into ReadIndex rounds. */
export class ReadBarrier {
  readonly #hooks: ReadBarrierHooks;
  readonly #now: () => number;
  readonly #retryMs: number;
  #queued: PendingRead[] = [];
  #inFlight: Batch | undefined;
  /** Rounds that have their index and wait for apply to catch up. */
  #waitingApply: Batch[] = [];
  #seq = 0;
  #scheduled = false;

  /** @param hooks how to start a round and read the applied index. */
  constructor(hooks: ReadBarrierHooks) {
    this.#hooks = hooks;
    this.#now = hooks.now ?? Date.now;
    this.#retryMs = hooks.retryMs ?? DEFAULT_READ_RETRY_MS;
    this.#seq = hooks.firstSeq ?? 0;
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

  /**
   * The member learned of a new leader (not "no leader"): the round in
   * flight was dropped or went to a former leader, so send it again now.
   */
  onLeaderChange(): void {
    const batch = this.#inFlight;
    if (batch === undefined) return;
    // Not from inside the caller's Ready handling: Raft is stepped in a later microtask.
    queueMicrotask(() => {
      if (this.#inFlight === batch) this.#resend(batch);
    });
  }

  /**
   * Called periodically: fails reads whose deadline passed (a stuck round is
   * abandoned so later reads get a new one) and sends again a round left
   * unanswered for `retryMs`. Returns how many reads failed.
   */
  expire(now: number, err: Error): number {
    let failed = 0;
    const expired = (r: PendingRead) => r.deadline <= now;
    if (this.#inFlight && this.#inFlight.deadline <= now) {
      for (const r of this.#inFlight.reads) r.reject(err);
      failed += this.#inFlight.reads.length;
      this.#inFlight = undefined;
    } else if (this.#inFlight && now - this.#inFlight.sentAt >= this.#retryMs) {
      this.#hooks.onSlowRound?.();
      this.#resend(this.#inFlight);
    }
    this.#waitingApply = this.#waitingApply.filter((b) => {
      if (b.deadline > now) return true;
      for (const r of b.reads) r.reject(err);
      failed += b.reads.length;
      return false;
    });
    if (this.#queued.some(expired)) {
      const late = this.#queued.filter(expired);
      for (const r of late) r.reject(err);
      failed += late.length;
      this.#queued = this.#queued.filter((r) => !expired(r));
    }
    this.#schedule();
    return failed;
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
    this.#inFlight = {
      ctx: ctxKey(ctx),
      ctxBytes: ctx,
      reads,
      index: -1,
      deadline,
      sentAt: this.#now(),
    };
    this.#hooks.issue(ctx);
  }

  /**
   * Sends the round again with the same context: whichever answer comes
   * first releases it (any read index granted after the reads arrived is
   * linearizable for them), later ones are ignored.
   */
  #resend(batch: Batch): void {
    batch.sentAt = this.#now();
    this.#hooks.issue(batch.ctxBytes);
  }
}

function release(b: Batch): void {
  for (const r of b.reads) r.resolve();
}

function ctxKey(ctx: Uint8Array): string {
  return String.fromCharCode(...ctx);
}
