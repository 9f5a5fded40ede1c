/**
 * One Jepsen-style run: start 3 members in network namespaces, let clients
 * run random get/put/CAS while the nemesis kills, pauses, partitions and
 * reconfigures the cluster, then heal everything, read every key back
 * through every member, and check the whole history for linearizability.
 *
 * Used by tests/jepsen_test.ts (a short run in CI) and bench/jepsen.ts (ten
 * minutes in `make bench`). Every phase is bounded in time; the cluster and
 * the namespaces are always torn down.
 *
 * @module
 */

import { etcdctl } from "../harness/etcdctl.ts";
import { sleep } from "../harness/member.ts";
import { checkHistory, type KeyResult } from "../lin/checker.ts";
import { byKey, type GetOp, type Op, type PutOp } from "../lin/history.ts";
import { minimalCounterexample } from "../lin/shrink.ts";
import { finalRead, KeyPool, runClient, type Target } from "./client.ts";
import { JepsenCluster, type UnexpectedExit } from "./cluster.ts";
import { type FaultKind, type NemesisSummary, runNemesis } from "./nemesis.ts";
import { Rand } from "./rand.ts";

/** Knobs of a run. */
export interface JepsenOptions {
  /** Seconds of faults. */
  seconds: number;
  /** Seed of every random choice (default: from the clock). */
  seed?: number;
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Keys in use at once (default 3). */
  activeKeys?: number;
  /** Ops on a key before it is retired for a fresh one (default 100). */
  opsPerKey?: number;
  /** Pause between a client's ops, ms (default [50, 250]). */
  thinkMs?: [number, number];
  /** How long each fault is held, ms (default [2000, 6000]). */
  holdMs?: [number, number];
  /** Pause between recovery and the next fault, ms (default [500, 2000]). */
  quietMs?: [number, number];
  /** Bound on recovering after each heal and after the run, ms (default 30,000). */
  recoverMs?: number;
  /** Fault kinds (default all). */
  faults?: readonly FaultKind[];
  /**
   * Fault cycles to run even if the time is up (default 0): with the number
   * of kinds, every kind is applied at least once. Bounded by one more minute.
   */
  minFaults?: number;
  /** Checker search bound per key. */
  maxSteps?: number;
  /**
   * Clients read with `--consistency=s` (local, possibly stale): a control
   * run that must come out NOT linearizable under partitions.
   */
  serializableReads?: boolean;
  /** `--snapshot-count` of the members (default 500). */
  snapshotCount?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** A key whose history is not linearizable, with a minimal witness. */
export interface Violation {
  /** The key. */
  key: string;
  /** Its whole history. */
  history: Op[];
  /** A small sub-history that is already not linearizable. */
  witness: Op[];
}

/** Everything a run found. */
export interface JepsenReport {
  /** The options it ran with (log left out). */
  options: Omit<JepsenOptions, "log">;
  /** The seed used. */
  seed: number;
  /** Wall time of the phases, ms. */
  timing: {
    startup: number;
    faults: number;
    recovery: number | null;
    check: number;
    total: number;
  };
  /** Operation counts. */
  ops: {
    total: number;
    byKind: Record<Op["kind"], { ok: number; fail: number; unknown: number }>;
    casSwapped: number;
    casNotSwapped: number;
    finalReads: number;
  };
  /** What the nemesis did. */
  nemesis: NemesisSummary;
  /** Members that exited without being stopped. */
  unexpectedExits: UnexpectedExit[];
  /** Whether the healed cluster was healthy again in time, and problems putting it back. */
  recovered: boolean;
  recoveryProblems: string[];
  /** Whether every member answered the final read. */
  finalReadMembers: string[];
  /** `hashkv` of each member at one revision after recovery (informational). */
  hashes: Record<string, string>;
  /** Per-key verdicts. */
  keys: KeyResult[];
  /** Non-linearizable keys. */
  violations: Violation[];
  /** Keys the checker gave up on. */
  tooBig: KeyResult[];
  /**
   * The checker run on this very history with one stale read planted: whether
   * it was caught (undefined when the history offered no spot to plant one).
   */
  plantedCaught: boolean | undefined;
  /** Overall: linearizable, not, unknown (a key too big), or no recovery. */
  verdict: "linearizable" | "NOT linearizable" | "unknown" | "cluster did not recover";
  /** Namespaces and links left behind after teardown (should be empty). */
  leftovers: string[];
  /** The history, for keeping. */
  history: Op[];
}

/** Count of ops by kind and outcome. */
function countOps(history: readonly Op[]): JepsenReport["ops"] {
  const byKind = {
    get: { ok: 0, fail: 0, unknown: 0 },
    put: { ok: 0, fail: 0, unknown: 0 },
    cas: { ok: 0, fail: 0, unknown: 0 },
  };
  let casSwapped = 0;
  let casNotSwapped = 0;
  for (const op of history) {
    byKind[op.kind][op.outcome]++;
    if (op.kind === "cas" && op.outcome === "ok") op.swapped ? casSwapped++ : casNotSwapped++;
  }
  return { total: history.length, byKind, casSwapped, casNotSwapped, finalReads: 0 };
}

/**
 * Plants a stale read in a copy of one key's history: a read that began after
 * two acknowledged puts had both finished now returns the older one's value.
 * Returns the doctored history, or undefined when there is no such spot.
 */
export function plantStaleRead(history: readonly Op[]): Op[] | undefined {
  for (const ops of byKey(history).values()) {
    const puts = ops.filter((o): o is PutOp => o.kind === "put" && o.outcome === "ok");
    const reads = ops.filter((o): o is GetOp => o.kind === "get" && o.outcome === "ok");
    for (const r of reads) {
      for (const older of puts) {
        if (older.ret! >= r.call || r.read === older.value) continue;
        if (!puts.some((p) => p.call > older.ret! && p.ret! < r.call)) continue;
        return ops.map((o) => o === r ? { ...r, read: older.value } : o);
      }
    }
  }
  return undefined;
}

/** Runs the whole thing; see the module comment. Throws only if the cluster cannot start. */
export async function runJepsen(options: JepsenOptions): Promise<JepsenReport> {
  const log = options.log ?? (() => {});
  const seed = options.seed ?? (Date.now() % 2 ** 31);
  const rand = new Rand(seed);
  const recoverMs = options.recoverMs ?? 30_000;
  const t0 = performance.now();
  log(`jepsen: seed ${seed}, ${options.seconds} s of faults`);

  const cluster = await JepsenCluster.start({ snapshotCount: options.snapshotCount, log });
  const startup = performance.now() - t0;
  log(`jepsen: cluster up after ${Math.round(startup)} ms`);
  const history: Op[] = [];
  let nemesis: NemesisSummary | undefined;
  let recoveredIn: number | undefined;
  let recoveryProblems: string[] = [];
  const finalReadMembers: string[] = [];
  const hashes: Record<string, string> = {};
  let faultsMs = 0;
  let finalReads = 0;
  // Separate streams, so the nemesis's choices do not depend on client timing.
  const keys = new KeyPool(
    `jepsen/${seed}/`,
    options.activeKeys ?? 3,
    options.opsPerKey ?? 100,
    new Rand(seed ^ 0x5bd1e995),
  );
  try {
    const targets = (): Target[] =>
      cluster.members.map((m) => ({ name: m.name, endpoint: m.endpoint }));
    let stopped = false;
    const clientCount = options.clients ?? 4;
    const clients = Array.from({ length: clientCount }, (_, id) =>
      runClient({
        id,
        targets,
        keys,
        rand: new Rand(seed + 1 + id),
        thinkMs: options.thinkMs ?? [50, 250],
        history,
        stopped: () => stopped,
        // About 20 ops a second per client at the very most.
        maxOps: Math.ceil(options.seconds * 20) + 1000,
        serializableReads: options.serializableReads,
      }));
    const tf = performance.now();
    try {
      nemesis = await runNemesis(cluster, rand, {
        until: tf + options.seconds * 1000,
        minCycles: options.minFaults,
        hardUntil: tf + options.seconds * 1000 + 60_000,
        holdMs: options.holdMs ?? [2000, 6000],
        quietMs: options.quietMs ?? [500, 2000],
        recoverMs,
        kinds: options.faults,
        log,
      });
    } finally {
      // Heal whatever is still broken, then let the clients see a whole cluster a while.
      recoveryProblems = await cluster.healAll();
      faultsMs = performance.now() - tf;
      recoveredIn = await cluster.waitHealthy(recoverMs);
      log(
        `jepsen: faults over after ${Math.round(faultsMs)} ms; ` +
          (recoveredIn === undefined
            ? "NOT healthy"
            : `healthy after ${Math.round(recoveredIn)} ms`),
      );
      await sleep(3000);
      stopped = true;
      await Promise.all(clients);
    }

    // Final reads: every key, through every member, until each answered once.
    if (recoveredIn !== undefined) {
      const deadline = performance.now() + recoverMs;
      for (const m of cluster.members) {
        for (let attempt = 0; attempt < 10 && performance.now() < deadline; attempt++) {
          const ops = await finalRead(-1, keys.prefix, keys.all, {
            name: m.name,
            endpoint: m.endpoint,
          });
          if (ops.length > 0 || keys.all.length === 0) {
            history.push(...ops);
            finalReads += ops.length;
            finalReadMembers.push(m.name);
            break;
          }
          await sleep(500);
        }
      }
      recoveryProblems.push(...await cluster.membershipProblems());
      await collectHashes(cluster, hashes);
    }
    cluster.noticeExits();
  } finally {
    await cluster.destroy();
  }
  const leftovers = cluster.lab.leftovers();

  const tc = performance.now();
  const checked = checkHistory(history, { maxSteps: options.maxSteps });
  const groups = byKey(history);
  const violations: Violation[] = checked.keys
    .filter((k) => k.verdict === "not-linearizable")
    .map((k) => {
      const ops = groups.get(k.key)!;
      return {
        key: k.key,
        history: ops,
        witness: minimalCounterexample(ops, { maxSteps: options.maxSteps }) ?? ops,
      };
    });
  const planted = plantStaleRead(history);
  const plantedCaught = planted === undefined
    ? undefined
    : checkHistory(planted, { maxSteps: options.maxSteps }).verdict === "not-linearizable";
  const check = performance.now() - tc;

  const recovered = recoveredIn !== undefined &&
    finalReadMembers.length === cluster.members.length && recoveryProblems.length === 0;
  const tooBig = checked.keys.filter((k) => k.verdict === "unknown");
  const verdict: JepsenReport["verdict"] = violations.length > 0
    ? "NOT linearizable"
    : !recovered
    ? "cluster did not recover"
    : tooBig.length > 0
    ? "unknown"
    : "linearizable";
  const { log: _log, ...shown } = options;
  return {
    options: shown,
    seed,
    timing: {
      startup,
      faults: faultsMs,
      recovery: recoveredIn ?? null,
      check,
      total: performance.now() - t0,
    },
    ops: { ...countOps(history.filter((o) => o.client >= 0)), finalReads },
    nemesis: nemesis ?? {
      faults: [],
      counts: { "kill": 0, "pause": 0, "partition-one": 0, "partition-bridge": 0, "membership": 0 },
      kills: 0,
      restarts: 0,
      pauses: 0,
    },
    unexpectedExits: cluster.unexpectedExits,
    recovered,
    recoveryProblems,
    finalReadMembers,
    hashes,
    keys: checked.keys,
    violations,
    tooBig,
    plantedCaught,
    verdict,
    leftovers,
    history,
  };
}

/** `endpoint hashkv` of every member at the revision the first one reports. */
async function collectHashes(cluster: JepsenCluster, out: Record<string, string>): Promise<void> {
  const first = cluster.members[0];
  const status = await etcdctl(first.endpoint, ["get", "x", "-w", "json"], { timeoutMs: 10_000 })
    .catch(() => undefined);
  if (!status || status.code !== 0) return;
  const rev = Number(JSON.parse(status.stdout).header?.revision);
  if (!Number.isFinite(rev)) return;
  for (const m of cluster.members) {
    const res = await etcdctl(m.endpoint, ["endpoint", "hashkv", `--rev=${rev}`, "-w", "json"], {
      timeoutMs: 10_000,
    }).catch(() => undefined);
    if (!res || res.code !== 0) {
      out[m.name] = `error at rev ${rev}`;
      continue;
    }
    const row = (JSON.parse(res.stdout) as { HashKV: { hash: number } }[])[0];
    out[m.name] = `${row.HashKV.hash} at rev ${rev}`;
  }
}
