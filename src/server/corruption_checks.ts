/**
 * A member's corruption checks, wired to its state and peers: the HashKV
 * endpoint peers ask, `--experimental-initial-corrupt-check` before
 * serving, and the leader's periodic comparisons, which raise the CORRUPT
 * alarm through the log: `--experimental-corrupt-check-time`'s of the
 * current HashKV, `--experimental-compact-hash-check-enabled`'s of the
 * hashes recorded at compactions. The hashing and comparing live in
 * corrupt_check.ts and compaction_hash.ts.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PeerRouteHandler } from "../transport/transport.ts";
import type { StateMachine } from "./apply.ts";
import type { CompactHashes } from "./compaction_hash.ts";
import {
  CompactHashMonitor,
  CorruptionMonitor,
  hashKVRoute,
  initialCorruptCheck,
  PEER_HASHKV_PATH,
  type PeerHashOptions,
} from "./corrupt_check.ts";
import type { PeerLinks } from "./peer_links.ts";
import { requestTimeoutMs } from "./proposals.ts";

/** What the corruption checks need of their member. */
export interface CorruptionCheckHost {
  readonly selfId: bigint;
  readonly clusterId: bigint;
  readonly log: Logger;
  readonly cfg: Pick<
    Config,
    "corruptCheckTimeMs" | "compactHashCheckTimeMs" | "electionTimeoutMs"
  >;
  /** The state machine (a snapshot install replaces its store, so read it each time). */
  readonly sm: Pick<StateMachine, "store" | "membership">;
  /** The hashes recorded at this member's compactions. */
  readonly compactHashes: Pick<CompactHashes, "list" | "byRevision">;
  /** How peers' HashKV is asked for. */
  readonly peers: Pick<PeerLinks, "call">;
  /** Whether this member leads now. */
  isLeader(): boolean;
  /** Resolves when local state is linearizable (the leader's hash must be current). */
  readBarrier(): Promise<void>;
  /** Proposes the CORRUPT alarm through the log. */
  propose(request: InternalRequest["request"]): Promise<unknown>;
  /** Serves a route on the peer port. */
  addPeerRoute(method: string, path: string, handler: PeerRouteHandler): void;
  /** Runs `fn` every `ms` until the member stops. */
  every(fn: () => void, ms: number): void;
}

/** The corruption checks of one member. */
export class CorruptionChecks {
  readonly #host: CorruptionCheckHost;

  /** @param host the member whose store is checked. */
  constructor(host: CorruptionCheckHost) {
    this.#host = host;
  }

  /** Answers peers' HashKV requests on the peer port. */
  serveHashKV(): void {
    const host = this.#host;
    host.addPeerRoute(
      "GET",
      PEER_HASHKV_PATH,
      hashKVRoute(
        () => host.sm.store,
        host.clusterId,
        host.log,
        (rev) => host.compactHashes.byRevision(rev),
      ),
    );
  }

  /**
   * `--experimental-initial-corrupt-check`: compares HashKV with the
   * peers; rejects with etcd's error on a mismatch (the caller stops
   * before Raft or any listener runs).
   */
  async initialCheck(): Promise<void> {
    const host = this.#host;
    try {
      await initialCorruptCheck(this.#hashOptions(), host.sm.store, host.sm.membership.records());
    } catch (err) {
      host.log.error("checkInitialHashKV failed", { error: String((err as Error)?.message) });
      throw err;
    }
  }

  /** `--experimental-corrupt-check-time`: the leader compares hashes with its followers. */
  startMonitor(): void {
    const host = this.#host;
    const ms = host.cfg.corruptCheckTimeMs;
    host.log.info("enabled corruption checking", {
      "local-member-id": host.selfId,
      interval: `${ms / 1000}s`,
    });
    const monitor = new CorruptionMonitor({
      ...this.#hashOptions(),
      store: () => host.sm.store,
      peers: () => host.sm.membership.records(),
      isLeader: () => host.isLeader(),
      readBarrier: () => host.readBarrier(),
      raiseCorrupt: (memberID) => this.#raiseCorrupt(memberID),
    });
    host.every(() => monitor.tick(), ms);
  }

  /**
   * `--experimental-compact-hash-check-enabled`: every
   * `--experimental-compact-hash-check-time` the leader compares the
   * hashes recorded at recent compactions with its followers'.
   */
  startCompactHashMonitor(): void {
    const host = this.#host;
    const monitor = new CompactHashMonitor({
      ...this.#hashOptions(),
      hashes: () => host.compactHashes.list(),
      peers: () => host.sm.membership.records(),
      isLeader: () => host.isLeader(),
      raiseCorrupt: (memberID) => this.#raiseCorrupt(memberID),
    });
    host.every(() => monitor.tick(), host.cfg.compactHashCheckTimeMs);
  }

  /** Proposes the CORRUPT alarm for `memberID` through the log (etcd's triggerCorruptAlarm). */
  #raiseCorrupt(memberID: bigint): void {
    this.#host.propose({
      case: "alarm",
      value: create(AlarmRequestSchema, {
        action: AlarmRequest_AlarmAction.ACTIVATE,
        memberID,
        alarm: AlarmType.CORRUPT,
      }),
    }).catch((err) => this.#host.log.warn("failed to raise CORRUPT alarm", { error: String(err) }));
  }

  /** How the checks reach the peers' HashKV. */
  #hashOptions(): PeerHashOptions {
    const host = this.#host;
    return {
      selfId: host.selfId,
      clusterId: host.clusterId,
      log: host.log,
      call: (url, path, body, timeoutMs, method, headers) =>
        host.peers.call(url, path, body, timeoutMs, method, headers),
      timeoutMs: requestTimeoutMs(host.cfg),
    };
  }
}
