/**
 * RaftLog: the member's view of the log, made of the persisted part
 * (MemoryStorage) and an unstable tail (entries or a snapshot received but
 * not yet handed to the application for persisting).
 *
 * @module
 */

import { ErrCompacted, ErrUnavailable, InvariantViolation } from "./errors.ts";
import { limitSize, type MemoryStorage } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

/** Entries and/or a snapshot not yet persisted; `offset` is the index of entries[0]. */
export class Unstable {
  snapshot?: Snapshot;
  entries: Entry[] = [];
  offset: number;

  /** @param offset index of the first unstable entry (storage last index + 1). */
  constructor(offset: number) {
    this.offset = offset;
  }

  /** Last index held here, if any. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  /** First index held here, only when a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.meta.index + 1;
  }

  /** Term of entry `i` if this tail knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.meta.index === i) {
        return this.snapshot.meta.term;
      }
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset].term;
  }

  /** Drops entries up to `i` once they are persisted (if still the same entries). */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    // Only when the term matches: otherwise the entry was replaced since the Ready.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  /** Forgets the pending snapshot once persisted. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  /** Replaces everything by a snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends entries, truncating whatever they overlap. */
  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      // In place: `entries` is never handed out (a Ready gets a copy), and a
      // concat per proposal copied the whole unstable tail each time,
      // quadratic in the proposals between two Readies.
      const entries = this.entries;
      for (let i = 0; i < ents.length; i++) entries.push(ents[i]);
    } else if (after <= this.offset) {
      // The new entries replace the whole unstable tail (and part of storage).
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  /** {@link truncateAndAppend} of `[e]`, with no array when `e` directly follows the tail. */
  appendOne(e: Entry): void {
    if (e.index === this.offset + this.entries.length) this.entries.push(e);
    else this.truncateAndAppend([e]);
  }

  /** Entries in [lo, hi) (caller guarantees they are all here). */
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The member's log: storage plus unstable tail, with commit and applied indexes. */
export class RaftLog {
  readonly storage: MemoryStorage;
  unstable: Unstable;
  /** Highest index known to be committed by a quorum. */
  committed: number;
  /** Highest index handed to the application for applying (and acknowledged via advance). */
  applied: number;

  /** @param storage the persisted log to start from. */
  constructor(storage: MemoryStorage) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  /** First index still available in the log. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Index of the last entry. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry `i`: `null` if compacted, 0 if beyond the end. */
  term(i: number): number | null {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) return null;
    if (i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof ErrCompacted) return null;
      if (e instanceof ErrUnavailable) return 0;
      throw e;
    }
  }

  /** Term of entry `i`, with "compacted" mapped to 0. */
  zeroTerm(i: number): number {
    return this.term(i) ?? 0;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.zeroTerm(this.lastIndex());
  }

  /** Whether the entry at `i` exists with term `t`. */
  matchTerm(i: number, t: number): boolean {
    const got = this.term(i);
    return got !== null && got === t && i <= this.lastIndex();
  }

  /** Whether a log ending at (lasti, term) is at least as up to date as ours. */
  isUpToDate(lasti: number, term: number): boolean {
    const ours = this.lastTerm();
    return term > ours || (term === ours && lasti >= this.lastIndex());
  }

  /**
   * Follower side of MsgApp: appends `ents` after (index, logTerm) if they
   * match, returning the index of the last new entry, or null on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    // Both checks come before anything changes: a leader that breaks them
    // is broken or forged, and this log must stay as it was for the
    // post-mortem (etcd panics on the first; the second would leave a gap).
    if (ci !== 0 && ci <= this.committed) {
      throw new InvariantViolation(
        `raft: entry ${ci} conflicts with committed entry [committed(${this.committed})]`,
      );
    }
    checkFollows(index, logTerm, ents);
    if (ci !== 0) this.append(ents.slice(ci - (index + 1)));
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries (truncating a conflicting tail); returns the new last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) {
      throw new InvariantViolation(
        `raft: append after(${after}) is below committed(${this.committed})`,
      );
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** {@link append} of `[e]` without the array (a leader's proposal); returns the new last index. */
  appendOne(e: Entry): number {
    const after = e.index - 1;
    if (after < this.committed) {
      throw new InvariantViolation(
        `raft: append after(${after}) is below committed(${this.committed})`,
      );
    }
    this.unstable.appendOne(e);
    return this.lastIndex();
  }

  /** Index of the first entry of `ents` that is new or conflicts; 0 if all already present. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Largest index <= `index` whose term is <= `term`, with that term: the
   * fast back-off used on rejected appends (one round trip per term).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (;;) {
      const t = this.term(index);
      if (t === null) return [index, 0];
      if (t <= term) return [index, t];
      index--;
    }
  }

  /** Raises the commit index (never lowers it). */
  commitTo(to: number): void {
    if (this.committed < to) {
      if (this.lastIndex() < to) {
        throw new InvariantViolation(
          `raft: commit ${to} is out of range [lastIndex ${this.lastIndex()}]`,
        );
      }
      this.committed = to;
    }
  }

  /** Records that the application applied up to `i`. */
  appliedTo(i: number): void {
    if (i === 0) return;
    if (this.committed < i || i < this.applied) {
      throw new InvariantViolation(
        `raft: applied(${i}) out of range [${this.applied}, ${this.committed}]`,
      );
    }
    this.applied = i;
  }

  /** Commit if `maxIndex` has term `term` (a leader only commits its own term directly). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTerm(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Last index that is persisted and consistent with this log view. */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    if (this.unstable.entries.length > 0) return this.unstable.offset - 1;
    return this.lastIndex();
  }

  /** Entries handed to the application to persist. */
  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed, persisted, not yet applied entries, at most `maxBytes` worth. */
  nextCommittedEnts(maxBytes = Infinity): Entry[] {
    if (this.unstable.snapshot !== undefined) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = Math.min(this.committed, this.stableLastIndex()) + 1;
    if (hi <= lo) return [];
    return this.slice(lo, hi, maxBytes);
  }

  /** Whether `nextCommittedEnts` would return something. */
  hasNextCommittedEnts(): boolean {
    if (this.unstable.snapshot !== undefined) return false;
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return Math.min(this.committed, this.stableLastIndex()) + 1 > lo;
  }

  /** Entries from `lo` to the end, limited in size; throws ErrCompacted below firstIndex. */
  entries(lo: number, maxBytes = Infinity): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries in [lo, hi), from storage and/or the unstable tail. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo < this.firstIndex()) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1) {
      throw new InvariantViolation(
        `raft: slice[${lo},${hi}) out of bound lastIndex ${this.lastIndex()}`,
      );
    }
    if (lo >= hi) return [];
    let ents: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      ents = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      // Storage hit the size limit: stop there.
      if (ents.length < Math.min(hi, off) - lo) return ents;
    }
    if (hi > off) {
      const tail = this.unstable.slice(Math.max(lo, off), hi);
      ents = ents.length > 0 ? ents.concat(tail) : tail;
    }
    return limitSize(ents, maxBytes);
  }

  /** The snapshot to send to a lagging follower. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log by a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}

/**
 * Log matching: entries appended after (index, logTerm) must be numbered
 * index+1, index+2, ... with terms that never go down, starting no lower
 * than logTerm. A leader cannot send anything else, so anything else is an
 * invariant violation, not a message to drop.
 */
function checkFollows(index: number, logTerm: number, ents: Entry[]): void {
  let term = logTerm;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i];
    if (e.index !== index + 1 + i || e.term < term) {
      throw new InvariantViolation(
        `raft: log matching violated: entry ${e.index} (term ${e.term}) cannot follow ` +
          `${i === 0 ? index : ents[i - 1].index} (term ${term})`,
      );
    }
    term = e.term;
  }
}
