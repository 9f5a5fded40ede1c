/**
 * The MVCC key index and history: every retained revision of every key.
 *
 * Each key maps to its versions in revision order (a put has `ver > 0`, a
 * tombstone has `ver === 0`): a {@link History}, which is the one
 * `Version` itself for a key with a single retained version (most keys of
 * a large store: no array of 56 bytes per key) and an array of two or
 * more otherwise. Two views share the same entries: a `Map` for
 * single-key lookups (measured ~8x faster than a B+ tree `get` at 100k
 * keys) and a `sorted-btree` for ordered range scans. A global log holds
 * every retained version in `(main, sub)` order, which is exactly etcd's
 * bbolt key order: it drives watch catch-up, HashKV and snapshots without
 * sorting.
 */
import BTreeModule from "sorted-btree";
import { bulkLoad } from "sorted-btree/extended/bulkLoad.js";
import { Arena, type Slab } from "./arena.ts";
import { EMPTY_BYTES, type KeySpan } from "./keys.ts";
import { runSteps, type Steps } from "./steps.ts";

// sorted-btree is CommonJS; under Deno the default import is module.exports.
const BTree = BTreeModule.default;
type Tree = InstanceType<typeof BTree<string, History>>;

/**
 * One stored revision of a key: a put (`ver > 0`) or a tombstone (`ver === 0`).
 *
 * Its key and value bytes sit next to each other in an arena slab (key at
 * `off`, `bkey.length` bytes, then the value): no per-version buffers.
 * `key` and `value` make views of them on demand; the bytes never change.
 *
 * Two kinds (made by {@link makeVersion}): most versions of a large store
 * are a key's first write with no lease, or a tombstone, whose create
 * revision follows from the version itself; they hold 7 fields (80 bytes
 * on this V8, which has no pointer compression) instead of 9 (96).
 */
export abstract class Version {
  /** Create revision of the key's current generation (0 for a tombstone). */
  abstract readonly create: number;
  /** Lease id attached to the key by this write (0n for none). */
  abstract readonly lease: bigint;

  /**
   * @param bkey the key as a latin1 binary string (shared with the index)
   * @param slab the slab holding the key and value bytes
   * @param off offset of the key bytes in `slab`; once compaction drops the
   *   version it becomes `-1 - offset`, so the bytes stay readable for a
   *   point-in-time view taken before (see {@link Version.storedBytes})
   * @param vlen value length (0 for a tombstone)
   * @param main main revision (the store revision that wrote it)
   * @param sub position of this change inside its revision
   * @param ver version within the generation, 1-based (0 for a tombstone)
   */
  constructor(
    readonly bkey: string,
    public slab: Slab,
    public off: number,
    readonly vlen: number,
    readonly main: number,
    readonly sub: number,
    readonly ver: number,
  ) {}

  /** The key bytes (a fresh view; do not mutate). */
  get key(): Uint8Array {
    return new Uint8Array(this.slab.buf, this.off, this.bkey.length);
  }

  /** The value bytes (a fresh view, empty for a tombstone; do not mutate). */
  get value(): Uint8Array {
    if (this.vlen === 0) return EMPTY_BYTES;
    return new Uint8Array(this.slab.buf, this.off + this.bkey.length, this.vlen);
  }

  /** Set when compaction removes this version (lets the log drop it in one pass). */
  get dropped(): boolean {
    return this.off < 0;
  }

  /**
   * The key bytes then the value bytes (a fresh view), dropped or not:
   * arena bytes are never overwritten, so a version compacted after a
   * point-in-time view captured it still reads as it was.
   */
  storedBytes(): Uint8Array {
    const off = this.off >= 0 ? this.off : -1 - this.off;
    return new Uint8Array(this.slab.buf, off, this.bkey.length + this.vlen);
  }
}

/**
 * A version without a lease that starts its key's generation (`ver` 1,
 * created at its own revision) or is a tombstone (`ver` 0, create 0).
 */
class PlainVersion extends Version {
  get create(): number {
    return this.ver === 0 ? 0 : this.main;
  }
  get lease(): bigint {
    return 0n;
  }
}

/** Any other version: it holds its create revision and lease. */
class FullVersion extends Version {
  constructor(
    bkey: string,
    slab: Slab,
    off: number,
    vlen: number,
    main: number,
    sub: number,
    ver: number,
    readonly create: number,
    readonly lease: bigint,
  ) {
    super(bkey, slab, off, vlen, main, sub, ver);
  }
}

/** A version with these fields (see {@link Version}'s constructor), of the smaller kind when it can be. */
export function makeVersion(
  bkey: string,
  slab: Slab,
  off: number,
  vlen: number,
  main: number,
  sub: number,
  create: number,
  ver: number,
  lease: bigint,
): Version {
  if (lease === 0n && (ver === 0 ? create === 0 : ver === 1 && create === main)) {
    return new PlainVersion(bkey, slab, off, vlen, main, sub, ver);
  }
  // Literal 0n is one shared constant; a decoded 0n may be a fresh BigInt.
  return new FullVersion(bkey, slab, off, vlen, main, sub, ver, create, lease === 0n ? 0n : lease);
}

// Rough per-version bookkeeping cost (object, array slots, map/tree share) for dbSize.
const VERSION_OVERHEAD = 96;

const compareStrings = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0;
/** Keys checked or looked up per step when a bulk load ends. */
const BULK_STEP_KEYS = 65536;
/** sorted-btree's default branching factor (what incremental inserts use). */
const MAX_NODE_SIZE = 32;
/** Leaves built in bulk are this full: room for inserts before the first splits. */
const LOAD_FACTOR = 0.8;

/**
 * A key's retained versions, oldest first: the version itself when there
 * is one, else an array of two or more (never empty, never of one).
 */
export type History = Version | Version[];

/** The newest version of a key's history. */
export function newest(hist: History): Version {
  return Array.isArray(hist) ? hist[hist.length - 1] : hist;
}

/** The oldest retained version of a key's history. */
export function oldest(hist: History): Version {
  return Array.isArray(hist) ? hist[0] : hist;
}

/**
 * The version of a key visible at `rev`: its newest version with
 * `main <= rev`, unless that is a tombstone (or there is none).
 */
export function visibleAt(hist: History, rev: number): Version | undefined {
  if (!Array.isArray(hist)) return hist.main <= rev && hist.ver !== 0 ? hist : undefined;
  let hi = hist.length - 1;
  const last = hist[hi];
  // Fast path: reads at the current revision see the newest version.
  if (last.main <= rev) return last.ver === 0 ? undefined : last;
  let lo = 0;
  hi--;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (hist[mid].main <= rev) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return undefined;
  const v = hist[found];
  return v.ver === 0 ? undefined : v;
}

/** The newest version of a key if it is live (not a tombstone). */
export function latestLive(hist: History | undefined): Version | undefined {
  if (hist === undefined) return undefined;
  const last = Array.isArray(hist) ? hist[hist.length - 1] : hist;
  return last.ver === 0 ? undefined : last;
}

/** The version before `v` in its key's history `hist`, if retained there. */
export function previousOf(hist: History, v: Version): Version | undefined {
  if (!Array.isArray(hist)) return undefined;
  let i = hist.length - 1;
  while (i >= 0 && hist[i] !== v) i--;
  return i > 0 ? hist[i - 1] : undefined;
}

/** Key index + history + revision-ordered log. Knows nothing about requests. */
export class KeyIndex {
  /** Per-key versions, for point lookups. */
  readonly map: Map<string, History> = new Map();
  #tree: Tree = new BTree<string, History>(undefined, compareStrings);
  /**
   * While a snapshot is decoded ({@link beginBulk} to {@link endBulk}),
   * new keys go to the map only; the tree is built once at the end from
   * the sorted keys, leaves first, instead of a million inserts.
   */
  #bulk = false;
  /** During a bulk load: each new key, in the order met, with its first version. */
  #bulkKeys: string[] = [];
  #bulkFirst: History[] = [];
  /** During a bulk load: whether some key got a second version (its first is no longer its entry). */
  #bulkMulti = false;
  /**
   * Of the bulk-loaded versions, the lowest revision at which a
   * compaction would drop one (a key's later version, or a tombstone,
   * at that revision); Infinity if none would. Reset by a write.
   */
  #bulkObsoleteFrom = -Infinity;
  /** Every retained version in `(main, sub)` order. */
  log: Version[] = [];
  /** Approximate bytes held (keys, values, bookkeeping). */
  bytes = 0;
  /**
   * The most `bytes` ever held since the last {@link repack}: like a bbolt
   * file, the space stays counted after compaction frees it (new writes
   * reuse it) until a defragmentation gives it back.
   */
  peakBytes = 0;
  /** Where every version's key and value bytes live. */
  readonly arena: Arena = new Arena();

  /** The same per-key entries, ordered by key bytes, for range scans. */
  get tree(): Tree {
    return this.#tree;
  }

  /** A key's retained versions (see {@link History}), or undefined if it has none. */
  entry(bkey: string): History | undefined {
    return this.map.get(bkey);
  }

  /**
   * Versions of a key, oldest first, or undefined if it has none retained
   * (a fresh array for a key with one version: hot paths use {@link entry}).
   */
  history(bkey: string): Version[] | undefined {
    const h = this.map.get(bkey);
    return h === undefined || Array.isArray(h) ? h : [h];
  }

  /**
   * Starts a bulk load (a snapshot being decoded) into an empty index:
   * until {@link endBulk}, only {@link add} and {@link place} may be
   * called, and range scans see nothing.
   */
  beginBulk(): void {
    this.#bulk = true;
    this.#bulkKeys = [];
    this.#bulkFirst = [];
    this.#bulkMulti = false;
    this.#bulkObsoleteFrom = Infinity;
  }

  /**
   * Ends a bulk load: builds the ordered tree from the map's keys in one
   * pass (sorted first unless they came in key order, as a snapshot of
   * keys loaded in order has them): about a tenth of the time of one
   * insert per key, and full, balanced leaves.
   */
  endBulk(): void {
    runSteps(this.endBulkSteps());
  }

  /**
   * {@link endBulk} in steps of about `step` keys each (a follower
   * installing a large snapshot keeps its event loop), except the sort of
   * keys that came out of order and the making of the tree itself
   * (sorted-btree's bulkLoad, ~0.1 s at a million keys), a step each.
   * Nothing else may touch the index until it returns.
   */
  *endBulkSteps(step = BULK_STEP_KEYS): Steps<void> {
    if (!this.#bulk) return;
    const keys = this.#bulkKeys;
    const values = this.#bulkFirst;
    this.#bulkKeys = [];
    this.#bulkFirst = [];
    let sorted = true;
    for (let i = 1; i < keys.length; i++) {
      if (!(keys[i - 1] < keys[i])) {
        sorted = false;
        break;
      }
      if (i % step === 0) yield;
    }
    // One native sort (the default sort compares UTF-16 code units: for
    // latin1 binary strings that is byte order, with no comparator called
    // from C++): ~0.2-0.35 s at a million keys, the longest step. Sorting
    // runs in steps and merging them was tried: slower, its array copies
    // brought a major collection forward into the same steps.
    if (!sorted) {
      yield;
      keys.sort();
      yield;
    }
    if (!sorted || this.#bulkMulti) {
      for (let i = 0; i < keys.length; i++) {
        values[i] = this.map.get(keys[i])!;
        if (i % step === step - 1) yield;
      }
    }
    this.#tree = bulkLoad(keys, values, MAX_NODE_SIZE, compareStrings, LOAD_FACTOR);
    this.#bulk = false;
  }

  /**
   * Stores a new version of `bkey` (whose bytes are `key`), copying `key`
   * and `value` into the arena, and appends it: its revision must be the
   * newest in the store. `hist`: the key's entry, when the caller has
   * just looked it up (a put has: one map probe instead of two).
   */
  add(
    bkey: string,
    key: Uint8Array,
    value: Uint8Array,
    main: number,
    sub: number,
    create: number,
    ver: number,
    lease: bigint,
    hist: History | undefined = this.map.get(bkey),
  ): Version {
    const arena = this.arena;
    const slab = arena.write(key, value);
    const v = makeVersion(
      // One string per key, shared by all its versions.
      hist === undefined ? bkey : oldest(hist).bkey,
      slab,
      arena.lastOffset,
      value.length,
      main,
      sub,
      create,
      ver,
      lease,
    );
    this.#append(v, hist);
    return v;
  }

  /**
   * Appends a version whose key and value bytes already lie next to each
   * other at `off` in `slab`, a slab adopted by the arena (a decoded
   * snapshot's buffer): nothing is copied. Same order rule as {@link add}.
   */
  place(
    bkey: string,
    slab: Slab,
    off: number,
    vlen: number,
    main: number,
    sub: number,
    create: number,
    ver: number,
    lease: bigint,
  ): Version {
    this.arena.claim(slab, bkey.length + vlen);
    const hist = this.map.get(bkey);
    const v = makeVersion(
      // One string per key, shared by all its versions.
      hist === undefined ? bkey : oldest(hist).bkey,
      slab,
      off,
      vlen,
      main,
      sub,
      create,
      ver,
      lease,
    );
    this.#append(v, hist);
    return v;
  }

  /** Appends `v`, whose key's entry is `hist` (looked up by the caller: one map probe, not two). */
  #append(v: Version, hist: History | undefined): void {
    if (hist === undefined) {
      this.map.set(v.bkey, v);
      if (!this.#bulk) {
        this.#tree.set(v.bkey, v);
      } else {
        this.#bulkKeys.push(v.bkey);
        this.#bulkFirst.push(v);
      }
      this.bytes += v.bkey.length;
    } else if (Array.isArray(hist)) {
      hist.push(v);
    } else {
      // A second version: the key's entry becomes an array, in both views.
      this.#setEntry(v.bkey, [hist, v]);
      if (this.#bulk) this.#bulkMulti = true;
    }
    this.log.push(v);
    this.bytes += v.vlen + VERSION_OVERHEAD;
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
    if (this.#bulk) {
      // Revisions only grow: the first such version gives the lowest revision.
      if ((hist !== undefined || v.ver === 0) && v.main < this.#bulkObsoleteFrom) {
        this.#bulkObsoleteFrom = v.main;
      }
    } else {
      this.#bulkObsoleteFrom = -Infinity;
    }
  }

  /** Replaces a key's entry in the map and the tree (the tree's only when it is built). */
  #setEntry(bkey: string, hist: History): void {
    this.map.set(bkey, hist);
    if (!this.#bulk) this.#tree.set(bkey, hist);
  }

  /** Removes a key from both views. */
  #deleteKey(bkey: string): void {
    this.map.delete(bkey);
    if (!this.#bulk) this.#tree.delete(bkey);
    this.bytes -= bkey.length;
  }

  /** Undoes the most recent `add` (of `v`) (used to roll back a failed txn). */
  unappend(v: Version): void {
    const hist = this.map.get(v.bkey);
    if (
      hist === undefined || newest(hist) !== v || this.log[this.log.length - 1] !== v
    ) {
      throw new Error("mvcc: rollback out of order");
    }
    this.log.pop();
    this.#drop(v);
    if (!Array.isArray(hist)) {
      this.#deleteKey(v.bkey);
    } else if (hist.length === 2) {
      this.#setEntry(v.bkey, hist[0]);
    } else {
      hist.pop();
    }
  }

  /**
   * Calls `visit` with each key's versions in byte order over `span`;
   * `visit` returns true to stop early.
   */
  scan(span: KeySpan, visit: (hist: History) => boolean | void): void {
    if (span.kind === "single") {
      const hist = this.map.get(span.key);
      if (hist !== undefined) visit(hist);
      return;
    }
    if (span.kind === "range" && !(span.key < span.end)) return;
    const high = span.kind === "range" ? span.end : this.#tree.maxKey();
    if (high === undefined) return;
    this.#tree.forRange(span.key, high, span.kind === "from", (_k, hist) => {
      if (visit(hist) === true) return { break: true };
    });
  }

  /** First log index whose main revision is >= `rev`. */
  logIndexFrom(rev: number): number {
    const log = this.log;
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid].main < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The compaction point readers must see: versions it makes obsolete
   * (see {@link retained}) may still be stored until {@link compactSteps}
   * has dropped them. Set by {@link scheduleCompaction}.
   */
  compactRev = -1;
  /** The compaction point whose work is done: every stored version is retained at it. */
  #physicalRev = -1;

  /** Whether versions obsolete at {@link compactRev} may still be stored. */
  get compactionPending(): boolean {
    return this.#physicalRev < this.compactRev;
  }

  /**
   * Right after a bulk load (nothing written since), takes the compaction
   * at `rev` as done if no loaded version is obsolete at it (a snapshot
   * holds only what its compaction kept, unless it was taken mid-way by
   * an older build): the restart skips a walk over every version.
   * Returns whether it did; if not, run {@link compactSteps}.
   */
  adoptCompaction(rev: number): boolean {
    if (this.#bulk || !(rev < this.#bulkObsoleteFrom) || rev < this.#physicalRev) return false;
    this.scheduleCompaction(rev);
    this.#physicalRev = rev;
    return true;
  }

  /**
   * Makes `rev` the compaction point at once (reads and digests then skip
   * what it makes obsolete); the versions themselves go when
   * {@link compactSteps} runs. `rev` never goes backwards.
   */
  scheduleCompaction(rev: number): void {
    if (rev > this.compactRev) this.compactRev = rev;
  }

  /**
   * Whether `v` (a version in the log) is still part of the store's state
   * at the compaction point: every version newer than it is, and of the
   * older ones only each key's newest version `<= compactRev`, unless that
   * is a tombstone (etcd's key index compaction). The answer never changes
   * for a version once asked (later writes are newer than the compaction
   * point, and a later compaction only raises it); what a pending
   * compaction will drop reads as gone already, so answers are the same on
   * every member however far its compaction has got.
   */
  retained(v: Version): boolean {
    const rev = this.compactRev;
    if (v.main > rev || this.#physicalRev === rev) return true;
    if (v.dropped || v.ver === 0) return false;
    return visibleAt(this.map.get(v.bkey)!, rev) === v;
  }

  /**
   * Compacts at `rev` in one go (see {@link compactSteps}): for each key,
   * every version older than its newest version `<= rev` goes; that newest
   * one stays unless it is a tombstone; keys left without versions leave
   * the index.
   */
  compact(rev: number): void {
    this.scheduleCompaction(rev);
    runSteps(this.compactSteps(rev));
  }

  /**
   * The work of a compaction at `rev` (already scheduled, and at least
   * every earlier one's work done), yielding after about `step` versions:
   * first the log prefix `<= rev` is walked in revision order, dropping
   * each key's obsolete versions as it is met; then the survivors in
   * sparse slabs are moved out (`#evacuate`). Between steps the store
   * serves reads and takes writes (always newer than `rev`, so untouched),
   * and snapshots and a repack may run; every reader skips the versions
   * {@link retained} says are gone. The log drops the walked prefix's
   * obsolete entries at the end of the walk in one swap (a copy of the
   * writes made during the walk, not of the whole log).
   */
  *compactSteps(rev: number, step = 8192): Steps<void> {
    if (rev <= this.#physicalRev) return;
    const log = this.log;
    const end = this.logIndexFrom(rev + 1);
    // Survivors in chunks of at most `step`, joined once at the end: one
    // growing array of up to a million references was young, and every
    // scavenge between steps scanned it again (pauses of 20-30 ms).
    let kept: Version[] = [];
    const chunks: Version[][] = [kept];
    let work = 0;
    for (let i = 0; i < end; i++) {
      const v = log[i];
      work++;
      if (!v.dropped) {
        // Older versions of the key came first and were obsolete, so v leads its history.
        const hist = this.map.get(v.bkey);
        if (hist === undefined || oldest(hist) !== v) {
          throw new Error(`mvcc: compaction at ${rev} found history out of order at ${v.main}`);
        }
        const n = this.#dropFront(hist, rev, Math.max(1, step - work));
        if (n === 0) {
          if (kept.length === step) {
            kept = [];
            chunks.push(kept);
          }
          kept.push(v);
        }
        work += n;
      }
      if (work >= step) {
        yield;
        work = 0;
      }
    }
    // The log changes only here, in place and synchronously (two memory
    // moves over the array: about a millisecond at a million versions);
    // appends made during the walk went into `log` after `end`.
    let k = 0;
    for (const c of chunks) for (let j = 0; j < c.length; j++) log[k++] = c[j];
    if (k < end) {
      log.copyWithin(k, end);
      log.length -= end - k;
    }
    this.#physicalRev = rev;
    yield* this.#evacuate(step);
  }

  /**
   * Drops up to `max` of the obsolete versions at the front of `hist` (a
   * key's whole history when all are obsolete); returns how many. A key
   * with more obsolete versions than that loses the rest when the walk
   * meets the next of them.
   */
  #dropFront(hist: History, rev: number, max: number): number {
    if (!Array.isArray(hist)) {
      // Its only version goes if it is a tombstone the compaction covers.
      if (hist.main > rev || hist.ver !== 0) return 0;
      this.#drop(hist);
      this.#deleteKey(hist.bkey);
      return 1;
    }
    let lo = 0;
    let hi = hist.length - 1;
    let idx = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (hist[mid].main <= rev) {
        idx = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (idx < 0) return 0;
    const obsolete = hist[idx].ver === 0 ? idx + 1 : idx;
    const n = Math.min(obsolete, max);
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) this.#drop(hist[i]);
    if (n === hist.length) {
      this.#deleteKey(hist[0].bkey);
    } else if (n === hist.length - 1) {
      // One version left: the key's entry is that version again.
      this.#setEntry(hist[n].bkey, hist[n]);
    } else {
      // In place: splice would allocate an array of the removed versions.
      hist.copyWithin(0, n);
      hist.length -= n;
    }
    return n;
  }

  /** Frees a version's bytes and marks it dropped. */
  #drop(v: Version): void {
    this.arena.free(v.slab, v.bkey.length + v.vlen);
    v.off = -1 - v.off;
    this.bytes -= v.vlen + VERSION_OVERHEAD;
  }

  /**
   * Moves the versions still living in sparse slabs into the open one, so
   * the sparse slabs can be dropped: after compaction, memory follows the
   * retained data rather than everything ever written. In steps of `step`
   * versions: writes made meanwhile land in slabs opened later (never
   * sparse ones), and a version dropped or moved meanwhile is skipped.
   */
  *#evacuate(step: number): Steps<void> {
    const arena = this.arena;
    const sparse = arena.sparseSlabs();
    if (sparse.size === 0) return;
    const log = this.log;
    const n = log.length;
    for (let i = 0; i < n && i < log.length; i++) {
      const v = log[i];
      if (!v.dropped && sparse.has(v.slab)) {
        v.slab = arena.move(v.slab, v.off, v.bkey.length + v.vlen);
        v.off = arena.lastOffset;
      }
      if (i % step === step - 1) yield;
    }
  }

  /**
   * Defragmentation: moves every retained version out of the closed slabs
   * that hold freed or unused space, so those slabs are dropped and the
   * arena holds little more than the live bytes; then forgets the peak
   * size. Works on a copy of the log in steps of `step` versions, awaiting
   * `pause` between them, so writes and compactions go on meanwhile
   * (versions compacted in between are skipped; new ones land in slabs
   * opened after the targets were chosen).
   */
  async repack(pause: () => Promise<void>, step = 8192): Promise<void> {
    const arena = this.arena;
    // The open slab too: compaction frees bytes inside it as well.
    arena.seal();
    const targets = arena.slackSlabs();
    if (targets.size > 0) {
      const log = this.log.slice();
      for (let i = 0; i < log.length; i++) {
        const v = log[i];
        if (!v.dropped && targets.has(v.slab)) {
          v.slab = arena.move(v.slab, v.off, v.bkey.length + v.vlen);
          v.off = arena.lastOffset;
        }
        if (i % step === step - 1) await pause();
      }
    }
    this.peakBytes = this.bytes;
  }
}
