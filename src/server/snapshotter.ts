/**
 * Periodic snapshots (`--snapshot-count`) taken without stalling the Raft
 * loop. A large store used to be serialized on the loop in one piece,
 * long enough for a leader to miss heartbeats and lose its lease.
 *
 * One snapshot at a time, in three steps:
 * 1. On the Raft loop, right after applying entry `index` ({@link step}):
 *    capture the state machine (a point-in-time view of the store, see
 *    src/mvcc/view.ts, and the small parts encoded), the term and the
 *    membership. Cheap: no bytes of the store are copied.
 * 2. Off the loop: encode the store a chunk at a time into one reused
 *    buffer, each chunk written to the file as it comes (the file's
 *    writes and flushes run on the thread pool), then fsync and rename,
 *    yielding to the event loop every 256 KiB encoded and every few
 *    thousand keys while sizing. Writes,
 *    compactions and reads go on meanwhile; the view does not change, so
 *    the file is exactly the state at `index`.
 * 3. Back on the loop (the WAL is written only from there): the WAL
 *    marker, Raft's in-memory snapshot (its position: a follower that
 *    needs the body is sent the file), log compaction and WAL release
 *    (DurableLog.commitSnapshot). Until the marker is written recovery
 *    uses the previous snapshot and replays the WAL from it, as before.
 *
 * A snapshot of a state a leader's snapshot replaced meanwhile is dropped
 * (its marker would name an older index than the install's). Stopping the
 * member abandons the one in progress at its next pause; its temp file is
 * removed on the next start.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { SnapshotMeta } from "../raft/types.ts";
import type { DurableLog } from "./durable_log.ts";
import { type CapturedState, streamCaptured } from "./state_snapshot.ts";

/** What the member hands over at the moment a snapshot is due. */
export interface SnapshotCapture {
  /** Index, term and membership the snapshot is for. */
  meta: SnapshotMeta;
  /** The state machine as of `meta.index`. */
  state: CapturedState;
}

/** How the snapshotter reaches its member. */
export interface SnapshotterOptions {
  clock: Clock;
  log: Logger;
  durable: Pick<DurableLog, "writeSnapshotStream" | "commitSnapshot">;
  /** `--snapshot-count`: applied entries between two snapshots. */
  count: number;
  /** Index of the snapshot the member started from (0: none). */
  index: number;
  /** The member's applied index now. */
  applied(): number;
  /** Captures the state machine at the applied index (called on the Raft loop). */
  capture(): SnapshotCapture;
  /** Asks the Raft loop to call {@link Snapshotter.step} soon. */
  kick(): void;
  /** A snapshot could not be written: the member must stop (etcd panics). */
  fail(err: unknown): void;
  /** Store bytes encoded between two pauses (default STORE_CHUNK_BYTES, 256 KiB). */
  chunkBytes?: number;
  /** Awaited after each pause (tests hold a snapshot mid-way with it). */
  onPause?: () => Promise<void> | void;
}

/** Thrown through a pause once the member stopped: the snapshot is abandoned. */
class Abandoned extends Error {
  constructor() {
    super("snapshot abandoned: the member stopped or installed a leader's snapshot");
  }
}

interface Waiting {
  index: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Written {
  meta: SnapshotMeta;
  /** The file's body length. */
  bytes: number;
  epoch: number;
}

/** Takes a member's periodic snapshots off its Raft loop. */
export class Snapshotter {
  readonly #o: SnapshotterOptions;
  /** Index of the newest snapshot recovery would use. */
  #index: number;
  /** Bumped when a leader's snapshot replaces the state machine. */
  #epoch = 0;
  #task: Promise<void> | undefined;
  #written: Written | undefined;
  /** Callers of {@link snapshotNow} waiting for a snapshot at or past `index`. */
  #waiting: Waiting[] = [];
  #stopped = false;

  /** @param o the member's clock, log, durable log and callbacks */
  constructor(o: SnapshotterOptions) {
    this.#o = o;
    this.#index = o.index;
  }

  /** Index of the newest snapshot whose WAL marker is written. */
  get index(): number {
    return this.#index;
  }

  /** Whether a snapshot is being encoded or written right now. */
  get busy(): boolean {
    return this.#task !== undefined || this.#written !== undefined;
  }

  /** Whether {@link step} has something to do (cheap: the Raft loop asks after every Ready). */
  due(): boolean {
    if (this.#written !== undefined) return true;
    if (this.#task !== undefined || this.#stopped) return false;
    return this.#o.applied() - this.#index >= this.#o.count || this.#waiting.length > 0;
  }

  /**
   * On the Raft loop: finishes a written snapshot (WAL marker and the
   * rest), then starts the next one if it is due.
   */
  async step(): Promise<void> {
    if (this.#stopped) return;
    if (this.#written !== undefined) await this.#commit();
    if (this.#task !== undefined || this.#stopped) return;
    const applied = this.#o.applied();
    if (applied === this.#index) this.#release();
    const wanted = this.#waiting.length > 0;
    if (applied - this.#index < this.#o.count && !(wanted && applied > this.#index)) return;
    this.#start();
  }

  /**
   * A snapshot covering everything applied now (Defragment rewrites the
   * snapshot file with it): resolves once its WAL marker is written.
   */
  snapshotNow(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Abandoned());
    const index = this.#o.applied();
    if (index <= this.#index) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      this.#waiting.push({ index, resolve, reject });
    });
    this.#o.kick();
    return p;
  }

  /** A leader's snapshot at `index` replaced the state machine (and is recovery's snapshot now). */
  stateReplaced(index: number): void {
    this.#epoch++;
    this.#written = undefined;
    this.#index = index;
    this.#release();
  }

  /** Abandons the snapshot in progress and fails the waiting callers. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const err = new Abandoned();
    for (const w of this.#waiting.splice(0)) w.reject(err);
    await this.#task;
  }

  /** A pause between chunks: lets the event loop (and the Raft loop) run. */
  readonly pause = async (): Promise<void> => {
    await new Promise<void>((resolve) => this.#o.clock.setTimeout(resolve, 0));
    if (this.#stopped) throw new Abandoned();
    await this.#o.onPause?.();
    if (this.#stopped) throw new Abandoned();
  };

  #start(): void {
    const c = this.#o.capture();
    this.#o.log.info("triggering snapshot", {
      "local-member-applied-index": c.meta.index,
      "local-member-snapshot-index": this.#index,
      "local-member-snapshot-count": this.#o.count,
    });
    const epoch = this.#epoch;
    this.#task = this.#write(c, epoch).finally(() => {
      this.#task = undefined;
      this.#o.kick();
    });
  }

  async #write(c: SnapshotCapture, epoch: number): Promise<void> {
    // A leader's snapshot replacing the state meanwhile makes this one useless.
    const pause = async () => {
      await this.pause();
      if (epoch !== this.#epoch) throw new Abandoned();
    };
    try {
      // Streamed to the file, never whole in memory (~290 MB at 1,000,000
      // keys): Raft keeps only the snapshot's position, and a follower
      // that needs it is sent the file (DurableLog.openSnapshotBody), as
      // etcd sends its own.
      const s = await streamCaptured(c.state, pause, this.#o.chunkBytes);
      await this.#o.durable.writeSnapshotStream(c.meta, s.length, s.chunks, pause);
      const bytes = s.length;
      if (this.#stopped || epoch !== this.#epoch) return;
      this.#written = { meta: c.meta, bytes, epoch };
    } catch (err) {
      if (this.#stopped || err instanceof Abandoned) return;
      this.#o.fail(err);
    }
  }

  async #commit(): Promise<void> {
    const w = this.#written!;
    this.#written = undefined;
    if (w.epoch !== this.#epoch || w.meta.index <= this.#index) return;
    await this.#o.durable.commitSnapshot(w.meta);
    this.#index = w.meta.index;
    this.#o.log.info("saved snapshot", {
      index: w.meta.index,
      term: w.meta.term,
      bytes: w.bytes,
    });
    this.#release();
  }

  /** Resolves the callers whose snapshot is now taken. */
  #release(): void {
    if (this.#waiting.length === 0) return;
    const still: Waiting[] = [];
    for (const w of this.#waiting) {
      if (w.index <= this.#index) w.resolve();
      else still.push(w);
    }
    this.#waiting = still;
  }
}
