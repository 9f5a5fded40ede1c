/**
 * The hash of what each compaction covers, recorded on every member as
 * etcd's mvcc records it (`hashStorage.Store`, used by
 * `--experimental-compact-hash-check-enabled`): HashKV at the
 * compaction's revision as the store stood just before that compaction
 * took effect, so with the previous compact revision, every version from
 * it up to the new one, and of the versions at or below it only those the
 * new compaction keeps.
 *
 * etcd hashes while its compaction batches delete. cairn hashes a
 * point-in-time view taken as the compaction is applied, in steps with a
 * pause between them: a one-pass HashKV of 1,000,000 versions holds the
 * event loop for about half a second, and compaction itself never holds
 * it that long. The view is frozen (later writes are newer than the
 * compaction revision; versions the compaction drops stay readable), so
 * the result does not depend on how far the compaction's own work has got.
 *
 * Like etcd, a member keeps the last {@link COMPACT_HASHES_KEPT}, in
 * memory only.
 *
 * @module
 */
import { ByteWriter } from "../mvcc/bytes.ts";
import { writeBoltRecord } from "../mvcc/hash.ts";
import type { Steps } from "../mvcc/steps.ts";
import type { StoreView } from "../mvcc/view.ts";
import { crc32cAppend } from "../wire/crc32c.ts";

/** etcd's hashStorageMaxSize: how many compaction hashes a member keeps. */
export const COMPACT_HASHES_KEPT = 10;

/** One compaction's hash (etcd's mvcc.KeyValueHash). */
export interface CompactionHash {
  /** CRC-32C, as HashKV computes it. */
  hash: number;
  /** The compact revision before this compaction (-1 for the first). */
  compactRevision: number;
  /** The revision compacted at (the revision hashed). */
  revision: number;
}

/** The last {@link COMPACT_HASHES_KEPT} compaction hashes of one member, in revision order. */
export class CompactHashes {
  #hashes: CompactionHash[] = [];

  /** Records `h`, dropping the oldest beyond the bound (etcd sorts by revision, then trims). */
  store(h: CompactionHash): void {
    this.#hashes.push(h);
    this.#hashes.sort((a, b) => a.revision - b.revision);
    if (this.#hashes.length > COMPACT_HASHES_KEPT) {
      this.#hashes = this.#hashes.slice(this.#hashes.length - COMPACT_HASHES_KEPT);
    }
  }

  /** The hashes kept, oldest first (a copy). */
  list(): CompactionHash[] {
    return this.#hashes.slice();
  }

  /** The hash recorded for a compaction at `rev`, if it is kept. */
  byRevision(rev: number): CompactionHash | undefined {
    return this.#hashes.find((h) => h.revision === rev);
  }
}

const BUCKET = new TextEncoder().encode("key");

/**
 * Computes a compaction's hash from `view` (the store as it stood just
 * before the compaction at `rev` took effect), yielding after about
 * `step` versions. Same value as the store's `hashKV(rev)` at that moment.
 */
export function* compactionHashSteps(
  view: StoreView,
  rev: number,
  step: number,
): Steps<CompactionHash> {
  const prev = view.compactRevision;
  let end = 0;
  while (end < view.length && view.version(end).main <= rev) end++;

  // Versions at or below the previous compact revision count only if the
  // new compaction keeps them: each key's newest version up to `rev`,
  // unless a tombstone (etcd's `kvindex.Keep(rev)`); when no key is live
  // at `rev` that set is empty and etcd hashes them all. Found walking
  // backwards: the first version of a key met is its newest.
  let low = 0;
  while (low < end && view.version(low).main <= prev) low++;
  const kept = new Uint8Array(low);
  let anyLive = false;
  if (low > 0) {
    const seen = new Set<string>();
    let work = 0;
    for (let i = end - 1; i >= 0; i--) {
      const v = view.version(i);
      const newest = !seen.has(v.bkey);
      if (newest) {
        seen.add(v.bkey);
        if (v.ver !== 0) anyLive = true;
      }
      if (i < low && newest && v.ver !== 0) kept[i] = 1;
      if (++work >= step) {
        yield;
        work = 0;
      }
    }
  }

  let crc = crc32cAppend(0, BUCKET);
  const w = new ByteWriter(1024);
  let work = 0;
  for (let i = 0; i < end; i++) {
    if (i >= low || !anyLive || kept[i] === 1) {
      // view.at reads the bytes even of versions compacted since the view was taken.
      w.reset();
      writeBoltRecord(w, view.at(i));
      crc = crc32cAppend(crc, w.view());
    }
    if (++work >= step) {
      yield;
      work = 0;
    }
  }
  return { hash: crc, compactRevision: prev, revision: rev };
}
