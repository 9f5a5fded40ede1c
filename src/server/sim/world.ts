/**
 * A calm simulated cluster for hand-made scenarios: a reliable, ordered
 * network with sub-millisecond delays, fast disks and etcd's default
 * heartbeat and election timings, so that a test drives one exact
 * interleaving instead of random faults.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../../raft/sim_checks.ts";
import { type ClusterSettings, SimCluster } from "./cluster.ts";
import { SimNetwork } from "./network.ts";
import { Scheduler } from "./scheduler.ts";

/** How a calm world runs. */
export interface CalmWorldOptions {
  /** Seed of the scheduler's random numbers (default 1). */
  seed?: number;
  /** Virtual milliseconds {@link CalmWorld.until} and {@link CalmWorld.drive} wait by default (5000). */
  waitMs?: number;
}

/** The pieces of a calm world and the two ways to run it. */
export interface CalmWorld {
  s: Scheduler;
  net: SimNetwork;
  c: SimCluster;
  /** Runs virtual time until `cond` holds or `ms` have passed (check `cond` after). */
  until: (cond: () => boolean, ms?: number) => Promise<void>;
  /** Runs virtual time until `p` settles, failing if it has not within `ms`; gives its value. */
  drive: <T>(p: Promise<T>, ms?: number) => Promise<T>;
}

/** A cluster of `size` members in a calm world; `settings` override the timings and tuning. */
export function calmWorld(
  size: number,
  settings: Partial<ClusterSettings> = {},
  opts: CalmWorldOptions = {},
): CalmWorld {
  const waitMs = opts.waitMs ?? 5000;
  const s = new Scheduler(mulberry32(opts.seed ?? 1));
  const net = new SimNetwork(s, {
    dropRate: 0,
    dupRate: 0,
    minDelayMs: 0.1,
    maxDelayMs: 1,
    fifo: true,
  });
  const c = new SimCluster(
    s,
    net,
    {
      heartbeatMs: 50,
      electionMs: 500,
      snapshotCount: 10_000,
      diskMinMs: 0.05,
      diskMaxMs: 0.2,
      ...settings,
    },
    size,
    () => {},
  );
  const drive = async <T>(p: Promise<T>, ms = waitMs): Promise<T> => {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    await s.runUntil(s.now + ms, () => {}, () => done);
    assert.ok(done, "did not settle in time");
    return await p;
  };
  const until = (cond: () => boolean, ms = waitMs) => s.runUntil(s.now + ms, () => {}, cond);
  return { s, net, c, drive, until };
}
