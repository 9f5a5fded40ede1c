/**
 * A cairn member: wires the pure Raft core to the WAL and snapshot files,
 * applies committed entries to the state machine, and offers the API layer
 * two doors: `propose` for every mutation and `readBarrier` for
 * linearizable reads (DESIGN.md rules 1, 3 and 4).
 *
 * This file is the coordinator: it owns the Raft node, its Ready loop
 * (`#handleReady`: send, persist, apply, advance) and the one apply path
 * (`#applyEntries`), and hands each other concern a narrow view of itself:
 * proposals.ts (request ids, waiters, proposals waiting for a leader),
 * handover.ts (leadership transfers), membership_changes.ts, quota.ts,
 * snapshot_install.ts, corruption_checks.ts, member_metrics.ts and
 * member_timers.ts (ticks, sweeps, leases, purging).
 *
 * @module
 */
import type { AuthHeader, InternalRequest, MemberRecord } from "../gen/cairn/internal_pb.ts";
import { AlarmType, type ResponseHeader } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type Clock, sleep } from "../clock.ts";
import type { Config } from "../config.ts";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ServerMetrics } from "../metrics/etcd.ts";
import { decodeConfChange } from "../raft/confchange.ts";
import { InvariantViolation } from "../raft/errors.ts";
import { RawNode } from "../raft/raw_node.ts";
import type { MemoryStorage } from "../raft/storage.ts";
import {
  type ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Ready,
  StateRole,
} from "../raft/types.ts";
import type { FilePurger } from "../storage/purge.ts";
import type { SnapshotStore } from "../storage/snapshot.ts";
import type { Wal } from "../storage/wal.ts";
import { frameLimit, snapshotLimit } from "../transport/protocol.ts";
import {
  CLEARTEXT_PEERS,
  type PeerNetwork,
  type PeerRouteHandler,
} from "../transport/transport.ts";
import { CLUSTER_VERSION, SERVER_VERSION } from "../version.ts";
import { WatchHub } from "../watch/hub.ts";
import { AppliedWaiters } from "./applied_waiters.ts";
import type { ApplyResult, StateMachine } from "./apply.ts";
import { applyRequestEntry } from "./apply_entry.ts";
import { CompactHashes } from "./compaction_hash.ts";
import { CorruptionChecks } from "./corruption_checks.ts";
import { DurableLog, leadsDurably, sendableBeforeSync } from "./durable_log.ts";
import { type MemberEnv, type PeerTransport, realEnv } from "./env.ts";
import { fatalExitCode, isRefusedPeerInput, logFatal } from "./fatal.ts";
import { LeadershipHandover } from "./handover.ts";
import { idToHex as hex } from "./ids.ts";
import { HeartbeatWatch } from "./heartbeat_watch.ts";
import { attachMemberMetrics, recordLeader, recordSendFailure } from "./member_metrics.ts";
import { IntervalTimers, startPeriodicWork, startPurger } from "./member_timers.ts";
import { MembershipChanges } from "./membership_changes.ts";
import { PeerLinks } from "./peer_links.ts";
import {
  HeaderedReply,
  Proposals,
  type ReplySink,
  requestTimeoutMs,
  responseHeader,
} from "./proposals.ts";
import { BackendQuota } from "./quota.ts";
import { ReadBarrier } from "./read_barrier.ts";
import { recoverOrBootstrap } from "./recover.ts";
import { SnapshotInstaller } from "./snapshot_install.ts";
import { Snapshotter } from "./snapshotter.ts";
import { StoreCompaction } from "./store_compaction.ts";
import { captureState } from "./state_snapshot.ts";
import type { Waiters } from "./waiters.ts";

/** One member of a cairn cluster. */
export class Member {
  readonly id: bigint;
  readonly clusterId: bigint;
  readonly sm: StateMachine;
  /** Fans the store's events out to watchers; follows the store across snapshot installs. */
  readonly watchHub: WatchHub;
  readonly #cfg: Config;
  /** Time and timers: the real ones, or the simulation's (see env.ts). */
  readonly #clock: Clock;
  /** Between purge rounds (undefined: etcd's 30 s). */
  readonly #purgeIntervalMs: number | undefined;
  readonly #log: Logger;
  readonly #raft: RawNode;
  readonly #storage: MemoryStorage;
  readonly #wal: Wal;
  readonly #snaps: SnapshotStore;
  /** The WAL, snapshot files and Raft's storage, written in the order rule 3 needs. */
  readonly #durable: DurableLog;
  /** Our proposals in flight: request ids, waiters, proposals waiting for a leader. */
  readonly #proposals: Proposals;
  /** The proposals' waiters, settled by the apply path. */
  readonly #waiters: Waiters<ApplyResult>;
  readonly #reads: ReadBarrier;
  readonly #appliedWaits = new AppliedWaiters();
  /** etcd's metric families of this member (served on /metrics). */
  readonly metrics: ServerMetrics;
  /** Leadership transfers: on stop, and Maintenance.MoveLeader's. */
  readonly #handover: LeadershipHandover;
  /** etcd's late-heartbeat warning while this member leads. */
  readonly #heartbeats: HeartbeatWatch;
  /** `--quota-backend-bytes`, checked before each write is proposed. */
  readonly #quota: BackendQuota;
  /** HashKV for peers, the initial check and the leader's periodic one. */
  readonly #corruption: CorruptionChecks;
  #confState: ConfState;
  #applied: number;
  /** Periodic snapshots, taken off the Raft loop (and Defragment's). */
  readonly #snapshotter: Snapshotter;
  /** Leaders' snapshots, installed in steps. */
  readonly #installer: SnapshotInstaller;
  /** The compaction batch settings and hash recording of every store this member uses. */
  readonly #storeCompaction: StoreCompaction;
  /** The hashes recorded at the last compactions (the compact hash check). */
  readonly #compactHashes = new CompactHashes();
  #term = 0;
  #leader = 0n;
  #role = StateRole.Follower;
  #readyRunning = false;
  #readyAgain = false;
  #stopped = false;
  /** Every interval of this member, cleared together on stop, halt or removal. */
  readonly #timers: IntervalTimers;
  #fatal: ((err: Error, exitCode: number) => void) | undefined;
  #removed = false;
  /** Set when a broken invariant stopped the member: nothing may be acknowledged after it. */
  #halted = false;
  /** Applies membership changes, publishes our attributes, vouches for unknown peers. */
  readonly #membership: MembershipChanges;
  #transport: PeerTransport | undefined;
  #purger: FilePurger | undefined;
  readonly #peers: PeerLinks;
  /** Called after every applied membership change (the transport updates its peers). */
  onMembershipChange?: () => void;

  private constructor(init: {
    cfg: Config;
    log: Logger;
    id: bigint;
    clusterId: bigint;
    sm: StateMachine;
    raft: RawNode;
    storage: MemoryStorage;
    wal: Wal;
    snaps: SnapshotStore;
    confState: ConfState;
    applied: number;
    env: MemberEnv;
  }) {
    this.#cfg = init.cfg;
    this.#log = init.log;
    this.#clock = init.env.clock;
    this.#timers = new IntervalTimers(init.env.clock);
    this.#purgeIntervalMs = init.env.tuning.purgeIntervalMs;
    this.watchHub = new WatchHub({ clock: init.env.clock });
    this.id = init.id;
    this.#peers = new PeerLinks(init.id, init.env.network.caller());
    this.clusterId = init.clusterId;
    this.sm = init.sm;
    this.#raft = init.raft;
    this.#storage = init.storage;
    this.#wal = init.wal;
    this.#snaps = init.snaps;
    this.#confState = init.confState;
    this.#applied = init.applied;
    this.metrics = new ServerMetrics({
      extensive: init.cfg.metrics === "extensive",
      serverVersion: SERVER_VERSION,
      clusterVersion: CLUSTER_VERSION.split(".").slice(0, 2).join("."),
    });
    this.#durable = new DurableLog({
      wal: init.wal,
      snaps: init.snaps,
      storage: init.storage,
      clock: init.env.clock,
    });
    this.#durable.onSnapshotWritten = (s, parts) => this.metrics.disk.snapshotSaved(s, parts);
    this.#durable.onSnapshotInstalled = (s, p) => this.metrics.disk.snapshotInstalled(s, p);
    this.#snapshotter = new Snapshotter({
      clock: init.env.clock,
      log: init.log,
      durable: this.#durable,
      count: init.cfg.snapshotCount,
      index: init.applied,
      applied: () => this.#applied,
      capture: () => ({
        meta: {
          index: this.#applied,
          term: this.#storage.term(this.#applied),
          confState: {
            voters: [...this.#confState.voters],
            learners: [...this.#confState.learners],
          },
        },
        state: captureState(this.sm),
      }),
      kick: () => this.#kick(),
      fail: (err) => this.#halt("saving a snapshot", err),
      chunkBytes: init.env.tuning.snapshotChunkBytes,
      onPause: init.env.tuning.onSnapshotPause,
    });
    this.#proposals = new Proposals({
      selfId: init.id,
      raft: init.raft,
      clock: init.env.clock,
      cfg: init.cfg,
      failed: this.metrics.proposalsFailed,
      stopped: () => this.#stopped,
      handingOver: () => this.#handover.active,
      kick: () => this.#kick(),
      halt: (where, err) => this.#halt(where, err),
    });
    this.#waiters = this.#proposals.waiters;
    this.#membership = new MembershipChanges({
      selfId: init.id,
      clusterId: init.clusterId,
      log: init.log,
      clock: init.env.clock,
      cfg: init.cfg,
      sm: init.sm,
      peers: this.#peers,
      waiters: this.#waiters,
      transport: () => this.#transport,
      propose: (req) => this.#proposals.propose(req),
      changed: () => this.onMembershipChange?.(),
    });
    this.#storeCompaction = new StoreCompaction({
      clock: init.env.clock,
      log: init.log,
      cfg: init.cfg,
      hashes: this.#compactHashes,
      stopped: () => this.#stopped,
    });
    this.#installer = new SnapshotInstaller({
      clock: init.env.clock,
      prepareStore: (store) => this.#storeCompaction.attach(store),
      log: init.log,
      durable: this.#durable,
      sm: init.sm,
      watchHub: this.watchHub,
      stopped: () => this.#stopped,
      halted: () => this.#halted,
      installed: (meta) => {
        this.#confState = meta.confState;
        this.#applied = meta.index;
        this.#snapshotter.stateReplaced(meta.index);
        this.#membership.syncPeers();
      },
    });
    // Compaction steps pause on the member's clock (the simulator's too) and
    // stop at a stopping member's next pause; the installer re-sets it on
    // every store it installs.
    this.#storeCompaction.attach(init.sm.store);
    this.#quota = new BackendQuota({
      selfId: init.id,
      cfg: init.cfg,
      sm: init.sm,
      log: init.log,
      propose: (req) => this.#proposals.propose(req),
    });
    this.#heartbeats = new HeartbeatWatch({
      heartbeatIntervalMs: init.cfg.heartbeatIntervalMs,
      now: () => this.#clock.monotonic(),
      log: this.#log,
      failures: this.metrics.heartbeatSendFailures,
    });
    this.#handover = new LeadershipHandover({
      selfId: init.id,
      log: init.log,
      clock: init.env.clock,
      cfg: init.cfg,
      raft: init.raft,
      proposals: this.#proposals,
      role: () => this.#role,
      leader: () => this.#leader,
      voters: () => this.#confState.voters,
      isPeerActive: (id) => this.isPeerActive(id),
      stopped: () => this.#stopped,
      kick: () => this.#kick(),
    });
    this.#corruption = new CorruptionChecks({
      selfId: init.id,
      clusterId: init.clusterId,
      log: init.log,
      cfg: init.cfg,
      sm: init.sm,
      compactHashes: this.#compactHashes,
      peers: this.#peers,
      isLeader: () => this.#role === StateRole.Leader,
      readBarrier: () => this.readBarrier(),
      propose: (req) => this.#proposals.propose(req),
      addPeerRoute: (method, path, handler) => this.addPeerRoute(method, path, handler),
      every: (fn, ms) => this.#timers.every(fn, ms),
    });
    this.#reads = new ReadBarrier({
      now: () => this.#clock.monotonic(),
      // Rounds of a previous process of this member may still be answered.
      firstSeq: Math.floor(init.env.random() * 2 ** 52),
      issue: (ctx) => {
        if (!this.#guarded("issuing a read index", () => this.#raft.readIndex(ctx))) return;
        this.#kick();
      },
      appliedIndex: () => this.#applied,
      onSlowRound: () => this.metrics.slowReadIndexes.inc(),
    });
  }

  /**
   * Opens (or creates) the data directory, recovers state, and starts Raft.
   * `network` says how the real peer network is reached; `env` replaces
   * the clock, disk, network or randomness (the simulation's, see env.ts).
   */
  static async start(
    cfg: Config,
    log: Logger,
    onFatal?: (err: Error, exitCode: number) => void,
    network: PeerNetwork = CLEARTEXT_PEERS,
    env: Partial<MemberEnv> = {},
  ): Promise<Member> {
    const world = realEnv(env, network);
    const {
      snaps,
      storage,
      wal,
      id,
      clusterId,
      membership,
      store,
      lessor,
      auth,
      alarms,
      applied,
      peers,
    } = await recoverOrBootstrap(cfg, log, world);

    // Whether the member restarts on data of its own (etcd's "member initialized").
    const hadData = applied > 0 || storage.lastIndex() > 0;
    const electionTick = Math.max(2, Math.round(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs));
    const raft = new RawNode({
      id,
      electionTick,
      heartbeatTick: 1,
      storage,
      applied,
      preVote: cfg.preVote,
      checkQuorum: true,
      random: world.random,
      peers,
      learners: peers ? membership.learnerIds() : undefined,
    });
    const member = new Member({
      cfg,
      log,
      id,
      clusterId,
      sm: { store, membership, alarms, lessor, auth },
      raft,
      storage,
      wal,
      snaps,
      confState: { voters: membership.voterIds(), learners: membership.learnerIds() },
      applied,
      env: world,
    });
    member.#fatal = onFatal;
    member.#attachMetrics();
    if (cfg.initialCorruptCheck && hadData) await member.#checkBeforeServing();
    member.#transport = await world.network.startTransport({
      selfId: id,
      clusterId,
      listenUrls: cfg.listenPeerUrls,
      log,
      // Only members of the current configuration are heard on the peer port.
      isMember: (peer) => member.#membership.admits(peer),
      isRemoved: (peer) => member.sm.membership.isRemoved(peer),
      onUnknownSender: (peer) => member.#membership.askAbout(peer),
      onRemoved: (by) => member.#removedByPeer(by),
      maxFrameBytes: frameLimit(cfg.maxRequestBytes),
      maxSnapshotBytes: snapshotLimit(cfg.quotaBackendBytes),
      onMessages: (msgs) => member.#receive(msgs),
      onSnapshot: (msg) => member.#receive([msg]),
      onUnreachable: (peer) =>
        member.#guarded(
          "reporting an unreachable peer",
          () => member.#raft.reportUnreachable(peer),
        ),
      onSendFailed: (peer, type) => recordSendFailure(member.metrics, peer, type),
      openSnapshot: (meta) => member.#durable.openSnapshotBody(meta),
      onSnapshotStatus: (peer, ok) => {
        const step = () => member.#raft.reportSnapshot(peer, ok);
        if (member.#guarded("reporting a snapshot", step)) member.#kick();
      },
      routes: (path, method) => member.#peers.route(path, method),
      stats: member.metrics.peers,
    });
    member.#peers.attach(member.#transport);
    member.#membership.serveMembers();
    member.#membership.syncPeers();
    member.watchHub.attach(store);
    member.#corruption.serveHashKV();
    member.#startTimers();
    if (cfg.corruptCheckTimeMs > 0) member.#corruption.startMonitor();
    if (cfg.compactHashCheckEnabled) member.#corruption.startCompactHashMonitor();
    member.#startPurger();
    if (membership.voterIds().length === 1 && membership.voterIds()[0] === id) {
      // A cluster of one need not wait an election timeout to lead itself.
      raft.campaign();
    }
    member.#kick();
    return member;
  }

  /** Current Raft term. */
  /** The hashes recorded at this member's last compactions (etcd's hashStorage). */
  get compactHashes(): Pick<CompactHashes, "byRevision"> {
    return this.#compactHashes;
  }

  get term(): number {
    return this.#term;
  }
  /** Id of the known leader, 0n when none. */
  get leader(): bigint {
    return this.#leader;
  }
  /** Index of the last applied entry. */
  get appliedIndex(): number {
    return this.#applied;
  }
  /** Index of the last committed entry. */
  get commitIndex(): number {
    return this.#raft.status().commit;
  }
  /** `--max-txn-ops`: the most operations one Txn may carry. */
  get maxTxnOps(): number {
    return this.#cfg.maxTxnOps;
  }
  /** The member's configuration. */
  get config(): Config {
    return this.#cfg;
  }
  /** Whether this member is a learner. */
  get isLearner(): boolean {
    return this.sm.membership.get(this.id)?.isLearner ?? false;
  }

  /** A response header for the current state, as etcd fills it. */
  header(revision = this.sm.store.currentRevision): ResponseHeader {
    return responseHeader(this.clusterId, this.id, revision, this.#term);
  }

  /**
   * Proposes a mutation and resolves once it has been committed by a quorum
   * that fsynced it and applied here, with the apply result; rejects with
   * the etcd error the apply raised.
   */
  propose(request: InternalRequest["request"], auth?: AuthHeader): Promise<ApplyResult> {
    return this.#proposals.propose(request, auth);
  }

  /**
   * etcd's backend quota: when the reserved size (dbSize, like etcd's
   * backend file size: compaction alone does not lower it, a Defragment
   * does) plus `cost` would reach `--quota-backend-bytes`, raise the
   * NOSPACE alarm through the log and refuse the request with
   * `etcdserver: mvcc: database space exceeded`.
   */
  checkQuota(cost: number): void {
    this.#quota.check(cost);
  }

  /**
   * etcd's Defragment, for this member only: gives the space compaction
   * freed back (the store's arena is repacked, see MvccStore.defragment)
   * and rewrites the snapshot file from the compacted state, so dbSize and
   * the files on disk shrink. Unlike etcd's, writes are served meanwhile:
   * both steps run in chunks that yield to the event loop.
   */
  async defragment(): Promise<void> {
    if (this.#stopped) throw EtcdErrors.stopped();
    const started = this.#clock.monotonic();
    const before = this.sm.store.reservedSize();
    this.#log.info("defragmenting", { "current-db-size-bytes": before });
    try {
      await this.sm.store.defragment(this.#snapshotter.pause);
      await this.#snapshotter.snapshotNow();
    } catch (err) {
      if (this.#stopped) throw EtcdErrors.stopped();
      throw err;
    }
    this.#log.info("finished defragmenting the storage backend", {
      "current-db-size-bytes-diff": this.sm.store.reservedSize() - before,
      "current-db-size-bytes": this.sm.store.reservedSize(),
      "current-db-size-in-use-bytes": this.sm.store.approximateSize(),
      took: `${Math.round(this.#clock.monotonic() - started)}ms`,
    });
  }

  /**
   * Proposes `request` and answers with the response its apply produced,
   * its header filled in for the revision right after the apply.
   */
  proposeForResponse<T extends { header?: ResponseHeader }>(
    request: InternalRequest["request"],
    auth?: AuthHeader,
  ): Promise<T> {
    return new Promise<T>((reply, fail) =>
      this.#proposals.proposeTo(request, auth, new HeaderedReply<T>(this, { reply, fail }))
    );
  }

  /**
   * {@link proposeForResponse} for a caller that is its own sink (a unary
   * call): `out` gets the response or the error exactly once, with no
   * promise in between; a refusal before proposing comes at once, inside
   * this call, the response inside the apply of the entry.
   */
  proposeForResponseTo<T extends { header?: ResponseHeader }>(
    request: InternalRequest["request"],
    auth: AuthHeader | undefined,
    out: ReplySink<T>,
  ): void {
    this.#proposals.proposeTo(request, auth, new HeaderedReply<T>(this, out));
  }

  /** Resolves once this member has applied entry `index` (simple tokens name their entry). */
  waitApplied(index: number): Promise<void> {
    if (this.#stopped) return Promise.reject(EtcdErrors.stopped());
    const deadline = this.#clock.monotonic() + this.#requestTimeoutMs();
    return this.#appliedWaits.wait(index, this.#applied, deadline);
  }

  /** Resolves when a read of local state would be linearizable (ReadIndex + apply wait). */
  readBarrier(): Promise<void> {
    if (this.#stopped) return Promise.reject(EtcdErrors.stopped());
    return this.#reads.wait(this.#clock.monotonic() + this.#requestTimeoutMs());
  }

  /**
   * etcd's ensureLeadership: whether this member still leads, confirmed by
   * a quorum (a ReadIndex round) in the term it led when asked. A leader
   * that was cut off or removed believes it leads until it hears
   * otherwise; what it decides alone (a lease renewal) the real leader
   * never learns.
   */
  async confirmLeadership(): Promise<boolean> {
    if (this.#role !== StateRole.Leader) return false;
    const term = this.#term;
    try {
      await this.readBarrier();
    } catch {
      return false;
    }
    return this.#role === StateRole.Leader && this.#term === term;
  }

  /**
   * Hands leadership to `target` (Maintenance.MoveLeader) and resolves once
   * it leads; rejects with etcd's timeout error after an election timeout's
   * worth of heartbeats times five.
   */
  transferLeadership(target: bigint): Promise<void> {
    return this.#handover.moveTo(target);
  }

  /**
   * For /health: no alarm is raised (etcd 3.5 reports "ALARM NOSPACE" or
   * "ALARM CORRUPT"), a leader exists and a linearizable read goes through.
   */
  async checkHealth(): Promise<void> {
    const alarm = this.sm.alarms[0];
    if (alarm) throw new Error(`ALARM ${AlarmType[alarm.alarm] ?? "UNKNOWN"}`);
    if (this.#leader === 0n) throw new Error("RAFT NO LEADER");
    await this.readBarrier();
  }

  /**
   * etcd's TransferLeadership on stop: a leader with other voters hands
   * leadership to the most caught-up follower it is connected to and
   * waits (up to the request timeout) until that one leads, so no member
   * waits out an election timeout. Proposals made here or forwarded to
   * us meanwhile, which Raft would drop, are proposed to the new leader
   * once it is known. Resolves either way; a failed hand-over is logged.
   */
  handOverLeadership(): Promise<void> {
    return this.#handover.onStop();
  }

  /**
   * Before a stop: keeps serving as a follower for two heartbeats (so
   * proposals that peers sent us before they heard of the new leader are
   * passed on to it), then until our own writes in flight are applied and
   * every Raft message is handed to the transport, or `timeoutMs` passed.
   */
  async quiesce(timeoutMs: number): Promise<void> {
    const deadline = this.#clock.monotonic() + timeoutMs;
    const pause = (ms: number) => sleep(this.#clock, ms);
    if (this.#confState.voters.length > 1) await pause(2 * this.#cfg.heartbeatIntervalMs);
    const busy = () =>
      this.#proposals.inFlight || this.#readyRunning ||
      this.#raft.hasReady() ||
      this.sm.membership.records().some((r) => (this.#transport?.queued(r.id) ?? 0) > 0);
    while (!this.#stopped && busy() && this.#clock.monotonic() < deadline) await pause(5);
  }

  /** Stops timers, fails waiting requests, closes the WAL. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timers.clearAll();
    this.watchHub.close();
    this.#proposals.failAll(EtcdErrors.stopped());
    this.#reads.failAll(EtcdErrors.stopped());
    this.#appliedWaits.failAll(EtcdErrors.stopped());
    while (this.#readyRunning) await sleep(this.#clock, 5);
    await this.#snapshotter.stop();
    await this.#purger?.stop();
    await this.#peers.stop();
    await this.#wal.close();
  }

  /**
   * `--experimental-initial-corrupt-check`: first apply what the WAL holds
   * as committed (etcd's backend already holds it at this point), then
   * compare HashKV with the peers; on a mismatch, stop before Raft or any
   * listener runs, with etcd's error.
   */
  async #checkBeforeServing(): Promise<void> {
    this.#kick();
    while (this.#readyRunning) await sleep(this.#clock, 1);
    try {
      await this.#corruption.initialCheck();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  #requestTimeoutMs(): number {
    return requestTimeoutMs(this.#cfg);
  }

  #startTimers(): void {
    startPeriodicWork(this.#timers, {
      cfg: this.#cfg,
      log: this.#log,
      lessor: this.sm.lessor,
      tick: () => this.#tick(),
      sweep: () => this.#expireWaiters(),
      isLeader: () => this.#role === StateRole.Leader,
      propose: (req) => this.propose(req),
    });
  }

  /** One Raft tick (a heartbeat interval passed); what it throws is a broken invariant. */
  #tick(): void {
    if (this.#halted) return;
    try {
      this.#raft.tick();
    } catch (err) {
      return this.#halt("raft tick", err);
    }
    this.#kick();
  }

  /** `--max-wals` / `--max-snapshots`: old files are purged every 30 s, as etcd does. */
  #startPurger(): void {
    this.#purger = startPurger({
      cfg: this.#cfg,
      wal: this.#wal,
      snaps: this.#snaps,
      clock: this.#clock,
      intervalMs: this.#purgeIntervalMs,
      log: this.#log,
      fatal: (err) => {
        // etcd exits when a purge fails (lg.Fatal).
        this.#stopped = true;
        this.#fatal?.(err, 1);
      },
    });
  }

  /** Points the scrape-time gauges at this member and times the WAL's syncs. */
  #attachMetrics(): void {
    attachMemberMetrics(this.metrics, {
      selfId: this.id,
      cfg: this.#cfg,
      sm: this.sm,
      watchHub: this.watchHub,
      wal: this.#wal,
      log: this.#log,
      peers: this.#peers,
      commitIndex: () => this.#raft.status().commit,
      appliedIndex: () => this.#applied,
      pendingProposals: () => this.#waiters.size,
      isLearner: () => this.isLearner,
      addPeerRoute: (method, path, handler) => this.addPeerRoute(method, path, handler),
      every: (fn, ms) => this.#timers.every(fn, ms),
    });
  }

  /** Counts a leader change; proposals that waited for a leader go to a new one. */
  #countLeader(changed: boolean): void {
    recordLeader(this.metrics, changed, this.#leader, this.#role === StateRole.Leader);
    if (changed && this.#leader !== 0n && this.#proposals.waitingForLeader) {
      // Not from inside the Ready being handled: Raft is stepped in a later microtask.
      queueMicrotask(() => this.#proposals.proposeWaiting());
    }
  }

  /**
   * Applies a batch of committed entries, timing the batch as a whole (a
   * clock read per entry would cost the put path): a batch slower than
   * --experimental-warning-apply-duration counts as a slow apply and is
   * logged with etcd's message.
   */
  #applyTimed(entries: Entry[]): void {
    const started = this.#clock.monotonic();
    this.#applyEntries(entries);
    const took = this.#clock.monotonic() - started;
    if (took <= this.#cfg.warningApplyDurationMs) return;
    this.metrics.slowApplies.inc();
    this.#log.warn("apply request took too long", {
      took: `${took.toFixed(1)}ms`,
      "expected-duration": `${this.#cfg.warningApplyDurationMs}ms`,
      entries: entries.length,
    });
  }

  #expireWaiters(): void {
    const now = this.#clock.monotonic();
    this.#proposals.expire(now, this.#leader !== 0n);
    this.metrics.readIndexesFailed.inc(this.#reads.expire(now, EtcdErrors.timeout()));
    // Proposals waiting for a leader try again (a transfer may have been abandoned).
    this.#proposals.proposeWaiting();
    this.#appliedWaits.expire(now, EtcdErrors.timeout());
  }

  /** Schedules a Ready round; concurrent calls coalesce so proposals group-commit. */
  #kick(): void {
    if (this.#readyRunning) {
      this.#readyAgain = true;
      return;
    }
    this.#readyRunning = true;
    queueMicrotask(() => this.#runReady());
  }

  async #runReady(): Promise<void> {
    try {
      do {
        this.#readyAgain = false;
        while (!this.#stopped && this.#raft.hasReady()) {
          await this.#handleReady(this.#raft.ready());
        }
        // A snapshot written off the loop needs its WAL marker, or one was asked for.
        if (!this.#stopped && this.#snapshotter.due()) await this.#snapshotter.step();
      } while (this.#readyAgain && !this.#stopped);
    } catch (err) {
      this.#halt("raft loop", err);
    } finally {
      this.#readyRunning = false;
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.hardState) this.#term = rd.hardState.term;
    if (rd.softState) {
      const changed = rd.softState.leader !== this.#leader;
      this.#leader = rd.softState.leader;
      if (rd.softState.role === StateRole.Leader && this.#role !== StateRole.Leader) {
        this.#heartbeats.reset();
      }
      this.#role = rd.softState.role;
      this.#countLeader(changed);
      // Only the leader tracks lease expiry (it is promoted once it applies its own first entry).
      if (this.#role !== StateRole.Leader && this.sm.lessor.isPrimary) this.sm.lessor.demote();
      if (changed) {
        this.#log.info("leader changed", { leader: hex(this.#leader), term: this.#term });
        if (this.#role === StateRole.Leader || this.#leader !== 0n) this.#membership.publishSelf();
        // A read round sent earlier was dropped (no leader) or went to the old one: resend it.
        if (this.#leader !== 0n) this.#reads.onLeaderChange();
      }
    }

    // Messages that carry nothing this member must have made durable go out
    // before the fsync (see durable_log.ts), so a leader's disk write
    // overlaps its followers'.
    let late = rd.messages;
    // With appends in flight the fsync runs off this thread: a blocking one
    // would hold them in this process until it finished, and the replies
    // that arrive meanwhile could not be read.
    let overlap = false;
    if (this.#role === StateRole.Leader) this.#heartbeats.check(rd.messages);
    if (rd.messages.length > 0 && this.#transport) {
      const leading = leadsDurably(rd, this.#role, this.#storage.hardState());
      const early: Message[] = [];
      late = [];
      for (const m of rd.messages) (sendableBeforeSync(m.type, leading) ? early : late).push(m);
      if (early.length > 0) {
        this.#transport.send(early);
        overlap = leading;
      }
    }

    // Persist first (rule 3): one write and one fdatasync for the whole Ready.
    if (rd.snapshot) {
      await this.#installer.install(rd.snapshot);
      // Stopped mid-install: nothing of this Ready may be applied to the old state.
      if (this.#halted || this.#stopped) return;
    }
    const writing = this.#durable.write(rd, overlap);
    if (writing !== undefined) {
      await writing;
      // A broken invariant found meanwhile: acknowledge nothing of this Ready.
      if (this.#halted) return;
    }
    this.#durable.remember(rd);

    // The rest go out only after the state they carry is durable.
    if (late.length > 0) this.#transport?.send(late);

    if (rd.committedEntries.length > 0) this.#applyTimed(rd.committedEntries);
    for (const rs of rd.readStates) this.#reads.onReadState(rs.requestCtx, rs.index);
    this.#raft.advance(rd);
    this.#reads.onApplied(this.#applied);
    this.#appliedWaits.onApplied(this.#applied);
    if (this.#removed) {
      this.#stopped = true;
      // Like etcd, a removed member stops for good (exit status 0); the
      // short grace lets the answer to a MemberRemove sent to it go out.
      const err = new Error("the member has been permanently removed from the cluster");
      this.#clock.setTimeout(() => this.#fatal?.(err, 0), 1000);
      return;
    }
    if (this.#snapshotter.due()) await this.#snapshotter.step();
  }

  #applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      if (this.#halted) return;
      if (e.index <= this.#applied) continue;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        const wasAlone = this.#alone();
        this.#confState = this.#raft.applyConfChange(cc);
        if (this.#membership.apply(cc)) this.#removed = true;
        if (wasAlone && !this.#alone() && this.#durable.trimmedPastSnapshot()) {
          // Its new peer may need everything, and a lone member kept no
          // applied entries (trimIfAlone): Raft needs a snapshot at least
          // this recent to send. Written to its file off the loop and
          // streamed from there, as every snapshot is; Raft waits for it
          // (sendAppend). Asked once this entry counts as applied; a stop
          // abandons it, with nothing to report. A member of a cluster
          // bootstrapped together is alone for a moment too, when a restart
          // replays the initial configuration and its own entry comes
          // first; its log is whole, so it writes none.
          queueMicrotask(() => this.#snapshotter.snapshotNow().catch(() => {}));
        }
      } else if (e.type !== EntryType.Normal) {
        // etcd panics on an entry type it does not know: applying nothing would diverge.
        throw new InvariantViolation(`unknown type ${e.type} of committed entry ${e.index}`);
      } else if (e.data.length > 0) {
        applyRequestEntry(
          this.sm,
          e.data,
          e.index,
          this.id,
          this.#waiters,
          this.metrics.ops,
        );
      } else if (this.#role === StateRole.Leader && e.term === this.#term) {
        // The leader's empty entry of its term: everything of earlier terms is
        // applied, so the lessor knows every lease (etcd promotes here too).
        this.sm.lessor.promote(this.#cfg.electionTimeoutMs);
      }
      this.#applied = e.index;
    }
    this.#durable.trimIfAlone(this.#applied, this.#alone());
  }

  /**
   * Proposes a membership change (Cluster service) and resolves once it is
   * committed and applied here. `member` travels in the entry so every
   * member records the same names and URLs.
   */
  proposeMemberChange(type: ConfChangeType, nodeId: bigint, member?: MemberRecord): Promise<void> {
    return this.#proposals.proposeMemberChange(type, nodeId, member);
  }

  /** Replication progress per member as the leader sees it (undefined on followers). */
  progress(): Map<bigint, { match: number; recentActive: boolean }> | undefined {
    return this.#raft.status().progress;
  }

  /**
   * Steps messages from peers into Raft. A message Raft refuses as bad
   * input is dropped, as the network may; anything else it throws is a
   * broken invariant, and the member stops before acknowledging more.
   */
  #receive(msgs: Message[]): void {
    if (this.#stopped) return;
    for (const m of msgs) {
      if (
        m.type === MessageType.Prop && (this.#handover.active || this.#role !== StateRole.Leader)
      ) {
        // Raft drops proposals during a transfer: these go to the new leader
        // after it. One that reached us after we stopped leading is proposed
        // again as ours: passed on with its sender's id, the peer port of the
        // new leader would refuse it as misattributed.
        if (this.#handover.active) this.#handover.hold(m);
        else for (const e of m.entries) this.#proposals.proposeForwarded(e.data);
        continue;
      }
      try {
        this.#raft.step(m);
      } catch (err) {
        if (!isRefusedPeerInput(err)) return this.#halt("stepping a peer message", err);
        this.#log.warn("dropped peer message", {
          type: MessageType[m.type] ?? m.type,
          from: hex(m.from),
          error: String(err),
        });
      }
    }
    this.#kick();
  }

  /**
   * Fail-stop: a broken invariant (or an unexpected failure of the Raft
   * loop) leaves this member's state untrustworthy. Log it, stop stepping,
   * persisting, sending and applying at once, and exit: nothing more may be
   * acknowledged (etcd panics here). Never returns to normal operation.
   */
  #halt(where: string, err: unknown): void {
    if (this.#halted) return;
    this.#halted = true;
    this.#stopped = true;
    logFatal(this.#log, where, err);
    this.#timers.clearAll();
    // Not a word more to the peers: our acknowledgements ride on these connections.
    this.#transport?.stop().catch(() => {});
    const error = err instanceof Error ? err : new Error(String(err));
    this.#fatal?.(error, fatalExitCode(err));
  }

  /**
   * Runs a local input into Raft (a transport report, a read request);
   * false when the member is stopped or what it threw stopped it: a
   * safety check is never logged and let go.
   */
  #guarded(what: string, fn: () => void): boolean {
    if (this.#halted) return false;
    try {
      fn();
      return true;
    } catch (err) {
      this.#halt(what, err);
      return false;
    }
  }

  /** A peer answered 410: this member was removed from the cluster and stops for good (exit 0). */
  #removedByPeer(by: bigint): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const err = new Error("the member has been permanently removed from the cluster");
    this.#log.warn("server error", { error: err.message, "remote-peer-id": hex(by) });
    this.#log.warn("data-dir used by this member must be removed");
    this.#timers.clearAll();
    this.#fatal?.(err, 0);
  }

  /**
   * Serves `handler` at `method path` on the peer port (follower-to-leader
   * forwarding endpoints register here).
   */
  addPeerRoute(method: string, path: string, handler: PeerRouteHandler): void {
    this.#peers.addRoute(method, path, handler);
  }

  /**
   * Calls a member endpoint on the current leader (etcd forwards lease
   * keep-alives and time-to-live queries this way). Rejects with etcd's
   * "no leader" when there is none, or the leader's own refusal.
   */
  callLeader(path: string, body: Uint8Array): Promise<Uint8Array> {
    const leader = this.#leader === 0n ? undefined : this.sm.membership.get(this.#leader);
    return this.#peers.callLeader(leader, path, body, this.#requestTimeoutMs());
  }

  /** Whether a live connection to peer `id` is up (for etcd's readiness checks). */
  isPeerActive(id: bigint): boolean {
    return this.#peers.isActive(id);
  }

  /** True when this member is the only voter and there are no learners. */
  #alone(): boolean {
    const cs = this.#confState;
    return cs.learners.length === 0 && cs.voters.length === 1 && cs.voters[0] === this.id;
  }
}
