/**
 * HashKV as etcd 3.4 computes it: CRC-32C over the bucket name "key" and,
 * in revision order, each stored revision's bbolt key (8-byte big-endian
 * main, '_', 8-byte big-endian sub, plus 't' for a tombstone) followed by
 * the protobuf KeyValue stored under it. Revisions at or below the compact
 * revision count only if they are what the key shows at the hashed revision
 * (etcd's `kvindex.Keep(rev)`), unless no key is live there at all.
 * Writing the same bytes as etcd makes the value comparable with etcd's.
 *
 * Versions a compaction whose work is still under way will drop are left
 * out, as if the work were done (`KeyIndex.retained`): every member gives
 * the same digest for the same applied state however far its compaction
 * has got (etcd hashes what its bbolt holds, so mid-compaction its members
 * can disagree; the corruption check must not).
 */
import { EtcdErrors } from "../errors.ts";
import { ByteWriter } from "./bytes.ts";
import { crc32cAppend } from "../wire/crc32c.ts";
import { type KeyIndex, type Version, visibleAt } from "./history.ts";

/** HashKV's result. */
export interface KVHash {
  /** CRC-32C of the retained history up to `hashRevision`. */
  hash: number;
  /** The store's compact revision (-1 before any compaction). */
  compactRevision: number;
  /** The revision hashed (the current one when 0 was asked for). */
  hashRevision: number;
}

const BUCKET = new TextEncoder().encode("key");

/** Writes a version as etcd stores it in bbolt: revision key, then KeyValue bytes. */
export function writeBoltRecord(
  w: ByteWriter,
  v: Pick<Version, "key" | "value" | "main" | "sub" | "create" | "ver" | "lease">,
): void {
  w.u64be(v.main);
  w.byte(0x5f); // '_'
  w.u64be(v.sub);
  if (v.ver === 0) w.byte(0x74); // 't' marks a tombstone
  // KeyValue fields in number order, zero values omitted (proto3).
  w.byte(0x0a);
  w.lenBytes(v.key);
  if (v.ver === 0) return; // etcd stores a tombstone as KeyValue{key} only
  w.byte(0x10);
  w.uvarint(v.create);
  w.byte(0x18);
  w.uvarint(v.main);
  w.byte(0x20);
  w.uvarint(v.ver);
  if (v.value.length > 0) {
    w.byte(0x2a);
    w.lenBytes(v.value);
  }
  if (v.lease !== 0n) {
    w.byte(0x30);
    w.varint64(v.lease);
  }
}

function anyLiveAt(index: KeyIndex, rev: number): boolean {
  for (const hist of index.map.values()) {
    if (visibleAt(hist, rev) !== undefined) return true;
  }
  return false;
}

/** Computes HashKV at `rev` (0 = current); etcd's errors for bad revisions. */
export function hashKV(
  index: KeyIndex,
  rev: number,
  currentRev: number,
  compactRev: number,
): KVHash {
  if (rev > 0 && rev <= compactRev) throw EtcdErrors.compacted();
  if (rev > 0 && rev > currentRev) throw EtcdErrors.futureRev();
  if (rev === 0) rev = currentRev;
  let keepEmpty: boolean | undefined;
  let crc = crc32cAppend(0, BUCKET);
  const w = new ByteWriter(1024);
  for (const v of index.log) {
    if (v.main > rev) break;
    if (v.main <= compactRev) {
      if (!index.retained(v)) continue;
      keepEmpty ??= !anyLiveAt(index, rev);
      if (!keepEmpty && visibleAt(index.map.get(v.bkey)!, rev) !== v) continue;
    }
    w.reset();
    writeBoltRecord(w, v);
    crc = crc32cAppend(crc, w.view());
  }
  return { hash: crc, compactRevision: compactRev, hashRevision: rev };
}

/** Digest of everything the store holds: all retained versions and both revisions. */
export function hashAll(index: KeyIndex, currentRev: number, compactRev: number): number {
  const w = new ByteWriter(1024);
  w.uvarint(currentRev);
  w.uvarint(compactRev + 1);
  let crc = crc32cAppend(0, w.view());
  for (const v of index.log) {
    if (!index.retained(v)) continue;
    w.reset();
    writeBoltRecord(w, v);
    crc = crc32cAppend(crc, w.view());
  }
  return crc;
}
