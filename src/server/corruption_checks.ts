/**
 * A member's corruption checks, wired to its state and peers: the HashKV
 * endpoint peers ask, `--experimental-initial-corrupt-check` before
 * serving, and `--experimental-corrupt-check-time`'s periodic comparison
 * by the leader, which raises the CORRUPT alarm through the log. The
 * hashing and comparing live in corrupt_check.ts.
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
import {
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
  readonly cfg: Pick<Config, "corruptCheckTimeMs" | "electionTimeoutMs">;
  /** The state machine (a snapshot install replaces its store, so read it each time). */
  readonly sm: Pick<StateMachine, "store" | "membership">;
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
      hashKVRoute(() => host.sm.store, host.clusterId, host.log),
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
      raiseCorrupt: (memberID) => {
        host.propose({
          case: "alarm",
          value: create(AlarmRequestSchema, {
            action: AlarmRequest_AlarmAction.ACTIVATE,
            memberID,
            alarm: AlarmType.CORRUPT,
          }),
        }).catch((err) => host.log.warn("failed to raise CORRUPT alarm", { error: String(err) }));
      },
    });
    host.every(() => monitor.tick(), ms);
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
