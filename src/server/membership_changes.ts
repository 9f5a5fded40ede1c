/**
 * A member's side of cluster membership: applying a committed membership
 * change to the state machine and the peer links, publishing this
 * member's own name and client URLs through the log, admitting senders
 * our peers know but we do not yet (vouching), and serving the member
 * list on the peer port for joining members.
 *
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import { ConfChangeContextSchema, type InternalRequest } from "../gen/cairn/internal_pb.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { type ConfChange, ConfChangeType, EMPTY_BYTES } from "../raft/types.ts";
import type { PeerTransport } from "./env.ts";
import { applyMembershipChange, type ApplyResult, type StateMachine } from "./apply.ts";
import { urlString } from "./ids.ts";
import { publishMembership } from "./join.ts";
import type { PeerLinks } from "./peer_links.ts";
import { Vouching } from "./vouch.ts";
import type { Waiters } from "./waiters.ts";

/** How long one vouching lookup may take per peer. */
const VOUCH_TIMEOUT_MS = 1000;

/** What membership handling needs of its member. */
export interface MembershipHost {
  readonly selfId: bigint;
  readonly clusterId: bigint;
  readonly log: Logger;
  readonly clock: Clock;
  /** `--name` and `--advertise-client-urls`, published through the log. */
  readonly cfg: Pick<Config, "name" | "advertiseClientUrls">;
  /** The state machine (a snapshot install replaces its membership, so read it each time). */
  readonly sm: StateMachine;
  /** Peer connections: their URLs follow the membership. */
  readonly peers: Pick<PeerLinks, "call" | "sync" | "addRoute">;
  /** The waiters of our proposals: a change we proposed settles its own. */
  readonly waiters: Pick<Waiters<ApplyResult>, "take">;
  /** The Raft transport, once started (an admitted sender must be reachable by it). */
  transport(): PeerTransport | undefined;
  /** Proposes this member's attributes through the log. */
  propose(request: InternalRequest["request"]): Promise<unknown>;
  /** Told after every applied membership change. */
  changed(): void;
}

/** Membership handling of one member. */
export class MembershipChanges {
  readonly #host: MembershipHost;
  /** Members this one does not know yet but its peers list (it fell behind a membership change). */
  readonly #vouching: Vouching;

  /** @param host the member whose membership this handles. */
  constructor(host: MembershipHost) {
    this.#host = host;
    this.#vouching = new Vouching({
      selfId: host.selfId,
      clusterId: host.clusterId,
      log: host.log,
      peers: () => host.sm.membership.records(),
      // Raft's answers must reach it too, before the membership change is applied here.
      onAdmit: (id, urls) => host.transport()?.setPeer(id, urls),
      get: (url, path, timeoutMs) => host.peers.call(url, path, EMPTY_BYTES, timeoutMs, "GET"),
      timeoutMs: VOUCH_TIMEOUT_MS,
      now: () => host.clock.monotonic(),
    });
  }

  /** Whether `peer` may be heard on the peer port: a member, or vouched for by one. */
  admits(peer: bigint): boolean {
    return this.#host.sm.membership.get(peer) !== undefined || this.#vouching.has(peer);
  }

  /** A sender we do not know: asks our peers whether it is one of theirs. */
  askAbout(peer: bigint): void {
    this.#vouching.ask(peer);
  }

  /**
   * Applies a committed membership change (Raft has applied it to its
   * configuration already); true when it removed this member.
   */
  apply(cc: ConfChange): boolean {
    const host = this.#host;
    const ctx = cc.context.length > 0 ? fromBinary(ConfChangeContextSchema, cc.context) : undefined;
    applyMembershipChange(host.sm, cc, ctx?.member);
    if (cc.type === ConfChangeType.RemoveNode) this.#vouching.forget(cc.nodeId);
    this.syncPeers();
    host.changed();
    if (ctx && ctx.origin === host.selfId) {
      host.waiters.take(Number(ctx.requestId))?.resolve({
        response: undefined,
        revision: host.sm.store.currentRevision,
      });
    }
    if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === host.selfId) {
      host.log.warn("this member has been permanently removed from the cluster; shutting down");
      return true;
    }
    return false;
  }

  /** Points the peer links at every other member's peer URLs. */
  syncPeers(): void {
    this.#host.peers.sync(this.#host.sm.membership.records());
  }

  /** Serves the member list on the peer port (joining members and vouching lookups read it). */
  serveMembers(): void {
    const host = this.#host;
    host.peers.addRoute("GET", "/members", () => ({
      status: 200,
      contentType: "application/json",
      body: new TextEncoder().encode(
        JSON.stringify(publishMembership(host.clusterId, host.sm.membership.records())),
      ),
    }));
  }

  /** Publishes this member's name and client URLs through the log when they differ. */
  publishSelf(): void {
    const host = this.#host;
    const self = host.sm.membership.get(host.selfId);
    const clientUrls = host.cfg.advertiseClientUrls.map(urlString);
    if (self && self.name === host.cfg.name && sameList(self.clientUrls, clientUrls)) return;
    host.propose({
      case: "memberAttributes",
      value: {
        $typeName: "cairn.v1.MemberAttributes",
        id: host.selfId,
        name: host.cfg.name,
        clientUrls,
      },
    }).catch((err) => host.log.warn("failed to publish member attributes", { error: String(err) }));
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
