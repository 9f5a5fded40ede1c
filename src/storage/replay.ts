/**
 * Folds the WAL's entry and snapshot records, oldest first, into what a
 * restarting member needs: the newest snapshot marker and the log entries
 * after it, with Raft's truncation semantics (an entry at index i replaces
 * i and drops everything after it).
 *
 * The log is kept in columns (typed arrays: term, type, where the data
 * lies), not as entry objects: a restart reads every retained record (up
 * to a million with 1,000,000 keys), while only the entries after the
 * newest snapshot marker survive. The caller reads the survivors' data
 * once the replay is done ({@link ReplayLog.finish}); an entry's data is
 * named by a segment number and a byte range the caller chose.
 *
 * @module
 */
import type { SnapshotMarker } from "./record.ts";
import { WalCorruptError } from "./record.ts";

/** Accumulates records and produces the surviving run of entries. */
export class ReplayLog {
  /** The newest snapshot marker seen. */
  snapshot: SnapshotMarker | undefined;
  #term = new Float64Array(1024);
  #type = new Uint8Array(1024);
  #seg = new Uint32Array(1024);
  #off = new Float64Array(1024);
  #len = new Uint32Array(1024);
  /** Column slot of the run's first entry. */
  #head = 0;
  /** Entries in the run. */
  #n = 0;
  /** Log index of the run's first entry. */
  #first = 0;
  /** Where the current run of contiguous entries started, for error messages. */
  #runPath = "";
  #runOffset = 0;

  /**
   * An entry record at `path`:`recordOffset`; its data is `len` bytes at
   * `off` of segment `seg` (the caller's numbering).
   */
  entry(
    term: number,
    index: number,
    type: number,
    seg: number,
    off: number,
    len: number,
    path: string,
    recordOffset: number,
  ): void {
    let n = this.#n;
    if (n > 0) {
      const last = this.#first + n - 1;
      if (index <= last) {
        // A new leader overwrote our uncommitted tail: keep only what precedes it.
        n = Math.max(0, index - this.#first);
      } else if (index > last + 1) {
        // A jump forward is legal only across a snapshot (checked in finish()).
        n = 0;
      }
    }
    if (n === 0) {
      this.#head = 0;
      this.#first = index;
      this.#runPath = path;
      this.#runOffset = recordOffset;
    }
    this.#n = n;
    const k = this.#slot();
    this.#term[k] = term;
    this.#type[k] = type;
    this.#seg[k] = seg;
    this.#off[k] = off;
    this.#len[k] = len;
    this.#n = n + 1;
  }

  /** A snapshot marker record. */
  snapshotMarker(term: number, index: number): void {
    if (this.snapshot === undefined || index >= this.snapshot.index) {
      this.snapshot = { term, index };
      this.#dropThrough(index);
      this.#dropOlderTerms(term);
    }
  }

  /**
   * Entries after the newest snapshot marker, as the run's first index and
   * length; read each with {@link termAt} and the other accessors (0 is the
   * first). Throws {@link WalCorruptError} if entries are missing after the
   * marker.
   */
  finish(): { first: number; count: number } {
    const snapIndex = this.snapshot?.index ?? 0;
    this.#dropThrough(snapIndex);
    if (this.#n > 0 && this.#first !== snapIndex + 1) {
      throw new WalCorruptError(
        this.#runPath,
        this.#runOffset,
        `entries resume at index ${this.#first} but the snapshot marker is at index ` +
          `${snapIndex}: entries in between are missing`,
      );
    }
    return { first: this.#first, count: this.#n };
  }

  /** Term of the run's `i`th entry. */
  termAt(i: number): number {
    return this.#term[this.#head + i];
  }

  /** Entry type of the run's `i`th entry. */
  typeAt(i: number): number {
    return this.#type[this.#head + i];
  }

  /** Segment number of the run's `i`th entry's data. */
  segAt(i: number): number {
    return this.#seg[this.#head + i];
  }

  /** Byte offset of the run's `i`th entry's data in its segment. */
  offAt(i: number): number {
    return this.#off[this.#head + i];
  }

  /** Length of the run's `i`th entry's data. */
  lenAt(i: number): number {
    return this.#len[this.#head + i];
  }

  /** The column slot for the next entry: moves the run down or grows the columns if full. */
  #slot(): number {
    const cap = this.#term.length;
    if (this.#head + this.#n < cap) return this.#head + this.#n;
    const h = this.#head;
    const n = this.#n;
    if (n < cap / 2) {
      // Markers dropped the front of the run: reuse that room.
      this.#term.copyWithin(0, h, h + n);
      this.#type.copyWithin(0, h, h + n);
      this.#seg.copyWithin(0, h, h + n);
      this.#off.copyWithin(0, h, h + n);
      this.#len.copyWithin(0, h, h + n);
    } else {
      this.#term = grown(this.#term, h, n, new Float64Array(cap * 2));
      this.#type = grown(this.#type, h, n, new Uint8Array(cap * 2));
      this.#seg = grown(this.#seg, h, n, new Uint32Array(cap * 2));
      this.#off = grown(this.#off, h, n, new Float64Array(cap * 2));
      this.#len = grown(this.#len, h, n, new Uint32Array(cap * 2));
    }
    this.#head = 0;
    return n;
  }

  /**
   * Entries after a snapshot with a lower term than the snapshot's are a
   * stale log the snapshot replaced (one received from the leader because
   * ours diverged): a valid log never goes down in term. Nothing has
   * overwritten them yet if the member stopped right after the install.
   */
  #dropOlderTerms(term: number): void {
    const h = this.#head;
    for (let i = 0; i < this.#n; i++) {
      if (this.#term[h + i] < term) {
        this.#n = i;
        return;
      }
    }
  }

  #dropThrough(index: number): void {
    const n = this.#n;
    if (n === 0 || this.#first > index) return;
    const k = Math.min(n, index - this.#first + 1);
    this.#head += k;
    this.#first += k;
    this.#n = n - k;
    if (this.#n === 0) this.#head = 0;
  }
}

function grown<T extends Float64Array | Uint32Array | Uint8Array>(
  from: T,
  head: number,
  n: number,
  to: T,
): T {
  to.set(from.subarray(head, head + n));
  return to;
}
