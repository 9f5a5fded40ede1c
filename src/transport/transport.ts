/**
 * The peer transport of a multi-member cluster: Raft messages out to other
 * members and in from them, over cleartext HTTP/2 on the peer port. The
 * member calls `send(rd.messages)` after persisting each Ready and steps
 * whatever `onMessages` delivers.
 *
 * ```ts
 * const t = await Transport.start({ selfId, clusterId, listenUrls, log,
 *   onMessages: (msgs) => { for (const m of msgs) raw.step(m); },
 *   onSnapshot: (msg) => raw.step(msg),
 *   onUnreachable: (id) => raw.reportUnreachable(id),
 *   onSnapshotStatus: (id, ok) => raw.reportSnapshot(id, ok) });
 * t.setPeer(2n, ["http://10.0.0.2:2380"]);
 * t.send(rd.messages);
 * ```
 *
 * The wire format is described in protocol.ts and proto/cairn/raft.proto.
 *
 * @module
 */
import type { Dialer } from "../http/net.ts";
import { createDialer } from "../http/tls/dial.ts";
import type { ServerTls } from "../http/tls/settings.ts";
import type { Logger } from "../log.ts";
import type { PeerTrafficStats } from "../metrics/peer.ts";
import { type Message, MessageType, type SnapshotMeta } from "../raft/types.ts";
import { Peer, type PeerLimits, type SnapshotSource } from "./peer.ts";
import {
  type PeerAddress,
  type PeerRouteAnswer,
  type PeerRouteHandler,
  PeerServer,
  type PeerServerOptions,
} from "./peer_server.ts";

export type { PeerRouteAnswer, PeerRouteHandler, SnapshotSource };
import { formatId } from "./protocol.ts";

/** What the transport needs, and the callbacks through which it reports. */
export interface TransportOptions {
  selfId: bigint;
  clusterId: bigint;
  /** Peer listen URLs (`--listen-peer-urls`); port 0 picks a free port. */
  listenUrls: URL[];
  log: Logger;
  /**
   * Whether `id` is a member (voter or learner) of the current
   * configuration: streams and snapshots from anyone else are refused.
   */
  isMember(id: bigint): boolean;
  /** Whether `id` was removed from the cluster (it is told so with 410, as etcd tells it). */
  isRemoved?(id: bigint): boolean;
  /** A stream or snapshot from an id that is no member was refused (see PeerServerOptions). */
  onUnknownSender?(id: bigint): void;
  /**
   * A peer answered 410: this member was removed from the cluster (etcd's
   * "the member has been permanently removed from the cluster"). Called
   * once per peer that says so.
   */
  onRemoved?(by: bigint): void;
  /** Received messages, in the order their sender sent them (call raw.step for each). */
  onMessages(msgs: Message[]): void;
  /** A received Snap message whose snapshot includes its verified data. */
  onSnapshot(msg: Message): void;
  /** Messages to `peer` were dropped or its connection broke (raw.reportUnreachable). */
  onUnreachable(peer: bigint): void;
  /** A message of `type` to `peer` could not be queued (for etcd's send-failure metrics). */
  onSendFailed?(peer: bigint, type: MessageType): void;
  /** Outcome of sending a snapshot to `peer` (raw.reportSnapshot). */
  onSnapshotStatus(peer: bigint, ok: boolean): void;
  /** Overrides of the queue bounds and timings (tests use small ones). */
  limits?: Partial<PeerLimits>;
  /** Largest accepted incoming batch frame (see protocol.ts frameLimit). */
  maxFrameBytes?: number;
  /** Largest accepted incoming snapshot (see protocol.ts snapshotLimit). */
  maxSnapshotBytes?: number;
  /** The member's own peer endpoints (see PeerServerOptions.routes). */
  routes?: PeerServerOptions["routes"];
  /** Certificate and checks for https/unixs listen URLs. */
  tls?: ServerTls;
  /** Opens connections to peers (default: cleartext TCP or system-trusted TLS). */
  dial?: Dialer;
  /** Counts the traffic each way (etcd's etcd_network_peer_* and snapshot metrics). */
  stats?: PeerTrafficStats;
  /**
   * Opens the body of a snapshot to send when the Snap message carries
   * none: the member keeps its snapshots in files only, and streams them
   * from there, as etcd does. A rejection, or a failed read later, fails
   * that send (onSnapshotStatus false; Raft tries again).
   */
  openSnapshot?(meta: SnapshotMeta): Promise<SnapshotSource>;
}

/** How a member meets its peers: TLS for its peer listeners, and how it dials them. */
export interface PeerNetwork {
  /** Certificate and checks for https/unixs peer listen URLs (none: cleartext only). */
  tls?: ServerTls;
  /** Opens connections to peer URLs. */
  dial: Dialer;
}

/** Peers over cleartext (or system-trusted TLS when a peer URL is https). */
export const CLEARTEXT_PEERS: PeerNetwork = { dial: createDialer(undefined) };

/**
 * Default limits: roomy enough for bursts, small enough that a dead peer
 * costs little. The timings bound how long a healed partition goes
 * unnoticed: a connection silent for pingTimeoutMs is replaced by attempts
 * that each send one SYN (connectTimeoutMs is the kernel's first SYN
 * retransmission) at most maxBackoffMs apart, so a peer back on the network
 * is reached within about 1.25 s, not after retransmission intervals that
 * doubled all through the partition. PINGs are answered within a round trip
 * (HTTP/2 flow control keeps data queued in the socket small), so 2 s of
 * silence is no slow link.
 */
export const DEFAULT_LIMITS: Readonly<PeerLimits> = {
  maxQueuedMessages: 4096,
  maxQueuedBytes: 64 * 1024 * 1024,
  minBackoffMs: 50,
  maxBackoffMs: 250,
  snapshotIdleMs: 30_000,
  snapshotChunkBytes: 1024 * 1024,
  pingIntervalMs: 500,
  pingTimeoutMs: 2000,
  connectTimeoutMs: 1000,
};

/** Sends and receives Raft messages for one member. */
export class Transport {
  readonly #opts: TransportOptions;
  readonly #log: Logger;
  readonly #server: PeerServer;
  readonly #limits: PeerLimits;
  readonly #dial: Dialer;
  readonly #peers: Map<bigint, Peer>;
  #stopped = false;

  private constructor(opts: TransportOptions, server: PeerServer, peers: Map<bigint, Peer>) {
    this.#opts = opts;
    this.#peers = peers;
    this.#log = opts.log;
    this.#server = server;
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#dial = opts.dial ?? createDialer(undefined);
  }

  /** Listens on `listenUrls` (rejects if one cannot be bound); no peers yet. */
  static async start(opts: TransportOptions): Promise<Transport> {
    const peers = new Map<bigint, Peer>();
    const server = await PeerServer.start({
      selfId: opts.selfId,
      clusterId: opts.clusterId,
      listenUrls: opts.listenUrls,
      log: opts.log,
      isMember: opts.isMember,
      isRemoved: opts.isRemoved,
      onUnknownSender: opts.onUnknownSender,
      onMessages: (msgs, from) => {
        // The peer reaches us: our own connection to it may be stuck from a partition.
        peers.get(from)?.heard();
        opts.onMessages(msgs);
      },
      onSnapshot: opts.onSnapshot,
      maxFrameBytes: opts.maxFrameBytes,
      maxSnapshotBytes: opts.maxSnapshotBytes,
      routes: opts.routes,
      tls: opts.tls,
      stats: opts.stats,
    });
    return new Transport(opts, server, peers);
  }

  /** The bound peer addresses, one per listen URL. */
  get addresses(): PeerAddress[] {
    return this.#server.addresses;
  }

  /** Adds a peer (and starts connecting to it) or updates its URLs. Ignores self. */
  setPeer(id: bigint, urls: string[]): void {
    if (this.#stopped || id === this.#opts.selfId) return;
    const parsed: URL[] = [];
    for (const u of urls) {
      try {
        parsed.push(new URL(u));
      } catch {
        this.#log.warn("ignoring malformed peer URL", { "remote-peer-id": formatId(id), url: u });
      }
    }
    if (parsed.length === 0) {
      this.#log.warn("peer has no usable URL", { "remote-peer-id": formatId(id) });
      return;
    }
    const existing = this.#peers.get(id);
    if (existing) return existing.setUrls(parsed);
    this.#peers.set(
      id,
      new Peer(id, parsed, {
        selfId: this.#opts.selfId,
        clusterId: this.#opts.clusterId,
        log: this.#log,
        limits: this.#limits,
        onUnreachable: (p) => this.#safely(() => this.#opts.onUnreachable(p)),
        onSnapshotStatus: (p, ok) => this.#safely(() => this.#opts.onSnapshotStatus(p, ok)),
        onRemoved: (p) => this.#safely(() => this.#opts.onRemoved?.(p)),
        dial: this.#dial,
        stats: this.#opts.stats,
        openSnapshot: this.#opts.openSnapshot && ((meta) => this.#opts.openSnapshot!(meta)),
      }),
    );
    this.#log.info("added peer", { "remote-peer-id": formatId(id), "remote-peer-urls": urls });
  }

  /** Forgets a peer: closes its connection and drops what was queued for it. */
  removePeer(id: bigint): void {
    // Its incoming stream goes too: reconnecting, it is told it was removed.
    this.#server.dropSender(id);
    const peer = this.#peers.get(id);
    if (!peer) return;
    peer.close();
    this.#peers.delete(id);
    this.#log.info("removed peer", { "remote-peer-id": formatId(id) });
  }

  /**
   * Queues each message for its `to` peer; everything queued in this turn
   * leaves as one batch per peer. Never blocks and never throws: a message
   * that cannot be queued (peer down, queue full) is dropped, and
   * onUnreachable is called once per peer and call, after `send` returns.
   * Snap messages go over the snapshot endpoint concurrently and report
   * through onSnapshotStatus. Messages to unknown peers are dropped.
   */
  send(msgs: readonly Message[]): void {
    if (this.#stopped) return;
    let unreachable: Set<bigint> | undefined;
    for (const m of msgs) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined) {
        if (this.#log.enabled("debug")) {
          this.#log.debug("dropped message to unknown peer", {
            "remote-peer-id": formatId(m.to),
            "message-type": MessageType[m.type],
          });
        }
        continue;
      }
      try {
        if (m.type === MessageType.Snap) peer.sendSnapshot(m);
        else if (!peer.enqueue(m)) {
          (unreachable ??= new Set()).add(m.to);
          this.#opts.onSendFailed?.(m.to, m.type);
        }
      } catch (e) {
        // A malformed message must not stop the member's Ready loop.
        this.#log.error("dropped a message that cannot be sent", { error: String(e) });
        (unreachable ??= new Set()).add(m.to);
      }
    }
    if (unreachable !== undefined) {
      const ids = unreachable;
      queueMicrotask(() => {
        for (const id of ids) {
          this.#log.debug("dropped internal raft messages", { "remote-peer-id": formatId(id) });
          this.#safely(() => this.#opts.onUnreachable(id));
        }
      });
    }
  }

  /** True while a message stream to `id` is established. */
  isActive(id: bigint): boolean {
    return this.#peers.get(id)?.active ?? false;
  }

  /** Messages waiting in `id`'s queue (0 for an unknown peer): for diagnostics. */
  queued(id: bigint): number {
    return this.#peers.get(id)?.queued ?? 0;
  }

  /** Closes every connection and listener; pending messages are dropped. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const peer of this.#peers.values()) peer.close();
    this.#peers.clear();
    await this.#server.close();
  }

  /** Runs a member callback, logging instead of propagating what it throws. */
  #safely(fn: () => void): void {
    if (this.#stopped) return;
    try {
      fn();
    } catch (e) {
      this.#log.error("transport callback failed", { error: String(e) });
    }
  }
}
