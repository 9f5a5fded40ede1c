/**
 * The metric families of one member, with etcd 3.5's names, types and
 * labels (server/etcdserver/metrics.go, mvcc, wal, rafthttp, etcdhttp),
 * so that etcd's Grafana dashboard and alerts (contrib/mixin) find every
 * series they query. Values that already live in the member (indexes,
 * sizes, counts) are read at scrape time through {@link MemberGauges};
 * events are counted where they happen, on pre-bound series.
 *
 * Two of etcd's families are gauges although their names end in `_total`
 * (`etcd_server_proposals_committed_total`, `..._applied_total`): etcd
 * sets them to Raft indexes, and so does cairn.
 *
 * @module
 */
import { ApplyMetrics } from "./apply.ts";
import { DiskMetrics } from "./disk.ts";
import { GrpcServerMetrics } from "./grpc.ts";
import { PeerTrafficMetrics } from "./peer.ts";
import { registerProcessMetrics } from "./process.ts";
import { WatchEventMetrics } from "./watch.ts";
import {
  Counter,
  type CounterChild,
  exponentialBuckets,
  Gauge,
  Histogram,
  type HistogramChild,
  Registry,
} from "./registry.ts";

/** Values read from the member at each scrape. */
export interface MemberGauges {
  commitIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  isLearner(): boolean;
  dbSizeBytes(): number;
  dbSizeInUseBytes(): number;
  quotaBytes(): number;
  keys(): number;
  currentRevision(): number;
  compactRevision(): number;
  watchers(): number;
  slowWatchers(): number;
  /** The auth store's revision. */
  authRevision(): number;
  /** Keys attached to lease `id` now (0 for no such lease). */
  leaseKeys(id: bigint): number;
  /** Versions the store retains (compaction counts those it removes). */
  storeVersions(): number;
}

/** What the metrics are made with. */
export interface ServerMetricsOptions {
  /** `--metrics extensive` adds grpc_server_handling_seconds. */
  extensive?: boolean;
  /** The etcd API version reported by etcd_server_version. */
  serverVersion: string;
  /** The cluster version reported by etcd_cluster_version (major.minor). */
  clusterVersion: string;
  /** Leave out the process families (several members in one test process). */
  withoutProcess?: boolean;
}

/** Every series of one member. */
export class ServerMetrics {
  readonly registry: Registry = new Registry();
  readonly grpc: GrpcServerMetrics;
  /** Peer traffic each way and snapshot transfers, fed by the transport. */
  readonly peers: PeerTrafficMetrics;
  /** Ranges, puts, deletes and txns on the store, leases granted, revoked and renewed. */
  readonly ops: ApplyMetrics;
  /** Events queued for and sent to watch clients. */
  readonly watchEvents: WatchEventMetrics;
  /** Snapshot files, Maintenance Hash/HashKV/Snapshot and defragmentation timings. */
  readonly disk: DiskMetrics;

  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  readonly proposalsFailed: Counter;
  readonly slowApplies: Counter;
  readonly heartbeatSendFailures: Counter;
  readonly readIndexesFailed: Counter;
  /** ReadIndex rounds sent again because no answer came in time. */
  readonly slowReadIndexes: Counter;
  /** Learners promoted by this member as leader. */
  readonly learnerPromoted: Counter;
  readonly #promoteFailures: Counter;
  readonly snapshotApplyInProgress: Gauge;
  readonly healthSuccess: Counter;
  readonly healthFailures: Counter;
  readonly healthCheck: Gauge;
  readonly healthChecks: Counter;
  readonly walFsync: HistogramChild;
  readonly walWriteBytes: Gauge;
  readonly #walWriteSeconds: HistogramChild;
  readonly backendCommit: HistogramChild;
  readonly leaseExpired: Counter;
  readonly peerRtt: Histogram;
  readonly peerSentFailures: Counter;
  readonly activePeers: Gauge;
  readonly #serverId: Gauge;
  readonly #scrapeOk: CounterChild;
  readonly #scrapeFailed: CounterChild;
  readonly #scrapesInFlight: Gauge;
  #gauges: MemberGauges | undefined;

  constructor(opts: ServerMetricsOptions) {
    const reg = this.registry;
    const g = () => this.#gauges;
    this.grpc = new GrpcServerMetrics(reg, opts.extensive ?? false);
    if (!opts.withoutProcess) registerProcessMetrics(reg);
    this.peers = new PeerTrafficMetrics(reg);
    this.ops = new ApplyMetrics(reg);
    this.watchEvents = new WatchEventMetrics(reg);
    // promhttp's own families, which etcd's handler exports: scrapes by
    // status code (counted once answered) and scrapes under way.
    const scrapes = new Counter(reg, {
      name: "promhttp_metric_handler_requests_total",
      help: "Scrapes of /metrics answered, by HTTP status code.",
      labelNames: ["code"],
    });
    this.#scrapeOk = scrapes.labels("200");
    this.#scrapeFailed = scrapes.labels("500");
    scrapes.labels("503");
    this.#scrapesInFlight = new Gauge(reg, {
      name: "promhttp_metric_handler_requests_in_flight",
      help: "Scrapes of /metrics being answered.",
    });

    this.hasLeader = new Gauge(reg, {
      name: "etcd_server_has_leader",
      help: "1 when a leader exists, 0 when none is known.",
    });
    this.isLeader = new Gauge(reg, {
      name: "etcd_server_is_leader",
      help: "1 when this member is the leader, 0 otherwise.",
    });
    new Gauge(reg, {
      name: "etcd_server_is_learner",
      help: "1 when this member is a learner, 0 otherwise.",
      read: () => g()?.isLearner() ? 1 : 0,
    });
    this.leaderChanges = new Counter(reg, {
      name: "etcd_server_leader_changes_seen_total",
      help: "Leader changes this member has seen.",
    });
    this.heartbeatSendFailures = new Counter(reg, {
      name: "etcd_server_heartbeat_send_failures_total",
      help: "Leader heartbeats that could not be sent (peer down or its queue full).",
    });
    this.slowApplies = new Counter(reg, {
      name: "etcd_server_slow_apply_total",
      help: "Applies that took longer than --experimental-warning-apply-duration.",
    });
    this.snapshotApplyInProgress = new Gauge(reg, {
      name: "etcd_server_snapshot_apply_in_progress_total",
      help: "1 while a snapshot received from the leader is being installed.",
    });
    new Gauge(reg, {
      name: "etcd_server_proposals_committed_total",
      help: "Index of the last committed Raft entry.",
      read: () => g()?.commitIndex() ?? 0,
    });
    new Gauge(reg, {
      name: "etcd_server_proposals_applied_total",
      help: "Index of the last applied Raft entry.",
      read: () => g()?.appliedIndex() ?? 0,
    });
    new Gauge(reg, {
      name: "etcd_server_proposals_pending",
      help: "Proposals of this member waiting to be committed and applied.",
      read: () => g()?.pendingProposals() ?? 0,
    });
    this.proposalsFailed = new Counter(reg, {
      name: "etcd_server_proposals_failed_total",
      help: "Proposals that failed (dropped, timed out, or cut short by a stop).",
    });
    this.readIndexesFailed = new Counter(reg, {
      name: "etcd_server_read_indexes_failed_total",
      help: "Linearizable reads whose read index round failed or timed out.",
    });
    this.slowReadIndexes = new Counter(reg, {
      name: "etcd_server_slow_read_indexes_total",
      help: "ReadIndex rounds left unanswered long enough to be sent again.",
    });
    this.learnerPromoted = new Counter(reg, {
      name: "etcd_server_learner_promote_successes",
      help: "Learners promoted while this member is leader.",
    });
    this.#promoteFailures = new Counter(reg, {
      name: "etcd_server_learner_promote_failures",
      help: "Learner promotions refused (likely a learner not ready), by reason.",
      labelNames: ["Reason"],
    });
    new Gauge(reg, {
      name: "etcd_server_quota_backend_bytes",
      help: "The backend quota in bytes (--quota-backend-bytes, 2 GiB by default).",
      read: () => g()?.quotaBytes() ?? 0,
    });
    new Gauge(reg, {
      name: "etcd_server_version",
      help: "1 for the etcd API version this member serves (server_version label).",
      labelNames: ["server_version"],
    }).labels(opts.serverVersion).set(1);
    new Gauge(reg, {
      name: "etcd_cluster_version",
      help: "1 for the cluster version (cluster_version label).",
      labelNames: ["cluster_version"],
    }).labels(opts.clusterVersion).set(1);
    this.#serverId = new Gauge(reg, {
      name: "etcd_server_id",
      help: "1 for this member's id in hexadecimal (server_id label).",
      labelNames: ["server_id"],
    });
    this.healthSuccess = new Counter(reg, {
      name: "etcd_server_health_success",
      help: "Successful /health checks.",
    });
    this.healthFailures = new Counter(reg, {
      name: "etcd_server_health_failures",
      help: "Failed /health checks.",
    });
    this.healthCheck = new Gauge(reg, {
      name: "etcd_server_healthcheck",
      help: "Result of the last /livez or /readyz check of each name: 1 ok, 0 failed.",
      labelNames: ["type", "name"],
    });
    this.healthChecks = new Counter(reg, {
      name: "etcd_server_healthchecks_total",
      help: "/livez and /readyz checks run, by name and outcome.",
      labelNames: ["type", "name", "status"],
    });
    this.leaseExpired = new Counter(reg, {
      name: "etcd_debugging_server_lease_expired_total",
      help: "Leases revoked because they expired.",
    });

    this.walFsync = new Histogram(reg, {
      name: "etcd_disk_wal_fsync_duration_seconds",
      help: "Duration of the WAL's fdatasync calls, in seconds.",
      buckets: exponentialBuckets(0.001, 2, 14),
    }).series;
    this.#walWriteSeconds = new Histogram(reg, {
      name: "etcd_disk_wal_write_duration_seconds",
      help: "Duration of the WAL's writes (before their fsync), in seconds.",
      buckets: exponentialBuckets(0.001, 2, 14),
    }).series;
    this.walWriteBytes = new Gauge(reg, {
      name: "etcd_disk_wal_write_bytes_total",
      help: "Bytes written to the WAL.",
    });
    // cairn's state machine has no bbolt: what it commits to disk besides
    // the WAL is the state snapshot, so that is what this one measures.
    this.backendCommit = new Histogram(reg, {
      name: "etcd_disk_backend_commit_duration_seconds",
      help: "Duration of writing the state machine to disk (a snapshot file), in seconds.",
      buckets: exponentialBuckets(0.001, 2, 14),
    }).series;
    this.disk = new DiskMetrics(reg, this.backendCommit);

    const size = (name: string, help: string, read: () => number) =>
      new Gauge(reg, { name, help, read });
    size(
      "etcd_mvcc_db_total_size_in_bytes",
      "Bytes the key-value state takes (what the quota is checked against).",
      () => g()?.dbSizeBytes() ?? 0,
    );
    size(
      "etcd_mvcc_db_total_size_in_use_in_bytes",
      "Bytes of the key-value state in use.",
      () => g()?.dbSizeInUseBytes() ?? 0,
    );
    size(
      "etcd_debugging_mvcc_db_total_size_in_bytes",
      "Bytes the key-value state takes (etcd's older name).",
      () => g()?.dbSizeBytes() ?? 0,
    );
    size("etcd_debugging_mvcc_keys_total", "Live keys.", () => g()?.keys() ?? 0);
    size(
      "etcd_debugging_mvcc_current_revision",
      "The store's current revision.",
      () => g()?.currentRevision() ?? 0,
    );
    size(
      "etcd_debugging_mvcc_compact_revision",
      "The revision of the last compaction (-1 before any).",
      () => g()?.compactRevision() ?? -1,
    );
    size("etcd_debugging_mvcc_watcher_total", "Watchers.", () => g()?.watchers() ?? 0);
    size(
      "etcd_debugging_mvcc_slow_watcher_total",
      "Watchers still catching up (unsynced).",
      () => g()?.slowWatchers() ?? 0,
    );
    // One mvcc watch stream per Watch RPC in etcd: the RPCs started and not
    // yet ended (on every protocol, as grpc_server_* counts them).
    const watchRpc = this.grpc.method("bidi_stream", "etcdserverpb.Watch", "Watch");
    size(
      "etcd_debugging_mvcc_watch_stream_total",
      "Watch streams open.",
      () => watchRpc.started.value - watchRpc.handled.reduce((n, c) => n + c.value, 0),
    );
    size(
      "etcd_debugging_auth_revision",
      "The auth store's revision.",
      () => g()?.authRevision() ?? 0,
    );

    this.peerRtt = new Histogram(reg, {
      name: "etcd_network_peer_round_trip_time_seconds",
      help: "Round trip time of probes to each peer, in seconds.",
      labelNames: ["To"],
      buckets: exponentialBuckets(0.0001, 2, 16),
    });
    this.peerSentFailures = new Counter(reg, {
      name: "etcd_network_peer_sent_failures_total",
      help: "Raft messages to each peer that could not be sent.",
      labelNames: ["To"],
    });
    this.activePeers = new Gauge(reg, {
      name: "etcd_network_active_peers",
      help: "1 while the message stream to a peer is up.",
      labelNames: ["Local", "Remote"],
    });
  }

  /**
   * Counts a refused learner promotion under `reason` (etcd labels it with
   * its internal error's text, e.g. "membership: ID not found") and
   * returns `err`, for `throw metrics.promoteFailed(err, reason)`.
   */
  promoteFailed<E>(err: E, reason: string): E {
    this.#promoteFailures.labels(reason).inc();
    return err;
  }

  /** The WAL wrote `bytes` in `seconds`. */
  walWritten(bytes: number, seconds: number): void {
    this.walWriteBytes.inc(bytes);
    this.#walWriteSeconds.observe(seconds);
  }

  /** Connects the scrape-time gauges to a member and labels its id. */
  attach(memberId: bigint, gauges: MemberGauges): void {
    this.#gauges = gauges;
    this.#serverId.labels(memberId.toString(16)).set(1);
    this.peers.setLocal(memberId);
    this.ops.leaseKeys = (id) => gauges.leaseKeys(id);
    this.ops.storeVersions = () => gauges.storeVersions();
  }

  /** The Prometheus text of every family (one scrape, counted as promhttp counts it). */
  async render(): Promise<string> {
    this.#scrapesInFlight.inc();
    try {
      const text = await this.registry.render();
      this.#scrapeOk.inc();
      return text;
    } catch (err) {
      this.#scrapeFailed.inc();
      throw err;
    } finally {
      this.#scrapesInFlight.dec();
    }
  }
}
