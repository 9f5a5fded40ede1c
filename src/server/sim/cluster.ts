/**
 * The simulated cluster: real {@link Member}s, each on its own simulated
 * disk, clock and network port, started, crashed and restarted by the
 * simulation. A crash is a process kill (the disk keeps what was written)
 * or a power loss (the disk keeps only what was synced, the rest torn or
 * lost, see SimDisk); either way the incarnation dies at whatever await it
 * was in and the node restarts later from its disk. Members also leave and
 * join through real membership changes.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { parseConfig } from "../../config.ts";
import type { Config } from "../../config.ts";
import { MemberRecordSchema } from "../../gen/cairn/internal_pb.ts";
import { createLogger, type Logger } from "../../log.ts";
import { mulberry32 } from "../../raft/sim_checks.ts";
import { ConfChangeType } from "../../raft/types.ts";
import { SimDisk } from "../../storage/sim_disk.ts";
import { computeMemberId } from "../ids.ts";
import { Member } from "../member.ts";
import type { MemberTuning } from "../env.ts";
import { CheckFailure } from "./checks.ts";
import type { SimNetwork } from "./network.ts";
import { type Life, type Scheduler, SimClock } from "./scheduler.ts";

/** Settings shared by every member of a run. */
export interface ClusterSettings {
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  /** `--max-wals` and `--max-snapshots` (0 keeps every file). */
  maxWals?: number;
  maxSnapshots?: number;
  /** Small WAL segments and frequent purges, so both happen within a run. */
  tuning?: MemberTuning;
  /** Disk latency bounds for asynchronous calls (ms). */
  diskMinMs: number;
  diskMaxMs: number;
}

/** Where a node is in its life. */
export type NodeState = "down" | "starting" | "up" | "removed";

const TOKEN = "sim";
/** Log lines kept per node for a failure report. */
const LOG_LINES = 60;

/** One member's machine: its disk and wall clock outlive its process incarnations. */
export class SimNode {
  readonly disk: SimDisk;
  /** Wall-clock offset (ms) from virtual time; clock jumps move it. */
  readonly wall = { offset: 0 };
  state: NodeState = "down";
  life: Life | undefined;
  member: Member | undefined;
  incarnation = 0;
  /** Member id, once known (computed up front for initial members). */
  id: bigint | undefined;
  readonly logs: string[] = [];
  /** Set while a restart is scheduled. */
  restartPending = false;
  /**
   * Removed from the membership: its process must stop on its own (exit 0)
   * once it learns so, from its own log or from a peer's refusal.
   */
  leaving = false;
  /**
   * Added at runtime with an empty disk: until its first start succeeds it
   * may be refused (its addition not committed yet) and is started again.
   */
  joining = false;

  /** @param name member name @param url its peer URL @param cfg its configuration */
  constructor(readonly name: string, readonly url: string, public cfg: Config, rng: () => number) {
    this.disk = new SimDisk({ rng });
  }

  /** "name#incarnation", for reports. */
  get label(): string {
    return `${this.name}#${this.incarnation}`;
  }
}

/** The nodes of a run and their lifecycle; see the module doc. */
export class SimCluster {
  readonly nodes: SimNode[] = [];
  readonly #s: Scheduler;
  readonly #net: SimNetwork;
  readonly #set: ClusterSettings;
  readonly #trace: (line: string) => void;
  #nextIndex = 1;
  /** A membership change is in progress. */
  changing = false;
  readonly stats = {
    starts: 0,
    kills: 0,
    powerLosses: 0,
    failStops: 0,
    gracefulStops: 0,
    removed: 0,
    added: 0,
  };
  /** Set when a member stopped on something other than an injected fault. */
  failure: CheckFailure | undefined;

  /**
   * @param s scheduler @param net network @param set member settings
   * @param size initial voters @param trace where sim events are recorded
   */
  constructor(
    s: Scheduler,
    net: SimNetwork,
    set: ClusterSettings,
    size: number,
    trace: (line: string) => void,
  ) {
    this.#s = s;
    this.#net = net;
    this.#set = set;
    this.#trace = trace;
    const initial: string[] = [];
    for (let i = 0; i < size; i++) {
      const n = this.#nextIndex++;
      initial.push(`n${n}=${peerUrl(n)}`);
    }
    for (let i = 1; i <= size; i++) {
      const node = this.#makeNode(i, initial.join(","), "new");
      node.id = computeMemberId([node.url], TOKEN);
      this.nodes.push(node);
    }
  }

  /** Nodes whose member is running (removed ones that still run included). */
  up(): SimNode[] {
    return this.nodes.filter((n) => n.state === "up" && n.member !== undefined);
  }

  /**
   * The running member that leads: of those that believe so (a stale or
   * removed one may still), one of its own configuration, newest term.
   */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.up()) {
      const m = n.member!;
      if (m.leader !== m.id || m.sm.membership.get(m.id) === undefined) continue;
      if (best === undefined || m.term > best.member!.term) best = n;
    }
    return best;
  }

  /** Starts a new incarnation of `node` from its disk (only a node that is down). */
  start(node: SimNode): void {
    if (node.state !== "down") return;
    node.incarnation++;
    const life: Life = { alive: true };
    node.life = life;
    node.state = "starting";
    node.member = undefined;
    this.stats.starts++;
    const s = this.#s;
    const set = this.#set;
    const rng = mulberry32(Math.floor(s.rng() * 2 ** 32));
    const env = {
      clock: new SimClock(s, life, node.wall, 1_000_000 + Math.floor(s.rng() * 1e9)),
      disk: node.disk.view({
        alive: () => life.alive,
        delay: () => {
          const r = s.rng();
          const ms = r < 0.97
            ? set.diskMinMs + s.rng() * (set.diskMaxMs - set.diskMinMs)
            : set.diskMaxMs * (2 + 20 * s.rng()); // a slow disk moment
          return s.sleep(ms, life);
        },
      }),
      network: this.#net.port(life, node.url),
      random: rng,
      tuning: set.tuning ?? {},
    };
    const log = this.#logger(node, life);
    this.#trace(`start ${node.label}`);
    Member.start(node.cfg, log, (err, code) => this.#onFatal(node, life, err, code), undefined, env)
      .then((m) => {
        if (!life.alive) return;
        node.joining = false;
        node.member = m;
        node.id = m.id;
        node.state = "up";
        this.#trace(`up ${node.label} id=${m.id.toString(16)}`);
      }, (err) => {
        if (!life.alive) return;
        if (node.joining && /could not join the existing cluster/.test(String(err))) {
          // Not (yet) a member: its addition is not committed. Try again later.
          this.#trace(`${node.label} could not join: ${String(err).slice(0, 300)}`);
          this.crash(node, false);
          return;
        }
        if (isInjected(err)) {
          // A failed fsync while starting: the process exits; try again later.
          this.#trace(`start of ${node.label} failed on an injected fault: ${err}`);
          this.crash(node, true);
          return;
        }
        const files = node.disk.listing().map((f) => `${f.path} (${f.size} bytes)`);
        this.failure ??= new CheckFailure(
          `${node.label} failed to start from its disk: ${(err as Error)?.stack ?? err}\n` +
            `its files: ${files.join(", ") || "none"}`,
        );
      });
  }

  /**
   * Kills the node's process. With `power`, unsynced writes are torn or
   * lost too. A restart follows after a random downtime unless `restart`
   * is false.
   */
  crash(node: SimNode, power: boolean, restart = true): void {
    if (node.life) node.life.alive = false;
    node.life = undefined;
    node.member = undefined;
    if (node.state === "removed") return;
    node.state = "down";
    if (power) {
      node.disk.crash();
      this.stats.powerLosses++;
    } else {
      this.stats.kills++;
    }
    this.#trace(`${power ? "power loss" : "kill"} ${node.label}`);
    // Sometimes back at once (a supervisor restarting it): answers meant
    // for the dead process may still be in flight to the new one.
    const r = this.#s.rng();
    if (restart) this.scheduleRestart(node, r < 0.3 ? 1 + r * 50 : 50 + r * 1500);
  }

  /**
   * A graceful stop (SIGTERM), as serve.ts does it: hand leadership over,
   * let in-flight work settle, stop the member; then restart it later.
   * Its clients' calls must end with an answer or a clean error.
   */
  async stopGracefully(node: SimNode): Promise<void> {
    const m = node.member;
    const life = node.life;
    if (m === undefined || life === undefined || node.state !== "up") return;
    node.state = "starting"; // nobody else starts or stops it meanwhile
    this.#trace(`graceful stop ${node.label}`);
    await m.handOverLeadership();
    await m.quiesce(2000);
    await m.stop();
    if (!life.alive || node.life !== life) return;
    life.alive = false;
    node.life = undefined;
    node.member = undefined;
    node.state = "down";
    this.stats.gracefulStops++;
    this.#trace(`stopped ${node.label}`);
    this.scheduleRestart(node, 50 + this.#s.rng() * 500);
  }

  /** Restarts a downed node after `ms`. */
  scheduleRestart(node: SimNode, ms: number): void {
    if (node.restartPending) return;
    node.restartPending = true;
    this.#s.at(ms, () => {
      node.restartPending = false;
      if (node.state === "down") this.start(node);
    });
  }

  /**
   * A real membership change, the way an operator replaces a member
   * without losing fault tolerance: add a new member with an empty disk
   * (it joins through the others' `GET /members`), wait for it to catch
   * up, then remove a random other voter. Proposed through the leader;
   * gives up on timeouts (a change may still commit later: the cluster
   * copes). With fewer than three voters it only adds.
   */
  async replaceMember(pick: () => number): Promise<void> {
    if (this.changing) return;
    const leader = this.leader();
    if (leader === undefined) return;
    this.changing = true;
    try {
      const records = leader.member!.sm.membership.records();
      const n = this.#nextIndex++;
      const url = peerUrl(n);
      const id = computeMemberId([url], TOKEN, n);
      const record = create(MemberRecordSchema, {
        id,
        name: "",
        peerUrls: [url],
        clientUrls: [],
        isLearner: false,
      });
      this.#trace(`add member ${id.toString(16)} (n${n}) via ${leader.label}`);
      const initial = records.map((r) => `${nameOf(r.peerUrls[0])}=${r.peerUrls[0]}`);
      initial.push(`n${n}=${url}`);
      // The node exists from the proposal on: whether or not we hear the
      // answer, the change may commit, and then the cluster needs it.
      const fresh = this.#makeNode(n, initial.join(","), "existing");
      fresh.id = id;
      fresh.joining = true;
      this.nodes.push(fresh);
      this.stats.added++;
      const added = await this.#within(
        leader.member!.proposeMemberChange(ConfChangeType.AddNode, id, record),
      );
      this.start(fresh);
      if (!added) return;
      // Caught up: it applied what the leader had committed when it joined.
      const target = leader.member?.commitIndex ?? 0;
      const deadline = this.#s.now + 20 * this.#set.electionMs;
      while ((fresh.member?.appliedIndex ?? 0) < target && this.#s.now < deadline) {
        await this.#s.sleep(this.#set.heartbeatMs);
      }
      if ((fresh.member?.appliedIndex ?? 0) < target) return;
      const now = this.leader();
      if (now === undefined) return;
      const voters = now.member!.sm.membership.records()
        .filter((r) => !r.isLearner && r.id !== id);
      if (voters.length < 3) return;
      const victim = voters[Math.floor(pick() * voters.length)];
      const node = this.nodes.find((x) => x.id === victim.id && x.state !== "removed");
      this.#trace(`remove member ${victim.id.toString(16)} (${node?.label}) via ${now.label}`);
      const ok = await this.#within(
        now.member!.proposeMemberChange(ConfChangeType.RemoveNode, victim.id),
      );
      // Not killed here: a removed member stops by itself (a leader removing
      // itself waits for the commit to reach the others first, as etcd).
      if (ok && node) node.leaving = true;
    } finally {
      this.changing = false;
    }
  }

  /** Marks the node removed: its process stops and its disk is thrown away. */
  #remove(node: SimNode): void {
    if (node.life) node.life.alive = false;
    node.life = undefined;
    node.member = undefined;
    node.state = "removed";
    this.stats.removed++;
    this.#trace(`removed ${node.label}`);
  }

  /** Waits for a proposal, at most a few election timeouts; false if it failed or took too long. */
  async #within(p: Promise<unknown>): Promise<boolean> {
    let done = false;
    const ok = await Promise.race([
      p.then(() => true, () => false).finally(() => (done = true)),
      this.#s.sleep(10 * this.#set.electionMs).then(() => false),
    ]);
    return ok && done;
  }

  #onFatal(node: SimNode, life: Life, err: Error, code: number): void {
    if (!life.alive) return;
    this.#trace(`${node.label} stopped (exit ${code}): ${err.message}`);
    if (code === 0 && /removed from the cluster/.test(err.message)) {
      this.#remove(node);
      return;
    }
    if (isInjected(err) || isInjected(err.cause)) {
      // Fail-stop on a failed fsync, as it must: the process exits and the
      // page cache it could not flush is gone with the power of a reboot.
      this.stats.failStops++;
      this.crash(node, true);
      return;
    }
    this.failure ??= new CheckFailure(
      `${node.label} stopped with exit ${code}: ${err.stack ?? err.message}` +
        (err.cause ? `\ncaused by: ${(err.cause as Error)?.stack ?? err.cause}` : ""),
    );
    this.crash(node, false, false);
  }

  #makeNode(n: number, initialCluster: string, state: "new" | "existing"): SimNode {
    const url = peerUrl(n);
    const out = parseConfig([
      `--name=n${n}`,
      `--data-dir=/sim/n${n}`,
      `--listen-peer-urls=${url}`,
      `--initial-advertise-peer-urls=${url}`,
      `--listen-client-urls=http://10.0.0.${n}:2379`,
      `--advertise-client-urls=http://10.0.0.${n}:2379`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${TOKEN}`,
      `--initial-cluster-state=${state}`,
      `--heartbeat-interval=${this.#set.heartbeatMs}`,
      `--election-timeout=${this.#set.electionMs}`,
      `--snapshot-count=${this.#set.snapshotCount}`,
      `--max-wals=${this.#set.maxWals ?? 5}`,
      `--max-snapshots=${this.#set.maxSnapshots ?? 5}`,
    ], {});
    if (out.kind !== "run") throw new Error("simulated member config did not parse");
    return new SimNode(`n${n}`, url, out.config, mulberry32(Math.floor(this.#s.rng() * 2 ** 32)));
  }

  #logger(node: SimNode, life: Life): Logger {
    const s = this.#s;
    const label = node.label;
    return createLogger("info", {
      now: () => new Date(s.now),
      writer: (line) => {
        if (!life.alive) return;
        node.logs.push(`${label} ${line.trimEnd()}`);
        if (node.logs.length > LOG_LINES) node.logs.shift();
      },
    });
  }
}

/** Peer URL of node number `n`. */
export function peerUrl(n: number): string {
  return `http://10.0.0.${n}:2380`;
}

function nameOf(url: string): string {
  return `n${new URL(url).hostname.split(".")[3]}`;
}

/** Whether `err` is a fault the simulation injected (a failed fsync). */
export function isInjected(err: unknown): boolean {
  return err instanceof Error && /\(simulated\)/.test(err.message);
}
