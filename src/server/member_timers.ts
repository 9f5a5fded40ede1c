/**
 * A member's periodic work: Raft's ticks, the sweep of request deadlines,
 * lease expiry and checkpoints, and the purge of old WAL and snapshot
 * files. Every interval is kept in one place so a stop, a halt or a
 * removal clears them all at once.
 *
 * @module
 */
import type { Clock, TimerId } from "../clock.ts";
import type { Config } from "../config.ts";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { LEASE_TICK_MS, LeaseDriver } from "../lease/driver.ts";
import type { Lessor } from "../lease/lessor.ts";
import type { Logger } from "../log.ts";
import { FilePurger } from "../storage/purge.ts";
import type { SnapshotStore } from "../storage/snapshot.ts";
import type { Wal } from "../storage/wal.ts";

/** How often the deadlines of waiting requests are swept (one sweeper for all, not a timer each). */
const SWEEP_INTERVAL_MS = 250;

/** Intervals on one clock, cleared together. */
export class IntervalTimers {
  readonly #clock: Clock;
  readonly #ids: TimerId[] = [];

  /** @param clock the clock the intervals run on. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Runs `fn` every `ms` until {@link clearAll}. */
  every(fn: () => void, ms: number): void {
    this.#ids.push(this.#clock.setInterval(fn, ms));
  }

  /** Cancels every interval (safe to call more than once). */
  clearAll(): void {
    for (const t of this.#ids) this.#clock.clearInterval(t);
  }
}

/** What the Raft, deadline and lease intervals drive. */
export interface PeriodicHost {
  readonly cfg: Pick<Config, "heartbeatIntervalMs">;
  readonly log: Logger;
  /** The member's lessor (restored in place by snapshot installs). */
  readonly lessor: Lessor;
  /** One Raft tick (a heartbeat interval passed). */
  tick(): void;
  /** Fails the requests whose deadline passed. */
  sweep(): void;
  /** Whether this member leads now (only the leader expires leases). */
  isLeader(): boolean;
  /** Proposes a lease revoke or checkpoint through the log. */
  propose(request: InternalRequest["request"]): Promise<unknown>;
}

/** Starts Raft's ticks, the deadline sweeper and the lease driver on `timers`. */
export function startPeriodicWork(timers: IntervalTimers, host: PeriodicHost): void {
  timers.every(() => host.tick(), host.cfg.heartbeatIntervalMs);
  timers.every(() => host.sweep(), SWEEP_INTERVAL_MS);
  const leases = new LeaseDriver({
    lessor: host.lessor,
    isLeader: () => host.isLeader(),
    propose: (req) => host.propose(req),
    log: host.log,
  });
  timers.every(() => leases.tick(), LEASE_TICK_MS);
}

/** What the purger needs of its member. */
export interface PurgeHost {
  readonly cfg: Pick<Config, "maxWals" | "maxSnapshots">;
  readonly wal: Wal;
  readonly snaps: SnapshotStore;
  readonly clock: Clock;
  /** Between purge rounds (undefined: etcd's 30 s). */
  readonly intervalMs: number | undefined;
  readonly log: Logger;
  /** A purge failed: etcd exits (lg.Fatal). */
  fatal(err: Error): void;
}

/** `--max-wals` / `--max-snapshots`: old files are purged every 30 s, as etcd does. */
export function startPurger(host: PurgeHost): FilePurger {
  const purger = new FilePurger({
    wal: host.wal,
    // Never the snapshot recovery would use (see SnapshotStore.purge).
    snaps: { purge: (keep) => host.snaps.purge(keep, host.wal.snapshotMarker) },
    maxWals: host.cfg.maxWals,
    maxSnapshots: host.cfg.maxSnapshots,
    clock: host.clock,
    intervalMs: host.intervalMs,
    onPurged: (_kind, path) => host.log.info("purged", { path }),
    onError: (err) => {
      host.log.error("failed to purge old WAL or snapshot files", { error: String(err) });
      host.fatal(err);
    },
  });
  purger.start();
  return purger;
}
