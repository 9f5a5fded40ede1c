/**
 * The write-ahead log: numbered segment files `<seq>-<firstIndex>.wal`
 * (16 hex digits each) holding framed records (see record.ts).
 *
 * Every segment starts with a header of metadata, the current hard state
 * and the newest snapshot marker, so any suffix of the segment list is
 * self-describing and releasing old segments never loses state. New
 * segments are written under a temporary name, fsynced, renamed and the
 * directory fsynced, so a crash never leaves a half-made segment.
 *
 * Preallocation (etcd's, on by default on the real disk): a spare segment
 * is zero-filled to the segment size and fsynced in the background
 * (segment_pipeline.ts), so appends overwrite zeros instead of growing the
 * file, which saves fdatasync its metadata commit (about 40 µs of a small
 * append's 0.14 ms here). A segment switch takes the spare, writes the
 * header into it and renames it. The first segment of a new WAL (and a last
 * segment reopened below full size) is not preallocated, since zero-filling
 * 64 MiB would delay the start by ~0.1 s: once it holds
 * {@link EARLY_ROLL_BYTES} the pipeline prepares a spare, and the WAL
 * switches to it as soon as it is ready. A zero length where a record
 * would start is the end of the log (record.ts); appends after a restart
 * continue there, not at the end of the file.
 *
 * Sync discipline (measured here, ext4, 256-byte append + fdatasync, 3 runs
 * of 1500): `writeSync` + `FsFile.syncDataSync()` p50 ≈ 170-195 µs;
 * `node:fs` `fdatasyncSync` ≈ 195-215 µs (same syscall, slightly more glue);
 * `await FsFile.syncData()` ≈ 245-265 µs (the extra thread-pool round trip).
 * So the default is `syncMode: "blocking"`; `"async"` keeps the event loop
 * free during the fsync for callers that want overlap instead of latency.
 *
 * Opening replays every retained segment (up to ~320 MB with 1,000,000
 * keys): each record's CRC, the framing and the links between segments are
 * checked, as etcd checks every record at start, but records are not
 * decoded into objects. Segments stream through one small window
 * (segment_scan.ts), entries are kept as columns (replay.ts), and only the
 * entries after the newest snapshot marker are read back, into one buffer.
 * Measured on a 1,000,000-key data dir: ~4 s of CPU before, ~0.5 s after.
 *
 * @module
 */
import { join } from "node:path";
import type { Entry, EntryType, HardState } from "../raft/types.ts";
import { type Disk, type DiskFile, REAL_DISK } from "./disk.ts";
import { removeIfExists, syncDir, writeAllSync } from "./fs_util.ts";
import {
  CHAIN_START,
  encodeRecords,
  entryRecordSize,
  foldRecordCrcs,
  HARD_STATE_RECORD_SIZE,
  RecordType,
  RecordWriter,
  type SegmentLink,
  type SnapshotMarker,
  WalCorruptError,
  type WalMetadata,
  type WalRecord,
} from "./record.ts";
import type { ReplayLog } from "./replay.ts";
import { SegmentPipeline } from "./segment_pipeline.ts";
import { scanSegments, type Segment, type SegmentName, type SegmentsScan } from "./wal_scan.ts";
import { checkSegmentsOffThread } from "./off_thread_check.ts";
import { adviseHugePages } from "../process/huge_pages.ts";

export { WalCorruptError } from "./record.ts";
export type { SnapshotMarker, WalMetadata } from "./record.ts";

/** Default segment size, as etcd: 64 MiB. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

/** Largest save gathered in the WAL's reused buffer (see `saveScratch`). */
const SAVE_SCRATCH_MAX = 1024 * 1024;

/** Largest save gathered in the buffer kept while large values arrive (see `bigSaveScratch`). */
const BIG_SCRATCH_MAX = 64 * 1024 * 1024;

/**
 * Bytes a segment that is not preallocated takes before the pipeline
 * prepares a spare to switch to early. A member that writes less (a
 * short-lived test member, `snapshot restore`) never pays for 64 MiB of
 * zeros; a loaded one switches within its first few thousand puts.
 */
export const EARLY_ROLL_BYTES = 1 << 20;

/**
 * How far ahead of the writer a preallocated segment's pages are read back
 * into the page cache. Writing a record into a cached page of zeros is a
 * copy; into one the kernel dropped (this VM's DAMON pages out what was
 * not touched for a minute, so a spare made long before its use is cold)
 * it is first a synchronous read of the block: measured here 1.2 ms for
 * one write in 13 (300 B records), which would cost more than the
 * preallocation saves. Reading ahead off the event loop keeps the pages
 * warm; a cached page costs that read nothing but a copy.
 */
export const PREFETCH_BYTES = 256 * 1024;

/** Tuning knobs; the defaults suit production. */
export interface WalOptions {
  /** Roll to a new segment once the current one reaches this many bytes. */
  segmentSize?: number;
  /**
   * Zero-fill segments to `segmentSize` ahead of use, off the write path, so
   * appends never grow the file. Default: on for the real disk, off for a
   * simulated one (whose files live in memory).
   */
  preallocate?: boolean;
  /** `"blocking"`: syncDataSync (lowest latency). `"async"`: await syncData. */
  syncMode?: "blocking" | "async";
  /** The file system (default: the real one; the member simulation passes its own). */
  disk?: Disk;
  /**
   * Where the newest snapshot marker is expected (the newest snapshot
   * file's index): replay then reads only from the segment holding the
   * entries after it, and the older segments are only checked (see
   * {@link replayStart}). A wrong hint costs a second read, never a
   * different replay.
   */
  replayHint?: number;
  /**
   * Return before the older segments are checked: the caller awaits
   * `replay.verified` before acting on the replay (a restart restores its
   * snapshot meanwhile).
   */
  deferVerify?: boolean;
  /**
   * Older segments of at least this many bytes in all are checked on
   * another thread (default {@link OFF_THREAD_BYTES}; the real disk only).
   */
  offThreadBytes?: number;
}

/** What a reopened WAL holds. */
export interface WalReplay {
  metadata: WalMetadata;
  /** The last saved hard state (all zero if none was ever saved). */
  hardState: HardState;
  /** Entries after the newest snapshot marker, truncation already applied. */
  entries: Entry[];
  /** The newest snapshot marker, if any. */
  snapshot?: SnapshotMarker;
  /** Set when a torn final write was cut off the last segment. */
  truncatedTail?: { path: string; offset: number; droppedBytes: number; reason: string };
  /**
   * Settles once the segments before those replayed are checked too
   * (rejecting with the {@link WalCorruptError} the open would have
   * thrown); already settled unless the open was asked to `deferVerify`.
   */
  verified: Promise<void>;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** The file name of segment `seq` whose first entry is expected at `firstIndex`. */
export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

/** An open write-ahead log. All mutating calls are serialized. */
export class Wal {
  private readonly segmentSize: number;
  private readonly blocking: boolean;
  /** Prepares preallocated segments; undefined when preallocation is off. */
  private readonly pipeline: SegmentPipeline | undefined;
  /** The current segment was zero-filled to its size before use. */
  private zeroFilled = false;
  /** Where reading ahead (see {@link PREFETCH_BYTES}) has got to in the current segment. */
  private prefetchedTo = 0;
  /** A read-ahead under way, on its own descriptor of the current segment. */
  private prefetching: Promise<void> | undefined;
  private readonly disk: Disk;
  private queue: Promise<unknown> = Promise.resolve();
  private scratch: Uint8Array | undefined;
  /** See {@link bigSaveScratch}. */
  private bigScratch: Uint8Array | undefined;
  private failure: unknown;
  private closed = false;
  /** Told the duration of every fdatasync, in seconds (etcd_disk_wal_fsync_duration_seconds). */
  onSync?: (seconds: number) => void;
  /** Told the size and duration (seconds) of every write (etcd_disk_wal_write_*). */
  onWrite?: (bytes: number, seconds: number) => void;

  private constructor(
    readonly dir: string,
    readonly metadata: WalMetadata,
    opts: WalOptions,
    private segments: Segment[],
    private file: DiskFile | undefined,
    private offset: number,
    private hardState: HardState,
    private snapshot: SnapshotMarker | undefined,
    private lastIndex: number,
    /** foldRecordCrcs over the current segment's records: the next segment's link. */
    private chain: number,
  ) {
    this.segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.blocking = (opts.syncMode ?? "blocking") === "blocking";
    this.disk = opts.disk ?? REAL_DISK;
    this.pipeline = (opts.preallocate ?? this.disk === REAL_DISK)
      ? new SegmentPipeline(dir, this.segmentSize, this.disk)
      : undefined;
  }

  /** Creates a WAL in `dir` (made if missing), which must hold no segments yet. */
  static async create(dir: string, meta: WalMetadata, opts: WalOptions = {}): Promise<Wal> {
    const disk = opts.disk ?? REAL_DISK;
    await disk.mkdir(dir, { recursive: true, mode: 0o700 });
    if ((await listSegments(dir, disk)).length > 0) throw new Error(`WAL already exists in ${dir}`);
    const wal = new Wal(
      dir,
      meta,
      opts,
      [],
      undefined,
      0,
      emptyHardState(),
      undefined,
      0,
      CHAIN_START,
    );
    await wal.newSegment(0, 0, undefined, false);
    return wal;
  }

  /**
   * Opens an existing WAL, replays it, cuts a torn final write off the last
   * segment, and positions appends after the last good record.
   */
  static async open(
    dir: string,
    opts: WalOptions = {},
  ): Promise<{ wal: Wal; replay: WalReplay }> {
    const disk = opts.disk ?? REAL_DISK;
    const names = await listSegments(dir, disk);
    if (names.length === 0) throw new Error(`no WAL segments in ${dir}`);
    // Every retained record is checked (CRC, framing, links), as etcd reads
    // every WAL file at start (ValidSnapshotEntries), but none becomes an
    // object: entries are kept as columns and only those after the newest
    // snapshot marker are read back (readEntries). The segments before the
    // one the replay needs are checked apart (see replayStart), on another
    // thread when they are large.
    const from = replayStart(names, opts.replayHint);
    let verified = from > 0
      ? checkSegments(disk, dir, names, from, opts.offThreadBytes)
      : Promise.resolve();
    // Settled whether or not anyone awaits it (a rejection no one has seen
    // yet must not end the process); awaiting it still throws.
    verified.catch(() => {});
    let scanned: SegmentsScan;
    try {
      scanned = await scanSegments(disk, dir, names, from);
    } catch (err) {
      await verified.catch(() => {}); // no check left running behind a refused open
      throw err;
    }
    let segments: Segment[];
    if (from > 0 && (scanned.log.snapshot?.index ?? -1) < names[from].firstIndex - 1) {
      // The newest marker is older than the hint said (a snapshot file
      // whose marker never reached the WAL): read every segment here.
      await verified.catch(() => {}); // the full read finds what it found
      verified = Promise.resolve();
      scanned = await scanSegments(disk, dir, names);
      segments = scanned.segments;
    } else {
      // Nothing of the older ones is replayed: the entries in each end
      // where the next one starts, all covered by the newest marker.
      segments = names.slice(0, from).map((n, i) => ({
        seq: n.seq,
        firstIndex: n.firstIndex,
        path: join(dir, n.name),
        maxIndex: names[i + 1].firstIndex - 1,
        released: false,
      })).concat(scanned.segments);
    }
    if (!opts.deferVerify) await verified;
    const { metadata, log, end, chain, prevScan, lastSize, tornEnd, truncatedTail } = scanned;
    const hs = scanned.hardState;
    if (metadata === undefined) {
      // Only possible with a single, empty segment: creation always writes a header.
      throw new WalCorruptError(segments[0].path, 0, "no metadata record in the WAL");
    }
    const entries = await readEntries(disk, segments, log);
    const snapshot = log.snapshot;
    const hardState: HardState = {
      term: hs.term,
      vote: (BigInt(hs.voteHi) << 32n) | BigInt(hs.voteLo),
      commit: hs.commit,
    };
    markReleased(segments, snapshot?.index ?? 0);
    const last = segments[segments.length - 1];
    const file = await disk.open(last.path, { read: true, write: true });
    // A segment of full size was preallocated (or is full and rolls at the
    // next write either way).
    const zeroFilled = lastSize >= (opts.segmentSize ?? DEFAULT_SEGMENT_SIZE);
    if (truncatedTail) {
      if (zeroFilled) {
        // Zero the torn bytes and keep the preallocated size: the next
        // start then reads the end of the log where appends resume.
        file.seekSync(end, Deno.SeekMode.Start);
        writeAllSync(file, new Uint8Array(tornEnd - end));
      } else {
        await file.truncate(end);
      }
    }
    // What was just read may be only in the page cache: a killed process
    // wrote it and never reached its fsync, or renamed a new segment into
    // place and never fsynced the directory. Raft is about to act on it
    // (vote, acknowledge, append after it), so it must be on the disk
    // first, or a power loss could take back a vote or an acknowledged
    // entry while later writes survive (found by the member simulation:
    // entries missing between two segments; a whole newest segment, with
    // a vote and acknowledged entries, gone). Earlier segments were synced
    // before the next one was made.
    await file.sync();
    await syncDir(dir, disk);
    file.seekSync(end, Deno.SeekMode.Start);
    const lastIndex = entries.length > 0
      ? entries[entries.length - 1].index
      : (snapshot?.index ?? 0);
    const wal = new Wal(
      dir,
      metadata,
      opts,
      segments,
      file,
      end,
      hardState,
      snapshot,
      lastIndex,
      chain,
    );
    wal.zeroFilled = zeroFilled;
    if (end === 0) {
      // The last segment lost even its header: write it again, linked to
      // the segment before it as it was read.
      const prev = segments.length > 1 ? segments[segments.length - 2] : undefined;
      const link = prev && prevScan ? { prevSeq: prev.seq, ...prevScan } : undefined;
      wal.writeRaw(wal.headerBytes(link), true);
    }
    wal.maybePrepare();
    wal.prefetchedTo = end;
    wal.maybePrefetch();
    const replay: WalReplay = {
      metadata,
      hardState,
      entries,
      snapshot,
      truncatedTail,
      verified,
    };
    return { wal, replay };
  }

  /**
   * Appends the entries then the hard state (if given) in ONE write and at
   * most ONE fdatasync (group commit). Entries go first so that a torn write
   * can never keep a commit index without the entries it covers. The sync is
   * skipped when nothing Raft needs durable changed (no entries, same term
   * and vote: a lost commit index is recomputed), as etcd's MustSync.
   * `overlap` asks for the thread-pool fsync whatever the sync mode, for a
   * caller with other work in flight meanwhile (a leader's appends).
   */
  save(hardState: HardState | undefined, entries: Entry[], overlap = false): Promise<void> {
    return this.run(async () => {
      if (hardState === undefined && entries.length === 0) return;
      if (this.mustRoll()) await this.roll();
      // Indexed loops: a for-of iterator per loop was an allocation per write.
      const n = entries.length;
      let size = hardState ? HARD_STATE_RECORD_SIZE : 0;
      for (let i = 0; i < n; i++) size += entryRecordSize(entries[i]);
      const w = new RecordWriter(size, this.saveScratch(size));
      for (let i = 0; i < n; i++) w.entry(entries[i]);
      if (hardState) w.hardState(hardState);
      const mustSync = entries.length > 0 ||
        (hardState !== undefined &&
          (hardState.term !== this.hardState.term || hardState.vote !== this.hardState.vote));
      if (mustSync && (overlap || !this.blocking)) {
        this.writeRaw(w.finish(), false);
        const started = performance.now();
        await this.guard(() => this.file!.syncData());
        this.onSync?.((performance.now() - started) / 1000);
      } else {
        this.writeRaw(w.finish(), mustSync);
      }
      if (hardState) this.hardState = { ...hardState };
      if (entries.length > 0) {
        const seg = this.segments[this.segments.length - 1];
        for (let i = 0; i < n; i++) {
          if (entries[i].index > seg.maxIndex) seg.maxIndex = entries[i].index;
        }
        this.lastIndex = entries[entries.length - 1].index;
      }
      this.maybePrepare();
      this.maybePrefetch();
    });
  }

  /** Durably records that a snapshot up to `meta.index` exists (save the snapshot file first). */
  saveSnapshotMarker(meta: SnapshotMarker): Promise<void> {
    return this.run(async () => {
      if (this.mustRoll()) await this.roll();
      const bytes = encodeRecords([{ type: RecordType.Snapshot, snapshot: meta }]);
      this.writeRaw(bytes, this.blocking);
      if (!this.blocking) await this.guard(() => this.file!.syncData());
      if (this.snapshot === undefined || meta.index >= this.snapshot.index) {
        this.snapshot = { term: meta.term, index: meta.index };
      }
      if (meta.index > this.lastIndex) this.lastIndex = meta.index;
      this.maybePrepare();
    });
  }

  /**
   * Releases the segments whose entries all have index <= `index`, so a
   * later {@link purge} may delete them (etcd's ReleaseLockTo). The newest
   * snapshot marker caps `index`, so entries not yet covered by a snapshot
   * are never released; the current segment is never released.
   */
  releaseTo(index: number): Promise<void> {
    return this.run(() => {
      markReleased(this.segments, Math.min(index, this.snapshot?.index ?? 0));
      return Promise.resolve();
    });
  }

  /**
   * Deletes the oldest segments while more than `keep` remain, stopping at
   * the first one still needed for recovery (as etcd's purge stops at the
   * first file it cannot lock). Returns the deleted paths, oldest first.
   * `keep` below 1 deletes nothing: etcd's 0 means "keep every file".
   */
  purge(keep: number): Promise<string[]> {
    return this.run(async () => {
      if (keep < 1) return [];
      let k = 0;
      while (this.segments.length - k > keep && this.segments[k].released) k++;
      if (k === 0) return [];
      const gone = this.segments.slice(0, k);
      // Drop them from the list first: a failed unlink must not leave a
      // segment listed that may already be gone from the disk. One left
      // behind is harmless: an older, released prefix replays correctly.
      this.segments = this.segments.slice(k);
      for (const seg of gone) await removeIfExists(seg.path, this.disk);
      await syncDir(this.dir, this.disk);
      return gone.map((s) => s.path);
    });
  }

  /** The newest snapshot marker written or replayed (the snapshot recovery would use). */
  get snapshotMarker(): SnapshotMarker | undefined {
    return this.snapshot;
  }

  /** Paths of the live segments, oldest first (for tooling and tests). */
  segmentPaths(): string[] {
    return this.segments.map((s) => s.path);
  }

  /**
   * Resolves when no background work is under way: a spare segment being
   * prepared, a read-ahead (for tests and tooling).
   */
  async settled(): Promise<void> {
    while (this.prefetching) await this.prefetching;
    await this.pipeline?.settled();
  }

  /**
   * Closes the current segment and drops a spare segment, waiting for one
   * being prepared; the WAL cannot be used afterwards.
   */
  close(): Promise<void> {
    return this.run(async () => {
      this.closed = true;
      this.file?.close();
      this.file = undefined;
      while (this.prefetching) await this.prefetching;
      await this.pipeline?.close();
    });
  }

  /**
   * A full segment rolls; so does one that was not preallocated, as soon as
   * a preallocated spare is ready to replace it.
   */
  private mustRoll(): boolean {
    if (this.offset >= this.segmentSize) return true;
    return !this.zeroFilled && this.pipeline !== undefined && this.pipeline.ready;
  }

  /**
   * Starts preparing the next segment once the current one is half full, so
   * it is ready long before the switch (etcd keeps one spare at all times;
   * this spares short-lived members the zeros), or early for a segment that
   * is not preallocated.
   */
  private maybePrepare(): void {
    const p = this.pipeline;
    if (p === undefined || p.pending) return;
    const half = this.segmentSize / 2;
    if (this.offset >= (this.zeroFilled ? half : Math.min(EARLY_ROLL_BYTES, half))) p.prepare();
  }

  /**
   * Reads the next {@link PREFETCH_BYTES} of a preallocated segment into
   * the page cache once the writer is within half of that of where reading
   * got to. Advisory: a failed read changes nothing but speed.
   */
  private maybePrefetch(): void {
    if (!this.zeroFilled || this.prefetching) return;
    if (this.offset + PREFETCH_BYTES / 2 < this.prefetchedTo) return;
    const from = Math.max(this.prefetchedTo, this.offset);
    if (from >= this.segmentSize) return;
    const to = Math.min(this.segmentSize, from + PREFETCH_BYTES);
    this.prefetchedTo = to;
    const path = this.segments[this.segments.length - 1].path;
    this.prefetching = readRange(this.disk, path, from, to)
      .catch(() => {})
      .finally(() => {
        this.prefetching = undefined;
        // The writer may have passed the mark while this read ran.
        if (!this.closed && this.failure === undefined) this.maybePrefetch();
      });
  }

  /**
   * The buffer a save's records are gathered in, reused from save to save
   * (written synchronously, so free again when writeRaw returns): a fresh
   * one per save was fresh memory, page faults and all, for every group
   * commit (~650 KiB for ten 64 KiB puts). Saves above
   * {@link SAVE_SCRATCH_MAX} go to {@link bigSaveScratch}, which the next
   * smaller save lets go, so an idle WAL holds at most that much.
   */
  private saveScratch(size: number): Uint8Array | undefined {
    if (size > SAVE_SCRATCH_MAX) return this.bigSaveScratch(size);
    // Big values have stopped: their buffer goes.
    this.bigScratch = undefined;
    const have = this.scratch?.length ?? 0;
    if (have < size) {
      this.scratch = new Uint8Array(Math.min(SAVE_SCRATCH_MAX, Math.max(size, 2 * have, 16384)));
    }
    return this.scratch;
  }

  /**
   * The buffer of saves above {@link SAVE_SCRATCH_MAX} (large values),
   * kept from one such save to the next and dropped by the first smaller
   * one: a fresh buffer per save was 10 MiB of fresh memory per group
   * commit of ten 1 MiB puts, ~40 ms of page faults on this machine
   * (bench/NOTES.md, "1 MiB values"). Up to {@link BIG_SCRATCH_MAX}; a
   * larger save gets a buffer of its own.
   */
  private bigSaveScratch(size: number): Uint8Array | undefined {
    if (size > BIG_SCRATCH_MAX) return undefined;
    const have = this.bigScratch?.length ?? 0;
    if (have < size) {
      this.bigScratch = new Uint8Array(Math.min(BIG_SCRATCH_MAX, Math.max(size, 2 * have)));
      adviseHugePages(this.bigScratch);
    }
    return this.bigScratch;
  }

  /** Runs `fn` after every earlier call finished; refuses after close or an I/O error. */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.closed) throw new Error(`WAL ${this.dir} is closed`);
      if (this.failure !== undefined) {
        throw new Error(`WAL ${this.dir} is unusable after an earlier I/O error`, {
          cause: this.failure,
        });
      }
      return fn();
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * After a failed write or fsync the file's state is unknown (and Linux may
   * have dropped the dirty pages), so the WAL refuses all further work.
   */
  private async guard<T>(fn: () => Promise<T> | T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  private writeRaw(bytes: Uint8Array, sync: boolean): void {
    try {
      const writing = performance.now();
      writeAllSync(this.file!, bytes);
      const took = (performance.now() - writing) / 1000;
      this.chain = foldRecordCrcs(this.chain, bytes);
      this.onWrite?.(bytes.length, took);
      if (sync) {
        const started = performance.now();
        this.file!.syncDataSync();
        this.onSync?.((performance.now() - started) / 1000);
      }
    } catch (err) {
      this.failure = err;
      throw err;
    }
    this.offset += bytes.length;
  }

  private headerBytes(link: SegmentLink | undefined): Uint8Array {
    const recs: WalRecord[] = [
      { type: RecordType.Metadata, metadata: this.metadata },
      { type: RecordType.HardState, hardState: this.hardState },
    ];
    if (this.snapshot) recs.push({ type: RecordType.Snapshot, snapshot: this.snapshot });
    if (link) recs.push({ type: RecordType.Link, link });
    return encodeRecords(recs);
  }

  private async roll(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    // The link below promises that the old segment ends at this.offset: an
    // unsynced record at its end (a commit-only hard state) that a power
    // loss took back would make the next start fail the link check.
    await this.guard(() => this.file!.syncData());
    const link = { prevSeq: last.seq, prevEnd: this.offset, prevChain: this.chain };
    await this.guard(() =>
      this.newSegment(last.seq + 1, this.lastIndex + 1, link, this.pipeline !== undefined)
    );
  }

  /**
   * Makes a segment durably (temp file, header, fsync, rename, dir fsync) and
   * switches to it. With `spare`, the temp file is the pipeline's
   * preallocated one (waiting for it if it is not ready yet).
   */
  private async newSegment(
    seq: number,
    firstIndex: number,
    link: SegmentLink | undefined,
    spare: boolean,
  ): Promise<void> {
    const path = join(this.dir, segmentName(seq, firstIndex));
    const header = this.headerBytes(link);
    let f: DiskFile;
    let tmp: string;
    if (spare) {
      ({ file: f, path: tmp } = await this.pipeline!.take());
    } else {
      tmp = `${path}.tmp`;
      f = await this.disk.open(tmp, {
        read: true,
        write: true,
        create: true,
        truncate: true,
        mode: 0o600,
      });
    }
    try {
      writeAllSync(f, header);
      // A spare's size is durable already: only the header is new.
      if (spare) await f.syncData();
      else await f.sync();
      await this.disk.rename(tmp, path);
      await syncDir(this.dir, this.disk);
    } catch (err) {
      f.close();
      throw err;
    }
    this.file?.close();
    this.file = f;
    this.zeroFilled = spare;
    this.offset = header.length;
    this.prefetchedTo = header.length;
    this.chain = foldRecordCrcs(CHAIN_START, header);
    this.segments.push({ seq, firstIndex, path, maxIndex: 0, released: false });
  }
}

/**
 * Older segments smaller than this in all are checked on the thread that
 * opens the WAL: a worker's start (~50 ms of another core) would cost
 * more than it saves.
 */
export const OFF_THREAD_BYTES = 32 << 20;

/**
 * The first segment a replay needs, given `hint`, the index where the
 * newest snapshot marker is expected: the last one named at or below
 * `hint + 1`, since a segment is named after the index following the last
 * one written before it (so every entry of the segments before it is
 * covered by that marker). 0 (read everything) without a hint.
 */
export function replayStart(names: SegmentName[], hint: number | undefined): number {
  if (hint === undefined) return 0;
  let k = 0;
  for (let i = 1; i < names.length; i++) if (names[i].firstIndex <= hint + 1) k = i;
  return k;
}

/**
 * Checks `names[0..from]` as the open would have read them (the link of
 * segment `from` to the one before it included), on a worker when they are
 * large and on the real disk, else here.
 */
async function checkSegments(
  disk: Disk,
  dir: string,
  names: SegmentName[],
  from: number,
  offThreadBytes = OFF_THREAD_BYTES,
): Promise<void> {
  const here = async () => void await scanSegments(disk, dir, names, 0, from + 1, false);
  if (disk === REAL_DISK) {
    let bytes = 0;
    for (let i = 0; i < from; i++) bytes += (await Deno.stat(join(dir, names[i].name))).size;
    if (bytes >= offThreadBytes) return await checkSegmentsOffThread(dir, names, from, here);
  }
  await here();
}

/**
 * Marks released every segment but the last whose entries all have index
 * <= `index`. Only a prefix is ever released: a segment's entries can be
 * superseded by later segments, never the reverse.
 */
function markReleased(segments: Segment[], index: number): void {
  for (let k = 0; k < segments.length - 1 && segments[k].maxIndex <= index; k++) {
    segments[k].released = true;
  }
}

/**
 * The entries the replay kept (those after the newest snapshot marker),
 * their data read back from the segments into one new buffer, each entry a
 * view of its part: 100,000 entries cost one allocation, not 100,000. The
 * survivors of one segment lie in one byte range of it, read in one go
 * (the records between them come along and are not used).
 */
async function readEntries(disk: Disk, segments: Segment[], log: ReplayLog): Promise<Entry[]> {
  const { first, count } = log.finish();
  const out: Entry[] = new Array(count);
  if (count === 0) return out;
  // Runs of survivors per segment: [first slot, end slot, byte from, byte to).
  const runs: { seg: number; from: number; to: number; slot: number; end: number }[] = [];
  let total = 0;
  for (let i = 0; i < count;) {
    const seg = log.segAt(i);
    let j = i + 1;
    while (j < count && log.segAt(j) === seg) j++;
    const from = log.offAt(i);
    const to = log.offAt(j - 1) + log.lenAt(j - 1);
    runs.push({ seg, from, to, slot: i, end: j });
    total += to - from;
    i = j;
  }
  const all = new Uint8Array(total);
  adviseHugePages(all); // fewer page faults filling it (see huge_pages.ts)
  let at = 0;
  for (const run of runs) {
    const part = all.subarray(at, at + run.to - run.from);
    await readInto(disk, segments[run.seg].path, run.from, part);
    for (let i = run.slot; i < run.end; i++) {
      const p = log.offAt(i) - run.from;
      out[i] = {
        term: log.termAt(i),
        index: first + i,
        type: log.typeAt(i) as EntryType,
        data: part.subarray(p, p + log.lenAt(i)),
      };
    }
    at += part.length;
  }
  return out;
}

/** Fills `into` with the bytes of `path` from offset `from`; throws if the file is shorter. */
async function readInto(disk: Disk, path: string, from: number, into: Uint8Array): Promise<void> {
  const f = await disk.open(path, { read: true });
  try {
    await f.seek(from, Deno.SeekMode.Start);
    for (let got = 0; got < into.length;) {
      const n = await f.read(into.subarray(got));
      if (n === null) throw new Error(`${path} ended while reading entries replayed from it`);
      got += n;
    }
  } finally {
    f.close();
  }
}

function emptyHardState(): HardState {
  return { term: 0, vote: 0n, commit: 0 };
}

/** Reads bytes `from`..`to` of `path` and drops them: brings them into the page cache. */
async function readRange(disk: Disk, path: string, from: number, to: number): Promise<void> {
  const f = await disk.open(path, { read: true });
  try {
    await f.seek(from, Deno.SeekMode.Start);
    const buf = new Uint8Array(Math.min(64 * 1024, to - from));
    for (let p = from; p < to;) {
      const n = await f.read(buf.subarray(0, Math.min(buf.length, to - p)));
      if (n === null) break;
      p += n;
    }
  } finally {
    f.close();
  }
}

/** Segment files in `dir` sorted by sequence number; stale temp files are removed. */
async function listSegments(
  dir: string,
  disk: Disk,
): Promise<{ seq: number; firstIndex: number; name: string }[]> {
  const out: { seq: number; firstIndex: number; name: string }[] = [];
  for await (const ent of disk.readDir(dir)) {
    if (!ent.isFile) continue;
    if (ent.name.endsWith(".wal.tmp")) {
      await removeIfExists(join(dir, ent.name), disk); // a segment whose creation never finished
      continue;
    }
    const m = SEGMENT_RE.exec(ent.name);
    if (m) out.push({ seq: parseInt(m[1], 16), firstIndex: parseInt(m[2], 16), name: ent.name });
  }
  return out.sort((a, b) => a.seq - b.seq);
}
