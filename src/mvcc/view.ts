/**
 * A point-in-time view of the MVCC store: every version retained at one
 * moment, in `(main, sub)` order (etcd's bbolt key order), with the
 * current and compact revisions of that moment.
 *
 * Taking one is cheap (a copy of the log's array of references, no bytes
 * copied), and it stays exactly as taken while the store moves on: new
 * writes are not in it, and versions a later compaction drops stay
 * readable (their arena bytes are never overwritten, see
 * `Version.storedBytes`). That is what lets a snapshot be encoded in
 * steps that yield to the event loop, with writes and compactions applied
 * in between, and still equal the state at its Raft index. Snapshot
 * files (src/server/state_snapshot.ts) and any other whole-store stream
 * (a bbolt export) read from one.
 *
 * @module
 */
import type { Version } from "./history.ts";

/** One stored revision of a key, as a view yields it. */
export interface ViewRecord {
  /** The key bytes (a view; do not mutate). */
  key: Uint8Array;
  /** The value bytes (a view, empty for a tombstone; do not mutate). */
  value: Uint8Array;
  /** Main revision (the store revision that wrote it). */
  main: number;
  /** Position of the change inside its revision. */
  sub: number;
  /** Create revision of the key's generation (0 for a tombstone). */
  create: number;
  /** Version within the generation, 1-based (0 for a tombstone). */
  ver: number;
  /** Lease attached by this write (0n for none). */
  lease: bigint;
}

/** The store as it was when {@link MvccStore.pointInTime} was called. */
export class StoreView {
  readonly #versions: readonly Version[];

  /**
   * @param versions the retained versions, in revision order (the view keeps this array)
   * @param currentRevision the store's revision at that moment
   * @param compactRevision its compact revision (-1 if never compacted)
   */
  constructor(
    versions: readonly Version[],
    readonly currentRevision: number,
    readonly compactRevision: number,
  ) {
    this.#versions = versions;
  }

  /** How many versions the view holds. */
  get length(): number {
    return this.#versions.length;
  }

  /** The `i`th version in revision order (0-based). */
  at(i: number): ViewRecord {
    const v = this.#versions[i];
    const bytes = v.storedBytes();
    const klen = v.bkey.length;
    return {
      key: bytes.subarray(0, klen),
      value: bytes.subarray(klen),
      main: v.main,
      sub: v.sub,
      create: v.create,
      ver: v.ver,
      lease: v.lease,
    };
  }

  /** The `i`th version itself (the internal object; read only, see `Version.storedBytes`). */
  version(i: number): Version {
    return this.#versions[i];
  }

  /** Calls `fn` with versions `from` to `to - 1` (the internal objects; read only). */
  forEachVersion(from: number, to: number, fn: (v: Version) => void): void {
    const vs = this.#versions;
    const end = Math.min(to, vs.length);
    for (let i = from; i < end; i++) fn(vs[i]);
  }
}
