/**
 * A 3-member cluster in network namespaces that a nemesis can hurt: SIGKILL
 * and restart, SIGSTOP and SIGCONT, partitions (one node cut off, or a single
 * link cut), and membership changes done as an operator does them (etcdctl
 * member remove, then member add and a start from an empty data dir with
 * `--initial-cluster-state existing`).
 *
 * It also notices members that exit when nobody stopped them (a fail-stop, a
 * crash): those are recorded with the end of their log and restarted by
 * `ensureRunning`.
 *
 * @module
 */

import { etcdctl } from "../harness/etcdctl.ts";
import { sleep } from "../harness/member.ts";
import { NetLab } from "../harness/netns.ts";
import { NetnsMember } from "../harness/netns_member.ts";
import { cairnIsEtcd } from "../harness/tools.ts";
import { cutLink, restoreLink, signalNamespace } from "./net.ts";

/** How the members run. */
export interface ClusterOptions {
  /** Election timeout in ms (default 1000, etcd's). */
  electionMs?: number;
  /** Heartbeat interval in ms (default 100). */
  heartbeatMs?: number;
  /** `--snapshot-count` (default 500, so snapshots happen during a run). */
  snapshotCount?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Prefix of member names and the cluster token. */
  name?: string;
}

/** A member exit nobody asked for. */
export interface UnexpectedExit {
  /** Member name. */
  member: string;
  /** Exit code and signal. */
  code: number;
  signal: string | null;
  /** When it was noticed (ms since the cluster started). */
  at: number;
  /** The end of its stderr. */
  tail: string;
}

/** One row of `etcdctl member list`. */
export interface ListedMember {
  /** Hex member id. */
  id: string;
  /** Name; empty until the member has started. */
  name: string;
  /** First peer URL. */
  peerUrl: string;
}

/** Per-member bookkeeping of what the nemesis did to it. */
interface Slot {
  /** Removed from the membership and not added back yet. */
  removed: boolean;
  /** Its next exit is one we caused (kill, removal). */
  expectExit: boolean;
  /** The current exit was already recorded. */
  exitSeen: boolean;
  /** SIGSTOPped and not continued yet. */
  paused: boolean;
}

/** Bounded etcdctl call with short timeouts; never throws. */
function ctl(endpoint: string, args: string[], timeoutMs = 8_000) {
  return etcdctl(endpoint, ["--dial-timeout=1s", "--command-timeout=3s", ...args], {
    timeoutMs,
  }).catch((err) => ({ code: -1, stdout: "", stderr: String(err) }));
}

/** The cluster under test. */
export class JepsenCluster {
  /** The namespaces. */
  readonly lab: NetLab;
  /** The members, one per lab node, in node order. */
  readonly members: NetnsMember[];
  /** Exits nobody caused. */
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly #slots: Slot[];
  readonly #cuts = new Set<string>();
  readonly #log: (line: string) => void;
  readonly #t0 = performance.now();

  private constructor(lab: NetLab, members: NetnsMember[], log: (line: string) => void) {
    this.lab = lab;
    this.members = members;
    this.#slots = [];
    this.#log = log;
  }

  /** Bookkeeping of member `i` (members are added after construction). */
  #slot(i: number): Slot {
    while (this.#slots.length <= i) {
      this.#slots.push({ removed: false, expectExit: false, exitSeen: false, paused: false });
    }
    return this.#slots[i];
  }

  /**
   * Builds the namespaces, starts three members and waits until each is
   * healthy. On failure everything is torn down again.
   */
  static async start(options: ClusterOptions = {}): Promise<JepsenCluster> {
    const name = options.name ?? "j";
    const lab = NetLab.create(3);
    const members: NetnsMember[] = [];
    const cluster = new JepsenCluster(lab, members, options.log ?? (() => {}));
    try {
      for (const node of lab.nodes) {
        members.push(
          await NetnsMember.create({
            name: `${name}${node.index}`,
            node,
            cluster: { initialCluster: "", token: `${name}-${Deno.pid}` },
            extraArgs: [
              `--election-timeout=${options.electionMs ?? 1000}`,
              `--heartbeat-interval=${options.heartbeatMs ?? 100}`,
              `--snapshot-count=${options.snapshotCount ?? 500}`,
              // etcd 3.4 (CAIRN_CMD=etcd, to validate the harness) pre-votes only when asked.
              ...(cairnIsEtcd() ? ["--pre-vote=true"] : []),
            ],
          }),
        );
      }
      const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
      for (const m of members) m.options.cluster.initialCluster = initial;
      for (const m of members) m.launch();
      await Promise.all(members.map((m) => m.waitHealthy(60_000)));
      return cluster;
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
  }

  /** ms since the cluster object was made. */
  now(): number {
    return performance.now() - this.#t0;
  }

  /** `address:port` of each member's client URL, in node order. */
  endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Whether member `i` is out of the membership right now. */
  isRemoved(i: number): boolean {
    return this.#slot(i).removed;
  }

  /** SIGKILLs member `i` (continuing it first if paused makes no difference to SIGKILL). */
  async kill(i: number): Promise<void> {
    const slot = this.#slot(i);
    slot.expectExit = true;
    await this.members[i].kill();
    slot.paused = false;
  }

  /** Starts member `i` again on its data dir, unless it runs or is removed. */
  restart(i: number): boolean {
    const m = this.members[i];
    const slot = this.#slot(i);
    if (m.running || slot.removed) return false;
    this.#noteExit(i);
    slot.expectExit = false;
    slot.exitSeen = false;
    m.launch();
    return true;
  }

  /** SIGSTOPs every process of member `i`'s namespace. */
  pause(i: number): void {
    this.#slot(i).paused = true;
    signalNamespace(this.members[i].node.ns, "SIGSTOP");
  }

  /** SIGCONTs member `i`. */
  resume(i: number): void {
    signalNamespace(this.members[i].node.ns, "SIGCONT");
    this.#slot(i).paused = false;
  }

  /** Cuts node `i` off from both others. */
  isolate(i: number): void {
    this.lab.isolate(i);
  }

  /** Cuts only the link between nodes `i` and `j`. */
  cut(i: number, j: number): void {
    cutLink(this.lab.node(i), this.lab.node(j));
    this.#cuts.add(`${i},${j}`);
  }

  /** Undoes every partition. */
  healNetwork(): void {
    for (let i = 0; i < this.members.length; i++) this.lab.heal(i);
    for (const pair of this.#cuts) {
      const [i, j] = pair.split(",").map(Number);
      restoreLink(this.lab.node(i), this.lab.node(j));
    }
    this.#cuts.clear();
  }

  /** Continues every paused member. */
  resumeAll(): void {
    for (let i = 0; i < this.members.length; i++) {
      if (this.#slot(i).paused) this.resume(i);
    }
  }

  /** Records member `i`'s exit if nobody caused it. */
  #noteExit(i: number): void {
    const m = this.members[i];
    const slot = this.#slot(i);
    const status = m.exitStatus;
    if (m.running || !status || slot.expectExit || slot.exitSeen) return;
    slot.exitSeen = true;
    this.unexpectedExits.push({
      member: m.name,
      code: status.code,
      signal: status.signal ?? null,
      at: this.now(),
      tail: "",
    });
    const entry = this.unexpectedExits[this.unexpectedExits.length - 1];
    m.stderrTail(20).then((t) => entry.tail = t);
    this.#log(`!! ${m.name} exited by itself: code ${status.code} signal ${status.signal}`);
  }

  /** Records unexpected exits, then restarts every member that should run; returns the restarted. */
  ensureRunning(): string[] {
    const started: string[] = [];
    for (let i = 0; i < this.members.length; i++) {
      this.#noteExit(i);
      if (this.restart(i)) started.push(this.members[i].name);
    }
    return started;
  }

  /** Checks for unexpected exits without restarting anything. */
  noticeExits(): void {
    for (let i = 0; i < this.members.length; i++) this.#noteExit(i);
  }

  /** Whether member `i` answers `/health` with true within a second. */
  async healthy(i: number): Promise<boolean> {
    try {
      const res = await fetch(`${this.members[i].clientUrl}/health`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = await res.text();
      return res.ok && JSON.parse(body).health === "true";
    } catch {
      return false;
    }
  }

  /**
   * Waits until every member that should run is healthy; returns the ms it
   * took, or undefined after `timeoutMs`.
   */
  async waitHealthy(timeoutMs: number): Promise<number | undefined> {
    const t0 = performance.now();
    for (let round = 0; round < 1000 && performance.now() - t0 < timeoutMs; round++) {
      const wanted = this.members.map((_, i) => i).filter((i) => !this.#slot(i).removed);
      const ok = await Promise.all(wanted.map((i) => this.healthy(i)));
      if (ok.every(Boolean)) return performance.now() - t0;
      await sleep(250);
    }
    return undefined;
  }

  /** Index of the member that says it leads, from `endpoint status`; undefined if none answers so. */
  async leader(): Promise<number | undefined> {
    const eps = this.endpoints();
    const res = await ctl(eps.join(","), ["endpoint", "status"], 10_000);
    // Rows: endpoint, id, version, db size, is leader, is learner, term, index, ...
    for (const line of res.stdout.split("\n")) {
      const cols = line.split(",").map((c) => c.trim());
      if (cols.length >= 5 && cols[4] === "true") {
        const i = eps.indexOf(cols[0]);
        if (i >= 0) return i;
      }
    }
    return undefined;
  }

  /** `member list` through the first member that answers; undefined if none does. */
  async memberList(except?: number): Promise<ListedMember[] | undefined> {
    for (const i of this.#live(except)) {
      const res = await ctl(this.members[i].endpoint, ["member", "list"]);
      if (res.code !== 0) continue;
      return res.stdout.split("\n").filter((l) => l.trim() !== "").map((line) => {
        const cols = line.split(",").map((c) => c.trim());
        return { id: cols[0], name: cols[2], peerUrl: cols[3] };
      });
    }
    return undefined;
  }

  /** Members that run and are in the membership, `except` left out, in random-free node order. */
  #live(except?: number): number[] {
    return this.members.map((_, i) => i).filter((i) =>
      i !== except && this.members[i].running && !this.#slot(i).removed
    );
  }

  /**
   * Removes member `i` with `etcdctl member remove` (through another member;
   * retried until the list no longer has it, at most `timeoutMs`), waits for
   * the process to stop (killing it after 10 s) and deletes its data dir.
   * Returns problems seen (empty on success): an error when the removal
   * did not happen, a note when the member had to be killed.
   */
  async removeMember(i: number, timeoutMs = 20_000): Promise<string[]> {
    const m = this.members[i];
    const deadline = performance.now() + timeoutMs;
    let last = "no member answered";
    let gone = false;
    for (let round = 0; round < 100 && performance.now() < deadline; round++) {
      const list = await this.memberList(i);
      const entry = list?.find((e) => e.peerUrl === m.peerUrl);
      if (list && !entry) {
        gone = true;
        break;
      }
      if (entry) {
        for (const j of this.#live(i)) {
          const res = await ctl(this.members[j].endpoint, ["member", "remove", entry.id]);
          if (res.code === 0) break;
          last = res.stderr.trim().split("\n").pop() ?? "";
        }
      }
      await sleep(300);
    }
    if (!gone) return [`member remove ${m.name}: ${last}`];
    const slot = this.#slot(i);
    slot.removed = true;
    slot.expectExit = true;
    // A removed member stops by itself once it learns of its removal.
    const problems: string[] = [];
    for (let k = 0; k < 40 && m.running; k++) await sleep(250);
    if (m.running) {
      problems.push(`removed ${m.name} still ran 10 s later (killed)`);
      this.#log(`${m.name} still running 10 s after its removal: killing it`);
      await m.kill();
    } else if (m.exitStatus && m.exitStatus.code !== 0) {
      problems.push(`removed ${m.name} exited with code ${m.exitStatus.code}`);
    }
    slot.paused = false;
    await Deno.remove(`${m.dir}/data`, { recursive: true }).catch(() => {});
    return problems;
  }

  /**
   * Problems with the membership as a member reports it: not exactly our
   * three peer URLs, or a member that never started (no name). Empty when
   * all is well.
   */
  async membershipProblems(): Promise<string[]> {
    const list = await this.memberList();
    if (!list) return ["member list: no member answered"];
    const problems: string[] = [];
    const urls = new Set(list.map((e) => e.peerUrl));
    for (const m of this.members) {
      if (!urls.has(m.peerUrl)) problems.push(`${m.name} is not in the member list`);
    }
    for (const e of list) {
      if (!this.members.some((m) => m.peerUrl === e.peerUrl)) {
        problems.push(`unknown member ${e.id} ${e.peerUrl} in the list`);
      }
      if (e.name === "") problems.push(`member ${e.id} (${e.peerUrl}) never started`);
    }
    return problems;
  }

  /**
   * Adds member `i` back with `etcdctl member add` (retried until the list
   * has it, at most `timeoutMs`) and starts it on an empty data dir with
   * `--initial-cluster-state existing`. Returns an error description, or
   * undefined once it is launched (not necessarily healthy yet).
   */
  async addMember(i: number, timeoutMs = 30_000): Promise<string | undefined> {
    const m = this.members[i];
    const deadline = performance.now() + timeoutMs;
    let last = "no member answered";
    let list: ListedMember[] | undefined;
    for (let round = 0; round < 100 && performance.now() < deadline; round++) {
      list = await this.memberList(i);
      if (list?.some((e) => e.peerUrl === m.peerUrl)) break;
      if (list) {
        for (const j of this.#live(i)) {
          const res = await ctl(this.members[j].endpoint, [
            "member",
            "add",
            m.name,
            `--peer-urls=${m.peerUrl}`,
          ]);
          if (res.code === 0) break;
          last = res.stderr.trim().split("\n").pop() ?? "";
        }
      }
      list = undefined;
      await sleep(500);
    }
    if (!list) return `member add ${m.name}: ${last}`;
    m.options.cluster.initialCluster = list
      .map((e) => `${e.peerUrl === m.peerUrl ? m.name : e.name}=${e.peerUrl}`)
      .join(",");
    m.options.cluster.state = "existing";
    const slot = this.#slot(i);
    slot.removed = false;
    this.restart(i);
    return undefined;
  }

  /**
   * Puts the cluster back together: network healed, everyone continued,
   * removed members added back, stopped members started.
   */
  async healAll(): Promise<string[]> {
    const problems: string[] = [];
    this.healNetwork();
    this.resumeAll();
    for (let i = 0; i < this.members.length; i++) {
      if (!this.#slot(i).removed) continue;
      const err = await this.addMember(i);
      if (err) problems.push(err);
    }
    this.ensureRunning();
    return problems;
  }

  /** Stops every member, removes the namespaces. Idempotent. */
  async destroy(): Promise<void> {
    this.members.forEach((_, i) => this.#slot(i).expectExit = true);
    await Promise.all(this.members.map((m) => m.destroy()));
    this.lab.destroy();
  }
}
