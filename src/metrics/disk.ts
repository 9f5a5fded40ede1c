/**
 * etcd's timings of whole-state disk work: snapshot files
 * (`etcd_debugging_snap_save_*`, `etcd_snap_fsync_duration_seconds`),
 * snapshots received from the leader (`etcd_snap_db_*`), and the
 * Maintenance calls that read or rewrite the whole state (Hash, HashKV,
 * Snapshot, Defragment). cairn's state snapshot file is what its backend
 * commits, so writing one is also `etcd_disk_backend_commit_duration_seconds`.
 *
 * @module
 */
import { histogramSeries, type HistogramSpec } from "./define.ts";
import { exponentialBuckets, Gauge, type HistogramChild, type Registry } from "./registry.ts";

/** How long the parts of a snapshot file save took, in seconds. */
export interface SnapshotSaveTimes {
  /** Checksumming the body and encoding the header. */
  marshalSeconds: number;
  /** The file's fsync. */
  syncSeconds: number;
}

/** etcd's whole-state disk histograms, with its buckets. */
const HISTOGRAMS = {
  hash: {
    name: "etcd_mvcc_hash_duration_seconds",
    help: "Duration of hashing the whole store (Maintenance.Hash), in seconds.",
    buckets: exponentialBuckets(0.01, 2, 15),
  },
  hashRev: {
    name: "etcd_mvcc_hash_rev_duration_seconds",
    help: "Duration of hashing the store up to a revision (Maintenance.HashKV), in seconds.",
    buckets: exponentialBuckets(0.01, 2, 15),
  },
  backendSnapshot: {
    name: "etcd_disk_backend_snapshot_duration_seconds",
    help: "Duration of Maintenance.Snapshot transfers, in seconds.",
    buckets: exponentialBuckets(0.01, 2, 17),
  },
  snapSave: {
    name: "etcd_debugging_snap_save_total_duration_seconds",
    help: "Duration of writing a state snapshot file, in seconds.",
    buckets: exponentialBuckets(0.001, 2, 14),
  },
  snapMarshal: {
    name: "etcd_debugging_snap_save_marshalling_duration_seconds",
    help: "Duration of checksumming and framing a state snapshot for its file, in seconds.",
    buckets: exponentialBuckets(0.001, 2, 14),
  },
  snapFsync: {
    name: "etcd_snap_fsync_duration_seconds",
    help: "Duration of the fsync of a state snapshot file, in seconds.",
    buckets: exponentialBuckets(0.001, 2, 14),
  },
  snapDbSave: {
    name: "etcd_snap_db_save_total_duration_seconds",
    help: "Duration of saving a snapshot received from the leader, in seconds.",
    buckets: exponentialBuckets(0.1, 2, 10),
  },
  snapDbFsync: {
    name: "etcd_snap_db_fsync_duration_seconds",
    help: "Duration of the fsync of a snapshot received from the leader, in seconds.",
    buckets: exponentialBuckets(0.001, 2, 14),
  },
  defrag: {
    name: "etcd_disk_backend_defrag_duration_seconds",
    help: "Duration of defragmentation, in seconds.",
    buckets: exponentialBuckets(0.1, 2, 13),
  },
} satisfies Record<string, HistogramSpec>;

/** The whole-state disk timings of one member. */
export class DiskMetrics {
  /** Maintenance.Hash (the whole store) durations. */
  readonly hashSeconds: HistogramChild;
  /** Maintenance.HashKV (the store up to a revision) durations. */
  readonly hashRevSeconds: HistogramChild;
  /** Maintenance.Snapshot transfers, from start to end however they ended. */
  readonly backendSnapshotSeconds: HistogramChild;
  readonly #backendCommit: HistogramChild;
  readonly #h: Record<keyof typeof HISTOGRAMS, HistogramChild>;
  readonly #defragInflight: Gauge;

  /** @param backendCommit etcd_disk_backend_commit_duration_seconds, which snapshot files feed */
  constructor(reg: Registry, backendCommit: HistogramChild) {
    this.#backendCommit = backendCommit;
    this.#h = histogramSeries(reg, HISTOGRAMS);
    this.hashSeconds = this.#h.hash;
    this.hashRevSeconds = this.#h.hashRev;
    this.backendSnapshotSeconds = this.#h.backendSnapshot;
    this.#defragInflight = new Gauge(reg, {
      name: "etcd_disk_defrag_inflight",
      help: "1 while a defragmentation runs on this member, 0 otherwise.",
    });
  }

  /** A state snapshot file was written in `seconds`; `parts` tells its framing and fsync. */
  snapshotSaved(seconds: number, parts: SnapshotSaveTimes): void {
    this.#backendCommit.observe(seconds);
    this.#h.snapSave.observe(seconds);
    this.#h.snapMarshal.observe(parts.marshalSeconds);
    this.#h.snapFsync.observe(parts.syncSeconds);
  }

  /** A snapshot from the leader was saved in `seconds` (etcd's .snap.db); `parts` tells its fsync. */
  snapshotInstalled(seconds: number, parts: SnapshotSaveTimes): void {
    this.#h.snapDbSave.observe(seconds);
    this.#h.snapDbFsync.observe(parts.syncSeconds);
  }

  /** A defragmentation starts; call the function returned when it has ended. */
  defragStarted(): () => void {
    const started = performance.now();
    this.#defragInflight.set(1);
    return () => {
      this.#defragInflight.set(0);
      this.#h.defrag.observe((performance.now() - started) / 1000);
    };
  }
}
