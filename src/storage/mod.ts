/**
 * Durable storage of a member: the write-ahead log, snapshot files and the
 * versioned data directory. This is the only code in cairn that touches the
 * disk for the member's data.
 *
 * @module
 */
export {
  DEFAULT_SEGMENT_SIZE,
  segmentName,
  type SnapshotMarker,
  Wal,
  WalCorruptError,
  type WalMetadata,
  type WalOptions,
  type WalReplay,
} from "./wal.ts";
export {
  SNAPSHOT_FORMAT_VERSION,
  type SnapshotFile,
  snapshotName,
  SnapshotStore,
  type SnapshotStoreOptions,
  SnapshotVersionError,
} from "./snapshot.ts";
export {
  DATA_FORMAT_VERSION,
  type DataDir,
  type DataDirOptions,
  DataDirVersionError,
  openDataDir,
  WalDirMismatchError,
} from "./data_dir.ts";
export { type Disk, type DiskEntry, type DiskFile, type DiskStat, REAL_DISK } from "./disk.ts";
export {
  SimDisk,
  type SimDiskOptions,
  type SimDiskStats,
  type SimDiskViewOptions,
} from "./sim_disk.ts";
export { FilePurger, type FilePurgerOptions, PURGE_INTERVAL_MS, type Purgeable } from "./purge.ts";
