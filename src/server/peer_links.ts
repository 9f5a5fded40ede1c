/**
 * A member's ties to the other members beyond Raft's own messages: which
 * peers the transport connects to (kept in step with the membership), the
 * member endpoints served on the peer port, and calls to the leader's
 * endpoints (etcd forwards lease keep-alives and time-to-live queries that
 * way).
 *
 * @module
 */
import type { MemberRecord } from "../gen/cairn/internal_pb.ts";
import { etcdErrorByMessage, EtcdErrors } from "../errors.ts";
import type { PeerReply } from "../transport/peer_client.ts";
import type { PeerRouteHandler } from "../transport/transport.ts";
import type { PeerCaller, PeerTransport } from "./env.ts";

/** Peer connections, endpoints and leader calls of one member. */
export class PeerLinks {
  /** The member's own peer-port endpoints, by "METHOD path". */
  readonly #routes = new Map<string, PeerRouteHandler>();
  readonly #client: PeerCaller;
  #known = new Set<bigint>();
  #transport: PeerTransport | undefined;

  /** `selfId` is never connected to; `client` makes the leader and endpoint calls. */
  constructor(private readonly selfId: bigint, client: PeerCaller) {
    this.#client = client;
  }

  /** The transport peers are set on (once it listens). */
  attach(transport: PeerTransport): void {
    this.#transport = transport;
  }

  /** Serves `handler` at `method path` on the peer port. */
  addRoute(method: string, path: string, handler: PeerRouteHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  /** The handler for a request on the peer port, if the member serves it. */
  route(path: string, method: string): PeerRouteHandler | undefined {
    return this.#routes.get(`${method} ${path}`);
  }

  /** Points the transport at every other member's peer URLs and forgets removed ones. */
  sync(records: Iterable<MemberRecord>): void {
    const t = this.#transport;
    if (!t) return;
    const wanted = new Set<bigint>();
    for (const r of records) {
      if (r.id === this.selfId) continue;
      wanted.add(r.id);
      t.setPeer(r.id, r.peerUrls);
    }
    for (const id of this.#known) if (!wanted.has(id)) t.removePeer(id);
    this.#known = wanted;
  }

  /** Whether a live connection to peer `id` is up (always for ourselves). */
  isActive(id: bigint): boolean {
    return id === this.selfId || (this.#transport?.isActive(id) ?? false);
  }

  /**
   * Calls a member endpoint on `leader`. Rejects with etcd's "no leader"
   * when there is none, "timed out due to leader failure" when it does not
   * answer, "leader changed" when it no longer leads, or its own refusal.
   */
  async callLeader(
    leader: MemberRecord | undefined,
    path: string,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    if (!leader || leader.peerUrls.length === 0) throw EtcdErrors.noLeader();
    let reply;
    try {
      reply = await this.#client.call(leader.peerUrls[0], path, body, timeoutMs);
    } catch {
      throw EtcdErrors.timeoutDueToLeaderFail();
    }
    if (reply.status !== 200) {
      // Leadership moved while the call was on its way.
      if (reply.error === EtcdErrors.notLeader().rawMessage) throw EtcdErrors.leaderChanged();
      throw etcdErrorByMessage(reply.error ?? "") ??
        new Error(`leader answered ${path} with ${reply.status}: ${reply.error ?? ""}`);
    }
    return reply.body;
  }

  /**
   * Calls `method path` on the peer at `url` over the member's peer
   * connections (the corruption checks ask peers for HashKV this way);
   * rejects on network failure or timeout, answers any status as is.
   */
  call(
    url: string,
    path: string,
    body: Uint8Array,
    timeoutMs: number,
    method: string,
    headers: [string, string][] = [],
  ): Promise<PeerReply> {
    return this.#client.call(url, path, body, timeoutMs, method, headers);
  }

  /** Stops the transport and closes leader-call connections. */
  async stop(): Promise<void> {
    await this.#transport?.stop();
    this.#client.close();
  }
}
