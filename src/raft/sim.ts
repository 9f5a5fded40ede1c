/**
 * Deterministic cluster simulation for the Raft core: N RawNodes driven from
 * one seed over a network that drops, delays, duplicates and reorders
 * messages, with partitions, crash-restarts from exactly the persisted
 * state, compaction, membership changes, leadership transfers, proposals
 * and reads. The Raft safety properties (sim_checks.ts) are checked after every step; a
 * violation throws a SimFailure naming the seed.
 *
 * @module
 */

import { decodeConfChange } from "./confchange.ts";
import { applyToState, Invariants, mulberry32 } from "./sim_checks.ts";

export { mulberry32 } from "./sim_checks.ts";
import { ProposalDropped } from "./errors.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import {
  ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type Ready,
  StateRole,
} from "./types.ts";

/** A safety or liveness violation found by the simulation. */
export class SimFailure extends Error {
  /** @param seed the seed that reproduces it; @param detail what went wrong. */
  constructor(readonly seed: number, detail: string) {
    super(`raft sim seed ${seed}: ${detail}`);
    this.name = "SimFailure";
  }
}

/** Knobs of one simulated run. */
export interface SimOptions {
  seed: number;
  /** Initial voters (3 or 5). */
  size: number;
  /** Ticks of chaos (faults on). */
  chaosTicks: number;
  /** Ticks allowed, once healed, for a proposal to be applied everywhere. */
  healTicks: number;
  /** Keep an event trace (printed on failure). */
  trace?: boolean;
  /** How many trace lines to print on failure (default 60). */
  traceLines?: number;
}

interface Member {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode | null; // null while crashed (or after removal)
  removed: boolean;
  applied: number;
  sm: number; // hash of the applied history: the "state machine"
  confState: ConfState;
  sawMarker: boolean;
}

interface Flight {
  m: Message;
  at: number;
}

const ELECTION_TICK = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** One simulated cluster; `run()` drives it and throws SimFailure on a violation. */
export class Sim {
  readonly #o: SimOptions;
  readonly #rng: () => number;
  readonly #members = new Map<NodeId, Member>();
  readonly #spares: NodeId[] = [];
  #net: Flight[] = [];
  #snapReports: { at: number; from: NodeId; to: NodeId; ok: boolean }[] = [];
  #group = new Map<NodeId, number>();
  #now = 0;
  #dropRate: number;
  #dupRate = 0.05;
  #maxDelay: number;
  /** Per-tick chance of crashing a random member, and of crashing the leader. */
  readonly #crashRate: number;
  readonly #leaderCrashRate: number;
  /** Append size limit: 1 byte means one entry per message (finer interleavings). */
  readonly #maxMsgSize: number;
  #seq = 0;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #inv = new Invariants((d) => this.#fail(d));
  readonly #trace: string[] = [];
  /** Counters, for the test to confirm the run exercised something. */
  readonly stats = { elections: 0, applied: 0, snapshots: 0, reads: 0, confChanges: 0, crashes: 0 };

  /** Builds the cluster (nothing runs until `run`). */
  constructor(o: SimOptions) {
    this.#o = o;
    this.#rng = mulberry32(o.seed);
    this.#preVote = this.#rng() < 0.7;
    this.#checkQuorum = this.#rng() < 0.7;
    // Each seed gets its own fault profile, from gentle to hostile.
    this.#dropRate = this.#pick([0.02, 0.1, 0.3])!;
    this.#maxDelay = this.#pick([2, 4, 12])!;
    this.#crashRate = this.#pick([0.005, 0.02])!;
    this.#leaderCrashRate = this.#pick([0, 0.01, 0.04])!;
    this.#maxMsgSize = this.#pick([1, 64, 1 << 20])!;
    const ids = new Set<NodeId>();
    while (ids.size < o.size + 2) {
      // Random 64-bit ids, as real member ids are.
      const hi = BigInt(Math.floor(this.#rng() * 2 ** 32));
      const lo = BigInt(Math.floor(this.#rng() * 2 ** 32));
      const id = (hi << 32n) | lo;
      if (id !== 0n) ids.add(id);
    }
    const all = [...ids];
    const peers = all.slice(0, o.size);
    this.#spares = all.slice(o.size);
    for (const id of peers) {
      const m = this.#newMember(id);
      m.node = this.#newNode(m, peers);
    }
  }

  #newMember(id: NodeId): Member {
    const m: Member = {
      id,
      storage: new MemoryStorage(),
      node: null,
      removed: false,
      applied: 0,
      sm: 0,
      confState: { voters: [], learners: [] },
      sawMarker: false,
    };
    this.#members.set(id, m);
    return m;
  }

  #newNode(m: Member, peers?: NodeId[]): RawNode {
    return new RawNode({
      id: m.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: 2,
      storage: m.storage,
      applied: m.applied,
      preVote: this.#preVote,
      checkQuorum: this.#checkQuorum,
      maxSizePerMsg: this.#maxMsgSize,
      maxInflightMsgs: 4,
      random: this.#rng,
      peers,
    });
  }

  #fail(detail: string): never {
    const tail = this.#o.trace
      ? "\n" + this.#trace.slice(-(this.#o.traceLines ?? 60)).join("\n")
      : "";
    throw new SimFailure(this.#o.seed, `t=${this.#now} ${detail}${tail}`);
  }

  #log(s: string): void {
    if (!this.#o.trace) return;
    this.#trace.push(`${this.#now}: ${s}`);
    if (this.#trace.length > 2000) this.#trace.splice(0, 1000);
  }

  #pick<T>(xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.#rng() * xs.length)];
  }

  #up(): Member[] {
    return [...this.#members.values()].filter((m) => m.node !== null);
  }

  #name(id: NodeId): string {
    return id.toString(16).slice(0, 4);
  }

  // ---- persistence, sending, applying (the application's loop) ----

  #process(m: Member): void {
    for (let i = 0; m.node !== null && m.node.hasReady(); i++) {
      if (i > 200) this.#fail(`${this.#name(m.id)}: hasReady never settles`);
      this.#handleReady(m, m.node);
    }
  }

  #handleReady(m: Member, node: RawNode): void {
    const rd = node.ready();
    if (rd.softState?.role === StateRole.Leader) this.#checkNewLeader(m, node);
    if (rd.snapshot !== undefined) this.#installSnapshot(m, rd);
    this.#checkEntries(m, rd.entries);
    m.storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      const old = m.storage.hardState();
      const hs = rd.hardState;
      if (hs.term < old.term) this.#fail(`${this.#name(m.id)}: term went back`);
      if (hs.term === old.term && old.vote !== 0n && hs.vote !== old.vote) {
        this.#fail(`${this.#name(m.id)}: changed its vote in term ${hs.term}`);
      }
      m.storage.setHardState(hs);
    }
    // Crash after persisting but before sending or applying anything.
    if (this.#rng() < 0.002 && this.#dropRate > 0) {
      this.#crash(m);
      return;
    }
    for (const msg of rd.messages) this.#send(msg);
    for (const e of rd.committedEntries) this.#apply(m, node, e);
    for (const rs of rd.readStates) {
      const key = dec.decode(rs.requestCtx);
      if (this.#inv.readAnswered(key, rs.index)) this.stats.reads++;
    }
    node.advance(rd);
    if (m.removed) {
      m.node = null;
      this.#log(`${this.#name(m.id)} shut down (removed)`);
    }
  }

  #checkNewLeader(m: Member, node: RawNode): void {
    const term = node.status().term;
    this.stats.elections++;
    this.#log(`${this.#name(m.id)} leader of term ${term}`);
    this.#inv.leaderElected(this.#name(m.id), m.id, term, node.raft.log);
  }

  #checkEntries(m: Member, ents: Entry[]): void {
    if (ents.length === 0) return;
    let prev: number | null = null;
    try {
      prev = m.storage.term(ents[0].index - 1);
    } catch {
      prev = null;
    }
    this.#inv.persisted(this.#name(m.id), ents, prev);
  }

  #installSnapshot(m: Member, rd: Ready): void {
    const snap = rd.snapshot!;
    m.storage.applySnapshot(snap);
    const [index, sm] = dec.decode(snap.data).split(":").map(Number);
    if (index !== snap.meta.index) this.#fail("snapshot data does not match its index");
    this.#inv.snapshot(index, snap.meta.term, sm);
    m.applied = index;
    m.sm = sm;
    m.confState = snap.meta.confState;
    this.stats.snapshots++;
  }

  #apply(m: Member, node: RawNode, e: Entry): void {
    if (e.index !== m.applied + 1) {
      this.#fail(`${this.#name(m.id)} applied ${e.index} after ${m.applied}`);
    }
    m.sm = applyToState(m.sm, e);
    m.applied = e.index;
    this.#inv.applied(this.#name(m.id), e, m.sm);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      m.confState = node.applyConfChange(cc);
      if (cc.type === ConfChangeType.RemoveNode) {
        const gone = this.#members.get(cc.nodeId);
        if (gone !== undefined && !gone.removed) {
          gone.removed = true;
          this.#log(`removed ${this.#name(gone.id)}`);
          if (gone !== m) gone.node = null;
        }
      }
    } else if (dec.decode(e.data).startsWith("marker")) {
      m.sawMarker = true;
    }
  }

  // ---- network ----

  #partitioned(a: NodeId, b: NodeId): boolean {
    return (this.#group.get(a) ?? 0) !== (this.#group.get(b) ?? 0);
  }

  #send(msg: Message): void {
    if (this.#rng() < this.#dropRate) {
      if (msg.type === MessageType.Snap) {
        this.#snapReports.push({ at: this.#now + 1, from: msg.from, to: msg.to, ok: false });
      }
      return;
    }
    const copies = this.#rng() < this.#dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.#net.push({ m: msg, at: this.#now + Math.floor(this.#rng() * this.#maxDelay) });
    }
  }

  #deliverDue(): void {
    for (let round = 0; round < 3; round++) {
      const due: Flight[] = [];
      const later: Flight[] = [];
      for (const f of this.#net) (f.at <= this.#now ? due : later).push(f);
      if (due.length === 0) break;
      this.#net = later;
      // Reorder: deliver in a random permutation.
      for (let i = due.length - 1; i > 0; i--) {
        const j = Math.floor(this.#rng() * (i + 1));
        [due[i], due[j]] = [due[j], due[i]];
      }
      for (const f of due) this.#deliver(f.m);
    }
    const reports = this.#snapReports.filter((r) => r.at <= this.#now);
    this.#snapReports = this.#snapReports.filter((r) => r.at > this.#now);
    for (const r of reports) {
      const from = this.#members.get(r.from);
      if (from?.node) {
        from.node.reportSnapshot(r.to, r.ok);
        this.#process(from);
      }
    }
  }

  #deliver(msg: Message): void {
    const to = this.#members.get(msg.to);
    if (to === undefined || to.node === null || this.#partitioned(msg.from, msg.to)) {
      if (msg.type === MessageType.Snap) {
        this.#snapReports.push({ at: this.#now + 1, from: msg.from, to: msg.to, ok: false });
      }
      const from = this.#members.get(msg.from);
      if (from?.node && this.#rng() < 0.5) {
        from.node.reportUnreachable(msg.to);
        this.#process(from);
      }
      return;
    }
    this.#log(
      `${this.#name(msg.from)}->${this.#name(msg.to)} ${MessageType[msg.type]} t${msg.term} ` +
        `i${msg.index} lt${msg.logTerm} n${msg.entries.length} c${msg.commit}` +
        (msg.reject ? ` rej(h${msg.rejectHint})` : "") +
        (msg.snapshot ? ` snap@${msg.snapshot.meta.index}` : ""),
    );
    to.node.step(msg);
    if (to.node) {
      const l = to.node.raft.log;
      this.#log(
        `   -> last ${l.lastIndex()} off ${l.unstable.offset} n${l.unstable.entries.length} st ${to.storage.lastIndex()} c ${l.committed}`,
      );
    }
    if (msg.type === MessageType.Snap) {
      this.#snapReports.push({ at: this.#now + 1, from: msg.from, to: msg.to, ok: true });
    }
    this.#process(to);
  }

  // ---- faults and workload ----

  #crash(m: Member): void {
    m.node = null;
    this.stats.crashes++;
    this.#log(`${this.#name(m.id)} crashed`);
  }

  #restart(m: Member): void {
    // Restart from exactly what was persisted: the storage, its snapshot, its hard state.
    const snap = m.storage.snapshot();
    if (snap.meta.index > 0) {
      const [, sm] = dec.decode(snap.data).split(":").map(Number);
      m.sm = sm;
    } else {
      m.sm = 0;
    }
    m.applied = snap.meta.index;
    m.confState = snap.meta.confState;
    const fresh = m.storage.lastIndex() === 0 && m.storage.hardState().term === 0;
    const initial = [...this.#members.values()].slice(0, this.#o.size).map((x) => x.id);
    const isInitial = initial.includes(m.id);
    m.node = this.#newNode(m, fresh && isInitial ? initial : undefined);
    this.#log(`${this.#name(m.id)} restarted`);
    this.#process(m);
  }

  #leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.#up()) {
      const st = m.node!.status();
      if (
        st.role === StateRole.Leader && (best === undefined || st.term > best.node!.status().term)
      ) {
        best = m;
      }
    }
    return best;
  }

  #propose(m: Member, data: string): void {
    try {
      m.node!.propose(enc.encode(data));
    } catch (e) {
      if (!(e instanceof ProposalDropped)) throw e;
    }
    this.#process(m);
  }

  #confChange(): void {
    const l = this.#leader();
    if (l === undefined) return;
    const cs = l.confState;
    const choices: (() => void)[] = [];
    const spare = this.#spares[0];
    if (spare !== undefined) {
      choices.push(() => {
        this.#spares.shift();
        const fresh = this.#newMember(spare);
        fresh.node = this.#newNode(fresh);
        this.#tryConfChange(l, ConfChangeType.AddLearner, spare);
      });
    }
    if (cs.learners.length > 0) {
      choices.push(() => this.#tryConfChange(l, ConfChangeType.AddNode, this.#pick(cs.learners)!));
    }
    if (cs.voters.length > 3) {
      choices.push(() => this.#tryConfChange(l, ConfChangeType.RemoveNode, this.#pick(cs.voters)!));
    }
    this.#pick(choices)?.();
  }

  #tryConfChange(l: Member, type: ConfChangeType, nodeId: NodeId): void {
    try {
      l.node!.proposeConfChange({ type, nodeId, context: EMPTY_BYTES });
      this.stats.confChanges++;
      this.#log(`propose ${ConfChangeType[type]} ${this.#name(nodeId)}`);
    } catch (e) {
      if (!(e instanceof ProposalDropped)) throw e;
    }
    this.#process(l);
  }

  #chaos(): void {
    const r = this.#rng;
    const up = () => this.#up(); // re-read: any step may crash a member mid-Ready
    if (r() < 0.3 && up().length > 0) this.#propose(this.#pick(up())!, `v${this.#seq++}`);
    if (r() < 0.05 && up().length > 0) {
      const m = this.#pick(up())!;
      const ctx = `r${this.#seq++}`;
      this.#inv.readIssued(ctx);
      m.node!.readIndex(enc.encode(ctx));
      this.#process(m);
    }
    if (r() < this.#crashRate && up().length > 0) this.#crash(this.#pick(up())!);
    if (r() < this.#leaderCrashRate) {
      const l = this.#leader();
      if (l !== undefined) this.#crash(l);
    }
    const down = [...this.#members.values()].filter((m) => m.node === null && !m.removed);
    if (r() < 0.05 && down.length > 0) this.#restart(this.#pick(down)!);
    if (r() < 0.01) {
      // A new partition: every member goes to side 0 or 1.
      for (const id of this.#members.keys()) this.#group.set(id, r() < 0.5 ? 0 : 1);
      this.#log("partition");
    }
    if (r() < 0.02) this.#group.clear();
    if (r() < 0.01) this.#confChange();
    if (r() < 0.01) {
      const l = this.#leader();
      const to = l && this.#pick(l.confState.voters);
      if (l && to !== undefined) {
        l.node!.transferLeader(to);
        this.#process(l);
      }
    }
    if (r() < 0.05) this.#compact();
  }

  #compact(): void {
    const m = this.#pick(this.#up());
    if (m === undefined) return;
    const s = m.storage;
    if (m.applied - s.firstIndex() < 8 || m.applied <= s.snapshot().meta.index) return;
    s.createSnapshot(m.applied, m.confState, enc.encode(`${m.applied}:${m.sm}`));
    s.compact(m.applied - 2);
  }

  #tick(): void {
    for (const m of this.#up()) {
      if (m.node === null) continue; // removed while ticking others
      m.node.tick();
      this.#process(m);
    }
  }

  /** Runs chaos then healing; throws SimFailure on any violation or lack of progress. */
  run(): void {
    try {
      for (; this.#now < this.#o.chaosTicks; this.#now++) {
        this.#chaos();
        this.#deliverDue();
        this.#tick();
      }
      this.#heal();
      this.stats.applied = this.#inv.appliedCount;
    } catch (e) {
      if (e instanceof SimFailure) throw e;
      this.#fail(`exception: ${(e as Error).stack}`);
    }
  }

  #heal(): void {
    // Healed means a sane network too: delays far below the election timeout.
    this.#dropRate = 0;
    this.#maxDelay = 2;
    this.#group.clear();
    for (const m of this.#members.values()) if (m.node === null && !m.removed) this.#restart(m);
    const end = this.#now + this.#o.healTicks;
    for (; this.#now < end; this.#now++) {
      if (this.#now % 5 === 0) {
        const m = this.#pick(this.#up());
        if (m) this.#propose(m, `marker${this.#seq++}`);
      }
      if (this.#rng() < 0.05) this.#compact();
      this.#deliverDue();
      this.#tick();
      if (this.#healed()) return;
    }
    const lagging = [...this.#members.values()].map((m) =>
      `${this.#name(m.id)}:${m.node ? StateRole[m.node.status().role] : "down"}@${m.applied}` +
      (m.sawMarker ? "+" : "-")
    );
    const l = this.#leader();
    const prs = l === undefined ? "no leader" : [...(l.node!.status().progress ?? [])].map(
      ([id, p]) => `${this.#name(id)}:${p.state}:${p.match}/${p.next}${p.recentActive ? "" : "!"}`,
    ).join(" ");
    this.#fail(`no progress after healing: ${lagging.join(" ")}; leader progress ${prs}`);
  }

  /** Every live member of the newest membership applied a marker proposed after healing. */
  #healed(): boolean {
    let newest: Member | undefined;
    for (const m of this.#up()) if (!newest || m.applied > newest.applied) newest = m;
    if (newest === undefined) return false;
    const ids = [...newest.confState.voters, ...newest.confState.learners];
    return ids.every((id) => {
      const m = this.#members.get(id);
      return m === undefined || m.removed || m.sawMarker;
    });
  }
}
