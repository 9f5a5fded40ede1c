/**
 * MemoryStorage: the log as the application has persisted it. The server
 * mirrors its WAL and snapshot files into it; the core only reads from it.
 *
 * Like etcd's MemoryStorage, `ents[0]` is a dummy entry standing for the
 * last compacted entry (the snapshot point): its index and term are kept so
 * that `term(firstIndex - 1)` still answers.
 *
 * @module
 */

import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, InvariantViolation } from "./errors.ts";
import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";
import { EMPTY_BYTES, EntryType, NONE } from "./types.ts";

/** Approximate size of an entry on the wire, for message size limits. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

/** Keeps a prefix of `ents` whose total size is within `maxBytes`, but always at least one. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0 || maxBytes === Infinity) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

function copyConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

/** The persisted log, hard state and latest snapshot, held in memory. */
export class MemoryStorage {
  #hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  #snapshot: Snapshot = {
    meta: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: EMPTY_BYTES,
  };
  #ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }];

  /** The hard state and membership to start from (membership of the snapshot). */
  initialState(): { hardState: HardState; confState: ConfState } {
    return {
      hardState: { ...this.#hardState },
      confState: copyConfState(this.#snapshot.meta.confState),
    };
  }

  /** The persisted hard state. */
  hardState(): HardState {
    return { ...this.#hardState };
  }

  /** Records the hard state (the application has just persisted it). */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** Entries in [lo, hi), limited to `maxBytes` (at least one entry is returned). */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const offset = this.#ents[0].index;
    if (lo <= offset) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1) {
      throw new InvariantViolation(
        `raft: entries hi(${hi}) out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    if (lo >= hi) return [];
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  /** Term of entry `i`; throws ErrCompacted below the snapshot, ErrUnavailable past the end. */
  term(i: number): number {
    const offset = this.#ents[0].index;
    if (i < offset) throw new ErrCompacted();
    if (i - offset >= this.#ents.length) throw new ErrUnavailable();
    return this.#ents[i - offset].term;
  }

  /** Index of the last entry (or of the snapshot if the log is empty). */
  lastIndex(): number {
    return this.#ents[0].index + this.#ents.length - 1;
  }

  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number {
    return this.#ents[0].index + 1;
  }

  /** The most recent snapshot (index 0 when none has been made). */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the whole log by a received snapshot. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) throw new ErrSnapOutOfDate();
    this.#snapshot = snap;
    this.#ents = [{
      term: snap.meta.term,
      index: snap.meta.index,
      type: EntryType.Normal,
      data: EMPTY_BYTES,
    }];
  }

  /** Records a snapshot of the state machine taken at applied index `i`; returns it. */
  createSnapshot(i: number, cs: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.meta.index) throw new ErrSnapOutOfDate();
    if (i > this.lastIndex()) {
      throw new InvariantViolation(
        `raft: snapshot ${i} is out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    const term = this.#ents[i - this.#ents[0].index].term;
    this.#snapshot = { meta: { index: i, term, confState: copyConfState(cs) }, data };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex` (keeps it as the dummy). */
  compact(compactIndex: number): void {
    const offset = this.#ents[0].index;
    if (compactIndex <= offset) throw new ErrCompacted();
    if (compactIndex > this.lastIndex()) {
      throw new InvariantViolation(
        `raft: compact ${compactIndex} is out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    const i = compactIndex - offset;
    const dummy: Entry = {
      term: this.#ents[i].term,
      index: this.#ents[i].index,
      type: EntryType.Normal,
      data: EMPTY_BYTES,
    };
    this.#ents = [dummy, ...this.#ents.slice(i + 1)];
  }

  /**
   * Appends persisted entries; entries overlapping existing ones replace them
   * and everything after (a conflict was resolved by the leader).
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    if (first > entries[0].index) entries = entries.slice(first - entries[0].index);
    const offset = entries[0].index - this.#ents[0].index;
    if (this.#ents.length >= offset) {
      // Truncate any conflicting suffix, then append in place (entries() hands out copies).
      this.#ents.length = offset;
      for (const e of entries) this.#ents.push(e);
    } else {
      throw new InvariantViolation(
        `raft: missing log entry [last: ${this.lastIndex()}, append at: ${entries[0].index}]`,
      );
    }
  }
}
