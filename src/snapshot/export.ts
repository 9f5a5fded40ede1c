/**
 * cairn's state as etcd's snapshot stream: a bbolt database in etcd's
 * schema, then the SHA-256 of the database, the bytes Maintenance.Snapshot
 * sends and `etcdctl snapshot save` writes to its file.
 *
 * The database comes from a point-in-time capture (the MVCC store's view
 * plus the small parts): it is laid out first, in slices that yield to the
 * event loop, so a large store does not stall the Raft loop or writes;
 * then its pages are produced one node at a time as the stream is read, so
 * no stream ever holds the whole database in memory.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import type { StoreView } from "../mvcc/view.ts";
import { type BoltPlan, emitBolt, planBoltAsync } from "../bbolt/writer.ts";
import { etcdBuckets } from "./etcd_schema.ts";

/** A snapshot's database, laid out and ready to be produced page by page. */
export interface EtcdDatabase {
  plan: BoltPlan;
  /** Total bytes of the database: a multiple of the page size. */
  size: number;
}

/**
 * Lays out the database for a captured state: `view` is the store, `rest`
 * the encoded `StateSnapshot` holding members, alarms, leases and auth (its
 * store field unset), `consistentIndex` the applied index they are at.
 */
export async function etcdDatabase(
  view: StoreView,
  rest: Uint8Array,
  consistentIndex: bigint,
): Promise<EtcdDatabase> {
  const state = fromBinary(StateSnapshotSchema, rest);
  const plan = await planBoltAsync(etcdBuckets(view, state, { consistentIndex }));
  return { plan, size: plan.size };
}

/**
 * The snapshot stream's messages: the database in `chunkBytes` pieces,
 * each with the bytes of database still to come after it (etcd's
 * `remaining_bytes`), then the 32-byte SHA-256 of the database with 0.
 */
export function* snapshotChunks(
  db: EtcdDatabase,
  chunkBytes = 32 * 1024,
): Generator<{ blob: Uint8Array; remaining: number }> {
  const hash = createHash("sha256");
  let sent = 0;
  let buf = new Uint8Array(chunkBytes);
  let fill = 0;
  for (const page of emitBolt(db.plan)) {
    let off = 0;
    while (off < page.length) {
      const n = Math.min(page.length - off, chunkBytes - fill);
      buf.set(page.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === chunkBytes) {
        sent += fill;
        hash.update(buf);
        yield { blob: buf, remaining: db.size - sent };
        buf = new Uint8Array(chunkBytes);
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    const last = buf.subarray(0, fill);
    sent += fill;
    hash.update(last);
    yield { blob: last, remaining: db.size - sent };
  }
  yield { blob: new Uint8Array(hash.digest()), remaining: 0 };
}
