/**
 * Periodic purge of old WAL segments and snapshot files, as etcd's
 * `--max-wals` / `--max-snapshots` (etcd runs fileutil.PurgeFile every 30 s):
 * each round deletes the oldest files while more than the limit remain. A
 * WAL segment still needed for recovery (entries after the newest
 * snapshot) is never deleted, and a round stops at the first such segment,
 * as etcd's stops at the first file it cannot lock. A limit of 0 keeps
 * every file.
 *
 * @module
 */
import { type Clock, REAL_CLOCK, type TimerId } from "../clock.ts";

/** Something whose oldest files can be purged down to a count. */
export interface Purgeable {
  /** Deletes the oldest purgeable files while more than `keep` remain; returns their paths. */
  purge(keep: number): Promise<string[]>;
}

/** etcd's purgeFileInterval. */
export const PURGE_INTERVAL_MS = 30_000;

/** What a {@link FilePurger} purges, how often, and whom it tells. */
export interface FilePurgerOptions {
  /** The WAL (or anything purgeable like it). */
  wal: Purgeable;
  /** The snapshot store. */
  snaps: Purgeable;
  /** `--max-wals`: WAL segment files to keep; 0 keeps all. */
  maxWals: number;
  /** `--max-snapshots`: snapshot files to keep; 0 keeps all. */
  maxSnapshots: number;
  /** Time between rounds; defaults to {@link PURGE_INTERVAL_MS}. */
  intervalMs?: number;
  /** Told about every deleted file. */
  onPurged?: (kind: "wal" | "snap", path: string) => void;
  /**
   * Told when a round fails. etcd treats a failed purge as fatal; the
   * purger stops either way and leaves the decision to its owner.
   */
  onError: (err: Error) => void;
  /** Timers (default: the runtime's; the member simulation passes its own). */
  clock?: Clock;
}

/** Runs purge rounds: one when started, then one per interval until stopped. */
export class FilePurger {
  readonly #opts: FilePurgerOptions;
  readonly #clock: Clock;
  #timer: TimerId | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  /** A purger that does nothing until {@link start}. */
  constructor(opts: FilePurgerOptions) {
    if (!(opts.maxWals >= 0) || !(opts.maxSnapshots >= 0)) {
      throw new RangeError("purge limits must be non-negative");
    }
    this.#opts = opts;
    this.#clock = opts.clock ?? REAL_CLOCK;
  }

  /** Whether any limit is set (with both at 0 there is nothing to do). */
  get active(): boolean {
    return this.#opts.maxWals > 0 || this.#opts.maxSnapshots > 0;
  }

  /** Starts the first round now and schedules the next ones. */
  start(): void {
    if (!this.active || this.#stopped || this.#running || this.#timer) return;
    this.#round();
  }

  /** One purge of both kinds of file; resolves with the deleted paths. */
  async runOnce(): Promise<{ wal: string[]; snap: string[] }> {
    const { wal, snaps, maxWals, maxSnapshots, onPurged } = this.#opts;
    // Snapshots first: the WAL may only give up a segment once a snapshot
    // covers it, and that snapshot is always among the newest files kept.
    const snap = maxSnapshots > 0 ? await snaps.purge(maxSnapshots) : [];
    for (const p of snap) onPurged?.("snap", p);
    const walGone = maxWals > 0 ? await wal.purge(maxWals) : [];
    for (const p of walGone) onPurged?.("wal", p);
    return { wal: walGone, snap };
  }

  /** Stops scheduling rounds and waits for one in progress to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #round(): void {
    this.#timer = undefined;
    this.#running = this.runOnce().then(
      () => {
        this.#running = undefined;
        if (this.#stopped) return;
        const ms = this.#opts.intervalMs ?? PURGE_INTERVAL_MS;
        this.#timer = this.#clock.setTimeout(() => this.#round(), ms);
      },
      (err) => {
        this.#running = undefined;
        this.#stopped = true;
        this.#opts.onError(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }
}
