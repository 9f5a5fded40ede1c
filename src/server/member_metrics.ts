/**
 * Wires a member into etcd's metric families: the scrape-time gauges read
 * from its state, the WAL's write and sync timings, the active-peer gauge,
 * the peer round-trip prober, and the few counters the Raft loop bumps
 * (leader changes, failed sends).
 *
 * @module
 */
import type { Config } from "../config.ts";
import { formatDurationMs } from "../config/values.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics/etcd.ts";
import { EMPTY_BYTES, MessageType } from "../raft/types.ts";
import type { Wal } from "../storage/wal.ts";
import type { PeerRouteHandler } from "../transport/transport.ts";
import type { WatchHub } from "../watch/hub.ts";
import type { StateMachine } from "./apply.ts";
import { idToHex as hex } from "./ids.ts";
import { PROBE_INTERVAL_MS, probePeers, PROBING_PATH, probingRoute } from "./peer_prober.ts";
import type { PeerLinks } from "./peer_links.ts";
import { quotaBytes } from "./quota.ts";

/** What the metrics read from their member. */
export interface MetricsHost {
  readonly selfId: bigint;
  readonly cfg: Pick<Config, "quotaBackendBytes">;
  /** The state machine (its parts are replaced by snapshot installs, so read them each time). */
  readonly sm: StateMachine;
  readonly watchHub: Pick<WatchHub, "counts">;
  /** Timed through its write and sync hooks. */
  readonly wal: Pick<Wal, "onSync" | "onWrite">;
  /** Told about each slow WAL fdatasync, as etcd logs it. */
  readonly log: Pick<Logger, "warn">;
  /** The peer connections: the prober's GETs, and whether each peer is reachable. */
  readonly peers: Pick<PeerLinks, "call" | "isActive">;
  commitIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  isLearner(): boolean;
  /** Serves a route on the peer port (the probe's target). */
  addPeerRoute(method: string, path: string, handler: PeerRouteHandler): void;
  /** Runs `fn` every `ms` until the member stops. */
  every(fn: () => void, ms: number): void;
}

/** Points the scrape-time gauges at the member, times the WAL's syncs and starts the prober. */
export function attachMemberMetrics(m: ServerMetrics, host: MetricsHost): void {
  const sm = host.sm;
  m.attach(host.selfId, {
    commitIndex: () => host.commitIndex(),
    appliedIndex: () => host.appliedIndex(),
    pendingProposals: () => host.pendingProposals(),
    isLearner: () => host.isLearner(),
    dbSizeBytes: () => sm.store.reservedSize(),
    dbSizeInUseBytes: () => sm.store.approximateSize(),
    quotaBytes: () => quotaBytes(host.cfg),
    keys: () => sm.store.liveKeyCount(),
    currentRevision: () => sm.store.currentRevision,
    compactRevision: () => sm.store.compactRevision,
    watchers: () => host.watchHub.counts.synced + host.watchHub.counts.unsynced,
    slowWatchers: () => host.watchHub.counts.unsynced,
    authRevision: () => sm.auth.revision,
    leaseKeys: (id) => sm.lessor.lookup(id)?.keys.size ?? 0,
    storeVersions: () => sm.store.versionCount,
  });
  timeWal(m, host.wal, host.log);
  m.registry.beforeCollect(() => {
    m.activePeers.reset();
    for (const r of sm.membership.records()) {
      if (r.id === host.selfId) continue;
      m.activePeers.labels(hex(host.selfId), hex(r.id)).set(host.peers.isActive(r.id) ? 1 : 0);
    }
  });
  host.addPeerRoute("GET", PROBING_PATH, probingRoute);
  const probe = () =>
    probePeers({
      selfId: host.selfId,
      peers: () => sm.membership.records(),
      get: (url, path, timeoutMs) => host.peers.call(url, path, EMPTY_BYTES, timeoutMs, "GET"),
      rtt: (id) => m.peerRtt.labels(hex(id)),
    });
  host.every(probe, PROBE_INTERVAL_MS);
}

/**
 * Times the WAL's writes and fdatasyncs into etcd's disk metrics, and logs
 * etcd's "slow fdatasync" warning for a sync over {@link WARN_SYNC_SECONDS}.
 */
export function timeWal(
  m: ServerMetrics,
  wal: Pick<Wal, "onSync" | "onWrite">,
  log: Pick<Logger, "warn">,
): void {
  wal.onSync = (seconds) => {
    m.walFsync.observe(seconds);
    const warning = slowSyncWarning(seconds);
    if (warning !== undefined) log.warn("slow fdatasync", warning);
  };
  wal.onWrite = (bytes, seconds) => m.walWritten(bytes, seconds);
}

/** A WAL fdatasync longer than this is logged (etcd's warnSyncDuration). */
export const WARN_SYNC_SECONDS = 1;

/**
 * The fields of etcd's "slow fdatasync" warning for a WAL fdatasync that
 * took `seconds`, or undefined when it was not slow: the first sign of a
 * disk too slow for the member, before heartbeats are missed.
 */
export function slowSyncWarning(
  seconds: number,
): { took: string; "expected-duration": string } | undefined {
  if (!(seconds > WARN_SYNC_SECONDS)) return undefined;
  return {
    took: formatDurationMs(Math.round(seconds * 1000)),
    "expected-duration": formatDurationMs(WARN_SYNC_SECONDS * 1000),
  };
}

/** etcd's leader gauges; a change to a known leader counts as a leader change. */
export function recordLeader(
  m: ServerMetrics,
  changed: boolean,
  leader: bigint,
  leading: boolean,
): void {
  if (changed && leader !== 0n) m.leaderChanges.inc();
  m.hasLeader.set(leader === 0n ? 0 : 1);
  m.isLeader.set(leading ? 1 : 0);
}

/** A Raft message could not be queued for `peer` (etcd counts both of these). */
export function recordSendFailure(m: ServerMetrics, peer: bigint, type: MessageType): void {
  m.peerSentFailures.labels(hex(peer)).inc();
  if (type === MessageType.Heartbeat) m.heartbeatSendFailures.inc();
}
