/**
 * The nemesis: a loop of fault cycles against a JepsenCluster. Each cycle
 * picks a fault, applies it, holds it for a while, heals it, then waits
 * (bounded) for every member to report healthy and pauses a little before
 * the next. Fault kinds are dealt from a shuffled deck, so every kind comes
 * up once before any comes up twice.
 *
 * Faults:
 * - `kill`: SIGKILL one member (half the time the leader) or two (a
 *   majority); they restart on their data dirs at the heal.
 * - `pause`: SIGSTOP one member (half the time the leader); SIGCONT at the heal.
 * - `partition-one`: one member (half the time the leader) cut off from both
 *   others: a minority of one against a majority of two.
 * - `partition-bridge`: only the link between two members cut; the third
 *   still talks to both (two overlapping majorities).
 * - `membership`: `etcdctl member remove` of one member (half the time the
 *   leader); at the heal `member add` and a start from an empty data dir.
 *
 * @module
 */

import { sleep } from "../harness/member.ts";
import type { JepsenCluster } from "./cluster.ts";
import type { Rand } from "./rand.ts";

/** The kinds of fault. */
export const FAULT_KINDS = [
  "kill",
  "pause",
  "partition-one",
  "partition-bridge",
  "membership",
] as const;

/** One kind of fault. */
export type FaultKind = typeof FAULT_KINDS[number];

/** Timing of the fault cycles, in ms. */
export interface NemesisOptions {
  /** Faults are started until this `performance.now()` time. */
  until: number;
  /**
   * Cycles to run even past `until` (default 0), so a short run still sees
   * each kind once; never past `hardUntil`.
   */
  minCycles?: number;
  /** No cycle starts after this `performance.now()` time (default `until`). */
  hardUntil?: number;
  /** How long a fault is held. */
  holdMs: [number, number];
  /** Pause after recovery before the next fault. */
  quietMs: [number, number];
  /** Bound on waiting for health after a heal. */
  recoverMs: number;
  /** Fault kinds to use (default all). */
  kinds?: readonly FaultKind[];
  /** At most this many cycles (default 10,000). */
  maxCycles?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What one cycle did. */
export interface FaultRecord {
  /** Kind of fault. */
  kind: FaultKind;
  /** Affected member names (for bridge: the two whose link was cut). */
  targets: string[];
  /** Whether the leader (as `endpoint status` saw it) was targeted. */
  leader: boolean;
  /** Cluster time (ms) the fault started and was healed. */
  start: number;
  healed: number;
  /** ms from the heal until every member was healthy; null if not within the bound. */
  recoveredMs: number | null;
  /** Steps that failed (a membership change refused, ...). */
  problems: string[];
}

/** Counts of what the nemesis did. */
export interface NemesisSummary {
  /** Every cycle, in order. */
  faults: FaultRecord[];
  /** Cycles per kind. */
  counts: Record<FaultKind, number>;
  /** Process-level events. */
  kills: number;
  restarts: number;
  pauses: number;
}

/** Runs fault cycles until `options.until`; the last cycle is always healed. */
export async function runNemesis(
  cluster: JepsenCluster,
  rand: Rand,
  options: NemesisOptions,
): Promise<NemesisSummary> {
  const log = options.log ?? (() => {});
  const kinds = options.kinds ?? FAULT_KINDS;
  const summary: NemesisSummary = {
    faults: [],
    counts: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    kills: 0,
    restarts: 0,
    pauses: 0,
  };
  const names = (idx: number[]) => idx.map((i) => cluster.members[i].name);
  let deck: FaultKind[] = [];
  const maxCycles = options.maxCycles ?? 10_000;

  const minCycles = options.minCycles ?? 0;
  const hardUntil = Math.max(options.until, options.hardUntil ?? options.until);
  const more = (cycle: number) =>
    cycle < maxCycles && performance.now() < hardUntil &&
    (performance.now() < options.until || cycle < minCycles);
  for (let cycle = 0; more(cycle); cycle++) {
    if (deck.length === 0) deck = rand.shuffle(kinds);
    const kind = deck.shift()!;
    const all = cluster.members.map((_, i) => i);
    // Half the time aim at the leader, the member whose loss matters most.
    const aimAtLeader = rand.next() < 0.5;
    const leader = aimAtLeader ? await cluster.leader() : undefined;
    const one = leader ?? rand.pick(all);
    const record: FaultRecord = {
      kind,
      targets: [],
      leader: leader !== undefined,
      start: cluster.now(),
      healed: 0,
      recoveredMs: null,
      problems: [],
    };
    let heal: () => Promise<void>;

    switch (kind) {
      case "kill": {
        const victims = rand.next() < 0.3
          ? rand.shuffle(all).slice(0, 2) // a majority: no quorum until they are back
          : [one];
        record.leader = leader !== undefined && victims.includes(leader);
        record.targets = names(victims);
        await Promise.all(victims.map((i) => cluster.kill(i)));
        summary.kills += victims.length;
        heal = () => {
          for (const i of victims) if (cluster.restart(i)) summary.restarts++;
          return Promise.resolve();
        };
        break;
      }
      case "pause": {
        record.targets = names([one]);
        cluster.pause(one);
        summary.pauses++;
        heal = () => {
          cluster.resume(one);
          return Promise.resolve();
        };
        break;
      }
      case "partition-one": {
        record.targets = names([one]);
        cluster.isolate(one);
        heal = () => {
          cluster.healNetwork();
          return Promise.resolve();
        };
        break;
      }
      case "partition-bridge": {
        // The bridge is the member that keeps both links; the leader, when aimed
        // at, is one end of the cut link.
        const ends = leader !== undefined
          ? [leader, rand.pick(all.filter((i) => i !== leader))]
          : rand.shuffle(all).slice(0, 2);
        record.targets = names(ends);
        cluster.cut(ends[0], ends[1]);
        heal = () => {
          cluster.healNetwork();
          return Promise.resolve();
        };
        break;
      }
      case "membership": {
        record.targets = names([one]);
        record.problems.push(...await cluster.removeMember(one));
        heal = async () => {
          if (!cluster.isRemoved(one)) return;
          const addErr = await cluster.addMember(one);
          if (addErr) record.problems.push(addErr);
        };
        break;
      }
    }
    summary.counts[kind]++;
    log(
      `nemesis: ${kind} ${record.targets.join("+")}${record.leader ? " (leader)" : ""}` +
        (record.problems.length ? ` problems: ${record.problems.join("; ")}` : ""),
    );

    await sleep(rand.between(options.holdMs));
    await heal();
    // Whatever else went down meanwhile (a crash) comes back too.
    const restarted = cluster.ensureRunning();
    summary.restarts += restarted.length;
    record.healed = cluster.now();
    const took = await cluster.waitHealthy(options.recoverMs);
    record.recoveredMs = took === undefined ? null : Math.round(took);
    log(
      `nemesis: healed ${kind}; ` +
        (took === undefined
          ? `NOT healthy within ${options.recoverMs} ms`
          : `healthy after ${Math.round(took)} ms`),
    );
    summary.faults.push(record);
    await sleep(rand.between(options.quietMs));
  }
  return summary;
}
