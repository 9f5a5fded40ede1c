/**
 * The member's Raft log on disk and in memory: the WAL and snapshot files
 * (what survives a crash) and the MemoryStorage Raft reads (what this
 * process knows), kept in step in the order DESIGN.md rule 3 needs:
 *
 * - a Ready's entries and hard state go to the WAL in one write and one
 *   fdatasync, and reach Raft's storage only after that;
 * - a hard state whose only change is the commit index is not worth an
 *   fsync (a lost commit index is learned again from the leader): it rides
 *   along with the next write, unless it commits a membership change; then
 *   it is written at once, unsynced, as etcd writes every hard state (see
 *   {@link DurableLog.write});
 * - a snapshot is a file first (fsynced, renamed, directory fsynced), then
 *   a marker in the WAL, and only then may the WAL segments before it be
 *   released (recovery uses the snapshot the newest marker names);
 * - which messages of a Ready may leave before its fsync
 *   ({@link sendableBeforeSync}).
 *
 * Member coordinates; this module owns the order of writes.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { MemoryStorage } from "../raft/storage.ts";
import {
  type ConfState,
  EMPTY_BYTES,
  EntryType,
  type HardState,
  MessageType,
  type Ready,
  type Snapshot,
  type SnapshotMeta,
  StateRole,
} from "../raft/types.ts";
import type { SaveTimes, SnapshotBodyReader, SnapshotStore } from "../storage/snapshot.ts";
import type { Wal } from "../storage/wal.ts";
import { checkPersistable } from "./persist_check.ts";

/** Raft entries kept in memory behind a snapshot so slow followers can catch up from the log. */
export const CATCH_UP_ENTRIES = 5000;

/**
 * A lone member drops applied entries from memory once this many have
 * piled up. Small, so that few entries live through a young-generation
 * collection: at 100 clients (~20,000 puts/s) a step of 1,000 kept ~50 ms
 * of entries (each an object and its bytes) alive, so V8's scavenges
 * copied a share of them; with 128, same-minute pairs gave put p99 15.6-
 * 20.4 ms against 16.4-19.0 (5 of 6 pairs lower) at the same throughput.
 * Each trim copies the entries not yet applied (a few) into a new array.
 */
export const LOG_TRIM_STEP = 128;

/**
 * Messages a member may send before its Ready is persisted: a leader's
 * appends and heartbeats (when its term and vote are already on disk), and
 * from anyone the requests that carry no state of the sender (a proposal
 * or a read index forwarded to the leader). Votes and acknowledgements
 * always wait for the fsync.
 */
export function sendableBeforeSync(type: MessageType, leading: boolean): boolean {
  if (type === MessageType.Prop || type === MessageType.ReadIndex) return true;
  return leading && (type === MessageType.App || type === MessageType.Heartbeat);
}

/**
 * Whether this Ready is a leader's whose appends may go out before its
 * fsync: it leads, its term and vote are already durable (`persisted`),
 * and it installs no snapshot. Its own write then overlaps its followers'
 * (Raft thesis 10.2.1); it still counts itself toward a commit only once
 * its write is done, so every commit stands on a quorum that fsynced.
 */
export function leadsDurably(rd: Ready, role: StateRole, persisted: HardState): boolean {
  if (role !== StateRole.Leader || rd.snapshot) return false;
  const hs = rd.hardState;
  return !hs || (hs.term === persisted.term && hs.vote === persisted.vote);
}

/** The WAL, the snapshot files and Raft's in-memory storage of one member. */
export class DurableLog {
  readonly #wal: Wal;
  readonly #snaps: SnapshotStore;
  readonly #storage: MemoryStorage;
  readonly #clock: Clock;
  /** A commit-only hard state not written yet (it goes with the next write). */
  #deferred: HardState | undefined;
  /** Told how long each snapshot file took to write (and its parts), in seconds. */
  onSnapshotWritten?: (seconds: number, parts: SaveTimes) => void;
  /** Told how long a leader's snapshot took to write (and its parts), in seconds. */
  onSnapshotInstalled?: (seconds: number, parts: SaveTimes) => void;

  /** @param o the member's WAL, snapshot store, Raft storage and clock */
  constructor(o: { wal: Wal; snaps: SnapshotStore; storage: MemoryStorage; clock: Clock }) {
    this.#wal = o.wal;
    this.#snaps = o.snaps;
    this.#storage = o.storage;
    this.#clock = o.clock;
  }

  /** Raft's storage (for reads; write through this class). */
  get storage(): MemoryStorage {
    return this.#storage;
  }

  /** A commit-only hard state waiting for the next write (for tests). */
  get deferredHardState(): HardState | undefined {
    return this.#deferred;
  }

  /**
   * Makes the Ready's entries and hard state durable: one write and at most
   * one fdatasync. Nothing that would break the log reaches the disk, where
   * it would outlive us (checkPersistable throws InvariantViolation). Call
   * {@link remember} afterwards, unless the member stopped meanwhile.
   * `overlap` runs the fsync off the event loop (a leader's appends are in
   * flight and their answers must be read meanwhile). Returns the write to
   * wait for, or undefined when nothing had to be written (no promise of
   * its own: this is the put path).
   */
  write(rd: Ready, overlap: boolean): Promise<void> | undefined {
    if (rd.entries.length > 0 || rd.mustSync) {
      checkPersistable(rd.entries, this.#storage);
      const hs = rd.hardState ?? this.#deferred;
      this.#deferred = undefined;
      return this.#wal.save(hs, rd.entries, overlap);
    }
    // Only the commit index moved: it can be recomputed after a crash, so
    // it rides along with the next write instead of costing an fsync...
    if (!rd.hardState) return undefined;
    if (!this.#commitsConfChange(rd.hardState.commit)) {
      this.#deferred = rd.hardState;
      return undefined;
    }
    // ...except when it commits a membership change. A member that comes
    // back from a killed process must know that change committed: if the
    // leader removed itself and left, no leader can be elected without it
    // (the old configuration still counts the departed member). A write
    // without fsync survives a killed process, as etcd's unsynced hard
    // state does; it costs no fsync, and membership changes are rare.
    this.#deferred = undefined;
    return this.#wal.save(rd.hardState, [], false);
  }

  /** Whether an entry in (current commit, `commit`] is a membership change. */
  #commitsConfChange(commit: number): boolean {
    const s = this.#storage;
    const lo = Math.max(s.hardState().commit + 1, s.firstIndex());
    const hi = Math.min(commit, s.lastIndex());
    if (lo > hi) return false;
    return s.entries(lo, hi + 1).some((e) => e.type === EntryType.ConfChange);
  }

  /** Hands the Ready's written entries and hard state to Raft's storage. */
  remember(rd: Ready): void {
    if (rd.hardState) this.#storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.#storage.append(rd.entries);
  }

  /**
   * Makes a snapshot received from the leader durable (file, then WAL
   * marker, then the WAL before it released) and replaces Raft's log by it.
   * The caller restores the state machine from its data. `pause` is
   * awaited every few MiB of the file (a large one must not hold the loop).
   */
  async install(snap: Snapshot, pause?: () => Promise<void>): Promise<void> {
    const started = this.#clock.monotonic();
    await this.#snaps.save(snap.meta, snap.data, pause);
    const seconds = (this.#clock.monotonic() - started) / 1000;
    this.onSnapshotInstalled?.(seconds, this.#snaps.lastSave);
    await this.#wal.saveSnapshotMarker({ term: snap.meta.term, index: snap.meta.index });
    await this.#wal.releaseTo(snap.meta.index);
    // The body lives in its file (openSnapshotBody), not in Raft's storage.
    this.#storage.applySnapshot({ meta: snap.meta, data: EMPTY_BYTES });
  }

  /**
   * Opens the body of the snapshot file at `meta` (the one Raft's storage
   * names) to stream it to a follower; rejects if that file is gone or its
   * header is damaged, and the reader rejects on damage in the body, which
   * fails that one send.
   */
  openSnapshotBody(meta: SnapshotMeta): Promise<SnapshotBodyReader> {
    return this.#snaps.openBody(meta);
  }

  /**
   * Saves the state machine `data` as applied at `index` (file, then WAL
   * marker), compacts Raft's log to {@link CATCH_UP_ENTRIES} behind it, and
   * releases the WAL segments it covers. Returns the snapshot's term.
   */
  async snapshot(index: number, confState: ConfState, data: Uint8Array): Promise<number> {
    const meta = { index, term: this.#storage.term(index), confState };
    await this.writeSnapshotFile(meta, [data]);
    await this.commitSnapshot(meta);
    return meta.term;
  }

  /**
   * First step of a snapshot, which may run off the Raft loop: the file
   * (written under a temporary name, fsynced, renamed), its body being
   * `chunks` end to end; `pause` is awaited every few MiB. Nothing depends
   * on the file until {@link commitSnapshot} writes its WAL marker.
   */
  async writeSnapshotFile(
    meta: SnapshotMeta,
    chunks: readonly Uint8Array[],
    pause?: () => Promise<void>,
  ): Promise<void> {
    const started = this.#clock.monotonic();
    await this.#snaps.saveChunks(meta, chunks, pause);
    const seconds = (this.#clock.monotonic() - started) / 1000;
    this.onSnapshotWritten?.(seconds, this.#snaps.lastSave);
  }

  /**
   * {@link writeSnapshotFile} for a body of `length` bytes produced as it
   * is written (`chunks`, each consumed before the next is asked for): the
   * periodic snapshot, which nothing needs whole in memory.
   */
  async writeSnapshotStream(
    meta: SnapshotMeta,
    length: number,
    chunks: Iterable<Uint8Array>,
    pause?: () => Promise<void>,
  ): Promise<void> {
    const started = this.#clock.monotonic();
    await this.#snaps.saveStream(meta, length, chunks, pause);
    const seconds = (this.#clock.monotonic() - started) / 1000;
    this.onSnapshotWritten?.(seconds, this.#snaps.lastSave);
  }

  /**
   * Second step, on the Raft loop (it writes to the WAL): the marker that
   * makes the file the one recovery uses (entries after its index written
   * meanwhile sit before the marker in the WAL; replay keeps them), then
   * Raft's in-memory snapshot (its position only: a follower that needs
   * it is sent the file, see openSnapshotBody), Raft's log compacted
   * behind it and the WAL segments it covers released.
   */
  async commitSnapshot(meta: SnapshotMeta): Promise<void> {
    const { index, term, confState } = meta;
    await this.#wal.saveSnapshotMarker({ term, index });
    // A lone member trims its in-memory log (trimIfAlone) while a snapshot
    // is written: Raft cannot place one behind its log's start, and with
    // nobody to send it to, only the position would have mattered. (Once
    // it gains a peer it stops trimming and asks for a snapshot at once,
    // which lands here.)
    const storage = this.#storage;
    if (index > storage.snapshot().meta.index && index >= storage.firstIndex() - 1) {
      storage.createSnapshot(index, confState, EMPTY_BYTES);
    }
    // Keep some entries behind the snapshot so a slightly slow follower
    // catches up from the log rather than needing the whole snapshot.
    const compactTo = index - CATCH_UP_ENTRIES;
    if (compactTo > storage.firstIndex()) storage.compact(compactTo);
    // Older segments become purgeable (--max-wals); the purger deletes them.
    await this.#wal.releaseTo(index);
  }

  /**
   * Applied entries stay in memory only to be replicated; with no one to
   * replicate to, they are dropped in steps of {@link LOG_TRIM_STEP} (the
   * WAL keeps them until the next snapshot, which is what recovery reads).
   * Only a member with peers keeps enough entries for packing their bytes
   * into slabs (MemoryStorage.packEntries) to pay.
   */
  trimIfAlone(applied: number, alone: boolean): void {
    this.#storage.packEntries = !alone;
    if (applied - this.#storage.firstIndex() < LOG_TRIM_STEP || !alone) return;
    this.#storage.compact(applied);
  }

  /**
   * Whether {@link trimIfAlone} dropped entries that follow the newest
   * snapshot: a peer that needs them can then be sent only a newer
   * snapshot. A log that still reaches back to the snapshot (a cluster
   * bootstrapped together, entries replayed at a restart, a lone member
   * with fewer than {@link LOG_TRIM_STEP} entries applied since) can catch
   * a new peer up by itself.
   */
  trimmedPastSnapshot(): boolean {
    return this.#storage.firstIndex() - 1 > this.#storage.snapshot().meta.index;
  }
}
