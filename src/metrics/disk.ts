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
import {
  exponentialBuckets,
  Gauge,
  Histogram,
  type HistogramChild,
  type Registry,
} from "./registry.ts";

/** How long the parts of a snapshot file save took, in seconds. */
export interface SnapshotSaveTimes {
  /** Checksumming the body and encoding the header. */
  marshalSeconds: number;
  /** The file's fsync. */
  syncSeconds: number;
}

/** The whole-state disk timings of one member. */
export class DiskMetrics {
  /** Maintenance.Hash (the whole store) durations. */
  readonly hashSeconds: HistogramChild;
  /** Maintenance.HashKV (the store up to a revision) durations. */
  readonly hashRevSeconds: HistogramChild;
  /** Maintenance.Snapshot transfers, from start to end however they ended. */
  readonly backendSnapshotSeconds: HistogramChild;
  readonly #backendCommit: HistogramChild;
  readonly #snapSave: HistogramChild;
  readonly #snapMarshal: HistogramChild;
  readonly #snapFsync: HistogramChild;
  readonly #snapDbSave: HistogramChild;
  readonly #snapDbFsync: HistogramChild;
  readonly #defragSeconds: HistogramChild;
  readonly #defragInflight: Gauge;

  /** @param backendCommit etcd_disk_backend_commit_duration_seconds, which snapshot files feed */
  constructor(reg: Registry, backendCommit: HistogramChild) {
    this.#backendCommit = backendCommit;
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram(reg, { name, help, buckets }).series;
    this.hashSeconds = histogram(
      "etcd_mvcc_hash_duration_seconds",
      "Duration of hashing the whole store (Maintenance.Hash), in seconds.",
      exponentialBuckets(0.01, 2, 15),
    );
    this.hashRevSeconds = histogram(
      "etcd_mvcc_hash_rev_duration_seconds",
      "Duration of hashing the store up to a revision (Maintenance.HashKV), in seconds.",
      exponentialBuckets(0.01, 2, 15),
    );
    this.backendSnapshotSeconds = histogram(
      "etcd_disk_backend_snapshot_duration_seconds",
      "Duration of Maintenance.Snapshot transfers, in seconds.",
      exponentialBuckets(0.01, 2, 17),
    );
    this.#snapSave = histogram(
      "etcd_debugging_snap_save_total_duration_seconds",
      "Duration of writing a state snapshot file, in seconds.",
      exponentialBuckets(0.001, 2, 14),
    );
    this.#snapMarshal = histogram(
      "etcd_debugging_snap_save_marshalling_duration_seconds",
      "Duration of checksumming and framing a state snapshot for its file, in seconds.",
      exponentialBuckets(0.001, 2, 14),
    );
    this.#snapFsync = histogram(
      "etcd_snap_fsync_duration_seconds",
      "Duration of the fsync of a state snapshot file, in seconds.",
      exponentialBuckets(0.001, 2, 14),
    );
    this.#snapDbSave = histogram(
      "etcd_snap_db_save_total_duration_seconds",
      "Duration of saving a snapshot received from the leader, in seconds.",
      exponentialBuckets(0.1, 2, 10),
    );
    this.#snapDbFsync = histogram(
      "etcd_snap_db_fsync_duration_seconds",
      "Duration of the fsync of a snapshot received from the leader, in seconds.",
      exponentialBuckets(0.001, 2, 14),
    );
    this.#defragSeconds = histogram(
      "etcd_disk_backend_defrag_duration_seconds",
      "Duration of defragmentation, in seconds.",
      exponentialBuckets(0.1, 2, 13),
    );
    this.#defragInflight = new Gauge(reg, {
      name: "etcd_disk_defrag_inflight",
      help: "1 while a defragmentation runs on this member, 0 otherwise.",
    });
  }

  /** A state snapshot file was written in `seconds`; `parts` tells its framing and fsync. */
  snapshotSaved(seconds: number, parts: SnapshotSaveTimes): void {
    this.#backendCommit.observe(seconds);
    this.#snapSave.observe(seconds);
    this.#snapMarshal.observe(parts.marshalSeconds);
    this.#snapFsync.observe(parts.syncSeconds);
  }

  /** A snapshot from the leader was saved in `seconds` (etcd's .snap.db); `parts` tells its fsync. */
  snapshotInstalled(seconds: number, parts: SnapshotSaveTimes): void {
    this.#snapDbSave.observe(seconds);
    this.#snapDbFsync.observe(parts.syncSeconds);
  }

  /** A defragmentation starts; call the function returned when it has ended. */
  defragStarted(): () => void {
    const started = performance.now();
    this.#defragInflight.set(1);
    return () => {
      this.#defragInflight.set(0);
      this.#defragSeconds.observe((performance.now() - started) / 1000);
    };
  }
}
