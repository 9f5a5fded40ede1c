/**
 * MemoryStorage: the log as the application has persisted it. The server
 * mirrors its WAL and snapshot files into it; the core only reads from it.
 *
 * Like etcd's MemoryStorage, the first entry kept is a dummy standing for
 * the last compacted entry (the snapshot point): its index and term are
 * kept so that `term(firstIndex - 1)` still answers.
 *
 * The log is held in columns (typed arrays of terms, types and where each
 * entry's bytes are), not as one object per entry: a member with peers
 * keeps every entry since its last snapshot (up to --snapshot-count, and
 * the benchmarks use a million), and as objects each cost ~0.5 KB of V8
 * heap that every scavenge promoted and every full collection walked.
 * Small entries' bytes are copied into shared slabs ({@link packEntries});
 * larger ones keep their own buffer. {@link MemoryStorage.entries} builds
 * entry objects on demand, whose data are views of the slabs: a slab is
 * never rewritten, so a view handed out stays valid however the log
 * changes afterwards.
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

/** Entries up to this size are copied into slabs when packing; larger ones keep their buffer. */
export const PACK_MAX_BYTES = 4096;
/** Size of one slab of packed entry bytes. */
export const SLAB_BYTES = 1 << 20;
/** Columns longer than this shrink when an eighth of them is in use. */
const SHRINK_FROM = 4096;
/** Marks an entry whose bytes are its own buffer (in `#own`), not in a slab. */
const OWN = -1;

/** The persisted log, hard state and latest snapshot, held in memory. */
export class MemoryStorage {
  #hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  #snapshot: Snapshot = {
    meta: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: EMPTY_BYTES,
  };
  /**
   * Whether appended entries of at most {@link PACK_MAX_BYTES} are copied
   * into slabs. On by default; a lone member, which trims its log every
   * few hundred entries, turns it off (the copy would buy nothing).
   */
  packEntries = true;

  // The log: entry `#offset + k` (k = 0 is the dummy) at column `#head + k`.
  #offset = 0;
  #count = 1;
  #head = 0;
  #terms = new Float64Array(64);
  #types = new Uint8Array(64);
  /** Slab id of each entry's bytes, or OWN. */
  #slabOf = new Int32Array(64);
  #starts = new Uint32Array(64);
  #lengths = new Uint32Array(64);
  /** The bytes of OWN entries (undefined for packed ones). */
  #own: (Uint8Array | undefined)[] = new Array(64);
  /** Live slabs; `#slabs[0]` has id `#slabBase`; the last one is being filled. */
  #slabs: Uint8Array[] = [];
  /** The highest index packed into each live slab. */
  #slabLast: number[] = [];
  #slabBase = 0;
  /** Bytes used of the last slab. */
  #slabUsed = SLAB_BYTES;

  constructor() {
    this.#own[0] = EMPTY_BYTES;
    this.#slabOf[0] = OWN;
  }

  /** Slabs of packed entry bytes held now. */
  get slabCount(): number {
    return this.#slabs.length;
  }

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
    const offset = this.#offset;
    if (lo <= offset) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1) {
      throw new InvariantViolation(
        `raft: entries hi(${hi}) out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    if (lo >= hi) return [];
    const from = this.#head + lo - offset;
    let to = this.#head + hi - offset;
    if (maxBytes !== Infinity) {
      // limitSize's rule, on the lengths alone: at least one entry.
      let size = this.#lengths[from] + 24;
      let p = from + 1;
      for (; p < to; p++) {
        size += this.#lengths[p] + 24;
        if (size > maxBytes) break;
      }
      to = p;
    }
    const out: Entry[] = new Array(to - from);
    for (let p = from; p < to; p++) {
      out[p - from] = {
        term: this.#terms[p],
        index: offset + p - this.#head,
        type: this.#types[p] as EntryType,
        data: this.#dataAt(p),
      };
    }
    return out;
  }

  /** Term of entry `i`; throws ErrCompacted below the snapshot, ErrUnavailable past the end. */
  term(i: number): number {
    const offset = this.#offset;
    if (i < offset) throw new ErrCompacted();
    if (i - offset >= this.#count) throw new ErrUnavailable();
    return this.#terms[this.#head + i - offset];
  }

  /** Index of the last entry (or of the snapshot if the log is empty). */
  lastIndex(): number {
    return this.#offset + this.#count - 1;
  }

  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number {
    return this.#offset + 1;
  }

  /** The most recent snapshot (index 0 when none has been made). */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the whole log by a received snapshot. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) throw new ErrSnapOutOfDate();
    this.#snapshot = snap;
    this.#own.fill(undefined, this.#head, this.#head + this.#count);
    this.#head = 0;
    this.#count = 1;
    this.#setDummy(0, snap.meta.index, snap.meta.term);
    this.#slabBase += this.#slabs.length;
    this.#slabs = [];
    this.#slabLast = [];
    this.#slabUsed = SLAB_BYTES;
  }

  /** Records a snapshot of the state machine taken at applied index `i`; returns it. */
  createSnapshot(i: number, cs: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.meta.index) throw new ErrSnapOutOfDate();
    if (i > this.lastIndex()) {
      throw new InvariantViolation(
        `raft: snapshot ${i} is out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    const term = this.#terms[this.#head + i - this.#offset];
    this.#snapshot = { meta: { index: i, term, confState: copyConfState(cs) }, data };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex` (keeps it as the dummy). */
  compact(compactIndex: number): void {
    const offset = this.#offset;
    if (compactIndex <= offset) throw new ErrCompacted();
    if (compactIndex > this.lastIndex()) {
      throw new InvariantViolation(
        `raft: compact ${compactIndex} is out of bound lastIndex(${this.lastIndex()})`,
      );
    }
    const k = compactIndex - offset;
    const p = this.#head + k;
    this.#own.fill(undefined, this.#head, p);
    this.#head = p;
    this.#count -= k;
    this.#setDummy(p, compactIndex, this.#terms[p]);
    // A slab goes once every entry packed into it is compacted (the last
    // one is kept while it is being filled).
    let drop = 0;
    while (drop < this.#slabs.length - 1 && this.#slabLast[drop] <= compactIndex) drop++;
    if (drop > 0) {
      this.#slabs.splice(0, drop);
      this.#slabLast.splice(0, drop);
      this.#slabBase += drop;
    }
    // Columns grown for a long log (a million entries: ~30 MB) shrink
    // once most of it is compacted away.
    const cap = this.#terms.length;
    if (cap > SHRINK_FROM && this.#count * 8 < cap) {
      let size = 64;
      while (size < this.#count * 2) size *= 2;
      this.#shift(this.#head, 0, size);
    }
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
    const at = entries[0].index - this.#offset;
    if (this.#count < at) {
      throw new InvariantViolation(
        `raft: missing log entry [last: ${this.lastIndex()}, append at: ${entries[0].index}]`,
      );
    }
    // Truncate any conflicting suffix (its packed bytes stay in their slab,
    // never rewritten: views of them may still be out), then append.
    this.#own.fill(undefined, this.#head + at, this.#head + this.#count);
    this.#count = at;
    this.#reserve(entries.length);
    for (const e of entries) this.#push(e);
  }

  #dataAt(p: number): Uint8Array {
    const slab = this.#slabOf[p];
    if (slab === OWN) return this.#own[p]!;
    const start = this.#starts[p];
    return this.#slabs[slab - this.#slabBase].subarray(start, start + this.#lengths[p]);
  }

  #setDummy(p: number, index: number, term: number): void {
    this.#offset = index;
    this.#terms[p] = term;
    this.#types[p] = EntryType.Normal;
    this.#slabOf[p] = OWN;
    this.#lengths[p] = 0;
    this.#own[p] = EMPTY_BYTES;
  }

  #push(e: Entry): void {
    const p = this.#head + this.#count;
    this.#count++;
    this.#terms[p] = e.term;
    this.#types[p] = e.type;
    const n = e.data.length;
    this.#lengths[p] = n;
    if (!this.packEntries || n === 0 || n > PACK_MAX_BYTES) {
      this.#slabOf[p] = OWN;
      this.#own[p] = e.data;
      return;
    }
    if (this.#slabs.length === 0 || this.#slabUsed + n > SLAB_BYTES) {
      this.#slabs.push(new Uint8Array(SLAB_BYTES));
      this.#slabLast.push(e.index);
      this.#slabUsed = 0;
    }
    const last = this.#slabs.length - 1;
    this.#slabs[last].set(e.data, this.#slabUsed);
    if (e.index > this.#slabLast[last]) this.#slabLast[last] = e.index;
    this.#slabOf[p] = this.#slabBase + last;
    this.#starts[p] = this.#slabUsed;
    this.#slabUsed += n;
  }

  /** Room for `n` more entries after the last: shifts the columns down or grows them. */
  #reserve(n: number): void {
    const end = this.#head + this.#count;
    const cap = this.#terms.length;
    if (end + n <= cap) return;
    const need = this.#count + n;
    if (this.#head > 0 && need <= cap >> 1) {
      this.#shift(this.#head, 0, cap);
      return;
    }
    let size = cap * 2;
    while (size < need) size *= 2;
    this.#shift(this.#head, 0, size);
  }

  /** Moves the live columns from `from` to `to`, in columns of `size` (new ones if it differs). */
  #shift(from: number, to: number, size: number): void {
    const end = from + this.#count;
    const move = <T extends Float64Array | Uint8Array | Int32Array | Uint32Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      if (a.length === size) {
        a.copyWithin(to, from, end);
        return a;
      }
      const b = make(size);
      b.set(a.subarray(from, end), to);
      return b;
    };
    this.#terms = move(this.#terms, (n) => new Float64Array(n));
    this.#types = move(this.#types, (n) => new Uint8Array(n));
    this.#slabOf = move(this.#slabOf, (n) => new Int32Array(n));
    this.#starts = move(this.#starts, (n) => new Uint32Array(n));
    this.#lengths = move(this.#lengths, (n) => new Uint32Array(n));
    const own: (Uint8Array | undefined)[] = new Array(size);
    for (let k = 0; k < this.#count; k++) own[to + k] = this.#own[from + k];
    this.#own = own;
    this.#head = to;
  }
}
