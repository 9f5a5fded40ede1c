/**
 * Leadership transfers: etcd's TransferLeadership when a leader stops (the
 * most caught-up connected follower takes over, so no member waits out an
 * election timeout) and Maintenance.MoveLeader's transfer to a chosen
 * member. While a hand-over runs, Raft drops proposals; the ones peers
 * forward to us meanwhile are held here and proposed to the new leader
 * after it.
 *
 * @module
 */
import { type Clock, sleep } from "../clock.ts";
import type { Config } from "../config.ts";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { RawNode } from "../raft/raw_node.ts";
import { type Message, StateRole } from "../raft/types.ts";
import { idToHex as hex } from "./ids.ts";
import { type Proposals, requestTimeoutMs } from "./proposals.ts";

/** What a leadership transfer needs of its member. */
export interface HandoverHost {
  readonly selfId: bigint;
  readonly log: Logger;
  readonly clock: Clock;
  /** Heartbeat and election timing: how often to look, and how long to wait. */
  readonly cfg: Pick<Config, "heartbeatIntervalMs" | "electionTimeoutMs">;
  /** Raft's transfer input, and the leader's view of its followers' progress. */
  readonly raft: Pick<RawNode, "transferLeader" | "status">;
  /** Where held proposals go once the new leader is known. */
  readonly proposals: Pick<Proposals, "proposeForwarded" | "proposeWaiting">;
  /** This member's Raft role, as of the last Ready. */
  role(): StateRole;
  /** The known leader (0n: none), as of the last Ready. */
  leader(): bigint;
  /** The voters of the applied configuration. */
  voters(): readonly bigint[];
  /** Whether a live connection to peer `id` is up. */
  isPeerActive(id: bigint): boolean;
  /** Whether the member stopped: a hand-over waits no longer. */
  stopped(): boolean;
  /** Schedules a Ready round. */
  kick(): void;
}

/** Leadership transfers of one member. */
export class LeadershipHandover {
  readonly #host: HandoverHost;
  #active = false;
  /** Proposals forwarded to us during the hand-over, passed on to the new leader after it. */
  #held: Message[] = [];

  /** @param host the member whose leadership is handed over. */
  constructor(host: HandoverHost) {
    this.#host = host;
  }

  /** Whether a hand-over on stop is under way (Raft drops proposals meanwhile). */
  get active(): boolean {
    return this.#active;
  }

  /** Keeps a peer's proposal that arrived during the hand-over, for the new leader. */
  hold(m: Message): void {
    this.#held.push(m);
  }

  /**
   * etcd's TransferLeadership on stop: a leader with other voters hands
   * leadership to the most caught-up follower it is connected to and
   * waits (up to the request timeout) until that one leads. Proposals made
   * here or forwarded to us meanwhile, which Raft would drop, are proposed
   * to the new leader once it is known. Resolves either way; a failed
   * hand-over is logged.
   */
  async onStop(): Promise<void> {
    const host = this.#host;
    const local = { "local-member-id": hex(host.selfId) };
    if (host.role() !== StateRole.Leader) {
      host.log.info("skipped leadership transfer; local server is not leader", {
        ...local,
        "current-leader-member-id": hex(host.leader()),
      });
      return;
    }
    const target = this.#target();
    if (target === undefined) {
      const alone = host.voters().length <= 1;
      host.log.info(
        alone
          ? "skipped leadership transfer for single voting member cluster"
          : "skipped leadership transfer; no follower is connected",
        { ...local, "current-leader-member-id": hex(host.selfId) },
      );
      return;
    }
    const started = host.clock.monotonic();
    host.log.info("leadership transfer starting", {
      ...local,
      "current-leader-member-id": hex(host.selfId),
      "transferee-member-id": hex(target),
    });
    this.#active = true;
    try {
      host.raft.transferLeader(target);
      host.kick();
      const deadline = host.clock.monotonic() + requestTimeoutMs(host.cfg);
      while (host.leader() !== target && !host.stopped() && host.clock.monotonic() < deadline) {
        await sleep(host.clock, Math.min(10, host.cfg.heartbeatIntervalMs));
      }
    } finally {
      this.#active = false;
      const held = this.#held;
      this.#held = [];
      for (const m of held) {
        for (const e of m.entries) host.proposals.proposeForwarded(e.data);
      }
      host.proposals.proposeWaiting();
    }
    if (host.leader() !== target) {
      host.log.warn("leadership transfer failed", {
        ...local,
        "transferee-member-id": hex(target),
        // etcd's ErrTimeoutLeaderTransfer.
        error: "etcdserver: request timed out, leader transfer took too long",
      });
      return;
    }
    host.log.info("leadership transfer finished", {
      ...local,
      "old-leader-member-id": hex(host.selfId),
      "new-leader-member-id": hex(target),
      took: `${Math.round(host.clock.monotonic() - started)}ms`,
    });
  }

  /**
   * Hands leadership to `target` (Maintenance.MoveLeader) and resolves once
   * it leads; rejects with etcd's timeout error after an election timeout's
   * worth of heartbeats times five.
   */
  async moveTo(target: bigint): Promise<void> {
    const host = this.#host;
    host.raft.transferLeader(target);
    host.kick();
    const deadline = host.clock.monotonic() + 5 * host.cfg.electionTimeoutMs;
    while (host.leader() !== target) {
      if (host.clock.monotonic() > deadline) throw EtcdErrors.timeout();
      await sleep(host.clock, host.cfg.heartbeatIntervalMs);
    }
  }

  /** The voter to hand leadership to: connected, and the furthest along the log. */
  #target(): bigint | undefined {
    const host = this.#host;
    const progress = host.raft.status().progress;
    let best: bigint | undefined;
    let bestMatch = -1;
    for (const id of host.voters()) {
      if (id === host.selfId || !host.isPeerActive(id)) continue;
      const pr = progress?.get(id);
      if (pr === undefined || !pr.recentActive) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }
}
