/**
 * Per-follower replication state kept by the leader: how far the follower's
 * log matches, what to send next, and how many appends are in flight.
 *
 * @module
 */

import { InvariantViolation } from "./errors.ts";

/** How the leader is currently talking to a follower. */
export enum ProgressState {
  /** Unknown match: send one append at a time and wait for the answer. */
  Probe = 0,
  /** Known match: stream appends optimistically, bounded by inflights. */
  Replicate = 1,
  /** Follower needs a snapshot; nothing else is sent until it reports back. */
  Snapshot = 2,
}

/** A bounded FIFO of the last index of each append sent and not yet acknowledged. */
export class Inflights {
  readonly #capacity: number;
  #buf: number[] = [];
  #start = 0;

  /** @param capacity the maximum number of appends in flight. */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Records an append whose last entry is `index`. */
  add(index: number): void {
    if (this.full()) throw new InvariantViolation("raft: cannot add into a full inflights");
    this.#buf.push(index);
  }

  /** Frees every append acknowledged by a response up to `to`. */
  freeLE(to: number): void {
    while (this.#start < this.#buf.length && this.#buf[this.#start] <= to) this.#start++;
    // Compact occasionally so the array does not grow without bound.
    if (this.#start > 64 && this.#start * 2 > this.#buf.length) {
      this.#buf = this.#buf.slice(this.#start);
      this.#start = 0;
    }
  }

  /** Frees the oldest append in flight (used when its answer seems lost). */
  freeFirstOne(): void {
    if (this.count() > 0) this.freeLE(this.#buf[this.#start]);
  }

  /** Number of appends in flight. */
  count(): number {
    return this.#buf.length - this.#start;
  }

  /** Whether no more appends may be sent. */
  full(): boolean {
    return this.count() >= this.#capacity;
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.#buf = [];
    this.#start = 0;
  }
}

/** The leader's view of one member. */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In Probe state: an append is outstanding, wait for its answer (or a heartbeat). */
  msgAppFlowPaused = false;
  inflights: Inflights;
  isLearner: boolean;

  /** @param next first index to send; @param maxInflight inflight capacity. */
  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing (after a rejection, an unreachable report or a snapshot). */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.#resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  /** Start streaming from the known match. */
  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** A snapshot at `snapshotIndex` is being sent. */
  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
  }

  /** Acknowledgement up to `n`; returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected`, with the follower's hint of
   * where logs may match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In Probe (and Snapshot) only the rejection of the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader must hold back appends to this member. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }

  /** Bookkeeping after sending an append whose last entry is `lastIndex`. */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === ProgressState.Probe) {
      // One probe at a time: wait for its answer or the next heartbeat response.
      this.msgAppFlowPaused = true;
    }
  }
}
