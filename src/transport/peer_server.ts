/**
 * The receiving half of the peer transport: an HTTP/2 server (cleartext,
 * or TLS with the peer certificate flags) on each `--listen-peer-urls` address, serving the two endpoints described in
 * protocol.ts. Received batches go to `onMessages` in the order the sender
 * wrote them; a snapshot is checked against its size and CRC-32C and
 * handed whole to `onSnapshot`.
 *
 * It runs cairn's own HTTP/2 server (src/http/h2) on the listeners of
 * src/http/listen.ts, like the client port; received stream data is handed back to the flow-control
 * window as soon as it is handled.
 *
 * Who is heard: a message stream or snapshot is taken only from a member of
 * the current configuration (voter or learner) of this cluster, addressed
 * to this member, and, on a TLS listener with client certificates on, over
 * a connection that presented a verified one. Every message must name that
 * sender (validate.ts). What it may cost: one message stream and one
 * snapshot per sender at a time, a frame of at most `maxFrameBytes` and a
 * snapshot of at most `maxSnapshotBytes`, buffers that grow only as bytes
 * arrive. Anything else is refused, logged, and costs the member nothing.
 *
 * @module
 */
import { crc32cAppend } from "../wire/crc32c.ts";
import { ConnectionCap } from "../http/h2/conn_cap.ts";
import { H2Connection } from "../http/h2/connection.ts";
import { ErrorCode, LimitError } from "../http/h2/frames.ts";
import { encodeHeaders } from "../http/h2/hpack.ts";
import type { H2Stream } from "../http/h2/stream.ts";
import { listenStreams, type StreamListener } from "../http/listen.ts";
import { isTlsUrl, type StreamConn } from "../http/net.ts";
import type { ServerTls } from "../http/tls/settings.ts";
import type { Logger } from "../log.ts";
import type { PeerTrafficStats } from "../metrics/peer.ts";
import type { Message } from "../raft/types.ts";
import { decodeBatch, decodeMessage } from "./codec.ts";
import {
  ERR_CLUSTER_MISMATCH,
  ERR_MEMBER_MISMATCH,
  ERR_NO_CERTIFICATE,
  ERR_REMOVED_MEMBER,
  ERR_SENDER_NOT_FOUND,
  formatId,
  frameLimit,
  FrameSplitter,
  GrowingBuffer,
  H_CLUSTER_ID,
  H_ERROR,
  H_FROM,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  H_TO,
  parseId,
  PATH_SNAPSHOT,
  PATH_STREAM,
  snapshotLimit,
} from "./protocol.ts";
import { checkPeerBatch, checkPeerMessage } from "./validate.ts";

/** A complete answer to a request on one of the member's own peer endpoints. */
export interface PeerRouteAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
}

/** Serves one request to a member endpoint, given its whole body and its request headers. */
export type PeerRouteHandler = (
  body: Uint8Array,
  header: (name: string) => string | undefined,
) => Promise<PeerRouteAnswer> | PeerRouteAnswer;

/** Largest body accepted on a member endpoint (they carry small requests). */
const MAX_ROUTE_BODY = 4 * 1024 * 1024;
/**
 * Most member-endpoint body bytes one connection may have buffered at once
 * across its streams (anyone may call those endpoints, so without this a
 * connection could hold MAX_ROUTE_BODY per concurrent stream).
 */
const MAX_CONN_ROUTE_BYTES = 16 * 1024 * 1024;

/** What one connection holds in request bodies not yet handled. */
interface ConnBudget {
  routeBytes: number;
}

/** What the server needs to know and whom it tells. */
export interface PeerServerOptions {
  selfId: bigint;
  clusterId: bigint;
  listenUrls: URL[];
  log: Logger;
  /**
   * Whether `id` is a member (voter or learner) of the current
   * configuration: only members' streams and snapshots are accepted.
   */
  isMember(id: bigint): boolean;
  /** Whether `id` was removed from the cluster (answered 410 instead of 404). */
  isRemoved?(id: bigint): boolean;
  /** A sender was refused as unknown (404): the member may look it up at its peers. */
  onUnknownSender?(id: bigint): void;
  /** One received batch from member `from`, in sender order. Exceptions are logged, not fatal. */
  onMessages(msgs: Message[], from: bigint): void;
  /** A Snap message whose `snapshot.data` holds the complete, verified data. */
  onSnapshot(msg: Message): void;
  /** Largest accepted batch frame. Default: frameLimit of etcd's default --max-request-bytes. */
  maxFrameBytes?: number;
  /**
   * Other endpoints the member serves on its peer port (etcd's GET
   * /members for joining members): asked first for every request.
   */
  routes?: (path: string, method: string) => PeerRouteHandler | undefined;
  /** Largest accepted snapshot. Default: snapshotLimit of etcd's default quota. */
  maxSnapshotBytes?: number;
  /** Certificate and checks for https/unixs listen URLs. */
  tls?: ServerTls;
  /** Where bytes received, refused frames and snapshot transfers are counted (etcd's metrics). */
  stats?: PeerTrafficStats;
}

/** A bound peer listener's address. */
export interface PeerAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/**
 * Receive windows of a peer connection: one stream carries all of a
 * member's Raft traffic, so it gets room for many batches in flight.
 */
const STREAM_WINDOW = 16 << 20;
const CONNECTION_WINDOW = 64 << 20;

/** etcd's default --max-request-bytes (1.5 MiB), for the default frame limit. */
const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** HTTP/2 servers on the peer listen URLs. */
export class PeerServer {
  readonly #opts: PeerServerOptions;
  readonly #log: Logger;
  readonly #listeners: StreamListener[] = [];
  readonly #conns = new Set<H2Connection>();
  readonly #sockets = new Set<StreamConn>();
  /**
   * The connection carrying each peer's message stream. A peer opens a new
   * one only after giving up on the old, which may be dead without our
   * knowing (a partition, a peer host that went away): the new one closes it.
   */
  readonly #streamConns = new Map<
    bigint,
    { h2: H2Connection; socket: StreamConn; stream: H2Stream }
  >();
  /** The snapshot being received from each sender: a newer one replaces it. */
  readonly #snapshotsIn = new Map<bigint, H2Stream>();
  readonly #maxFrame: number;
  readonly #maxSnapshot: number;
  /** The bound addresses, one per listen URL (ports resolved when 0 was asked for). */
  readonly addresses: PeerAddress[] = [];

  private constructor(opts: PeerServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#maxFrame = opts.maxFrameBytes ?? frameLimit(DEFAULT_MAX_REQUEST_BYTES);
    this.#maxSnapshot = opts.maxSnapshotBytes ?? snapshotLimit(0);
  }

  /** Listens on every URL; rejects (closing what was opened) if one cannot be bound. */
  static async start(opts: PeerServerOptions): Promise<PeerServer> {
    const s = new PeerServer(opts);
    try {
      for (const url of opts.listenUrls) await s.#listen(url);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  async #listen(url: URL): Promise<void> {
    // Client certificates are asked for on TLS listeners only (as etcd's).
    const needCert = isTlsUrl(url) && (this.#opts.tls?.requireClientCert ?? false);
    // At the cap an idle connection makes room (src/http/h2/conn_cap.ts).
    const cap = new ConnectionCap();
    const listener = await listenStreams(url, {
      tls: this.#opts.tls,
      alpn: ["h2"],
      log: this.#log,
      onConn: (conn) => void this.#serve(conn, needCert, cap),
    });
    this.#listeners.push(listener);
    const { address, port, family } = listener.address;
    this.addresses.push({ address, port, family: family === "IPv6" ? "IPv6" : "IPv4" });
  }

  async #serve(conn: StreamConn, needCert: boolean, cap: ConnectionCap): Promise<void> {
    const budget: ConnBudget = { routeBytes: 0 };
    const h2 = new H2Connection(conn, {
      onStream: (stream) => this.#route(stream, h2, conn, needCert, budget),
      streamWindow: STREAM_WINDOW,
      connectionWindow: CONNECTION_WINDOW,
      onError: (err) =>
        err instanceof LimitError
          ? this.#log.warn("http2 limit exceeded", {
            "remote-addr": conn.remote,
            error: err.message,
          })
          : this.#log.debug("peer connection error", { error: String(err) }),
    });
    const slot = {
      idle: () => h2.openStreams === 0,
      evict: () => h2.goAway(ErrorCode.NO_ERROR, "too many connections"),
    };
    if (!cap.admit(slot)) {
      this.#log.warn("rejected connection", {
        "remote-addr": conn.remote,
        error: "too many connections",
      });
      conn.close();
      return;
    }
    this.#sockets.add(conn);
    this.#conns.add(h2);
    try {
      conn.setNoDelay(true);
      await h2.run();
    } catch (err) {
      this.#log.debug("peer connection error", { error: String(err) });
    } finally {
      cap.release(slot);
      this.#conns.delete(h2);
      this.#sockets.delete(conn);
      for (const [peer, it] of this.#streamConns) {
        if (it.h2 === h2) this.#streamConns.delete(peer);
      }
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  /** Collects the body, runs the member's handler, and answers (never throws). */
  #serveRoute(stream: H2Stream, handler: PeerRouteHandler, budget: ConnBudget): void {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let held = 0;
    let refused = false;
    const release = () => {
      budget.routeBytes -= held;
      held = 0;
    };
    const refuseBody = (why: string) => {
      refused = true;
      chunks.length = 0;
      release();
      this.#log.warn("refused a request on the peer port", { path: stream.path, error: why });
      refuse(stream, 413, why);
    };
    stream.listener = {
      data: (c) => {
        if (refused) return;
        size += c.length;
        stream.consumed(c.length);
        if (size > MAX_ROUTE_BODY) return refuseBody("request too large");
        if (budget.routeBytes + c.length > MAX_CONN_ROUTE_BYTES) {
          return refuseBody("too many request bytes buffered on this connection");
        }
        chunks.push(c);
        held += c.length;
        budget.routeBytes += c.length;
      },
      abort: () => release(),
      end: async () => {
        if (refused) return;
        let answer: PeerRouteAnswer;
        try {
          answer = await handler(Buffer.concat(chunks), (name) => stream.header(name));
        } catch (err) {
          release();
          // Connect errors keep etcd's bare message in rawMessage.
          const raw = (err as { rawMessage?: unknown })?.rawMessage;
          const why = typeof raw === "string"
            ? raw
            : err instanceof Error
            ? err.message
            : String(err);
          return refuse(stream, 500, why);
        }
        release();
        if (stream.aborted) return;
        stream.respond(encodeHeaders([
          [":status", String(answer.status)],
          ["content-type", answer.contentType],
        ]));
        stream.writeNow(answer.body, true);
      },
    };
  }

  /** Checks who is calling, then dispatches by path. */
  #route(
    stream: H2Stream,
    h2: H2Connection,
    socket: StreamConn,
    needCert: boolean,
    budget: ConnBudget,
  ): void {
    const path = stream.path;
    const handler = this.#opts.routes?.(path, stream.method);
    if (handler) return this.#serveRoute(stream, handler, budget);
    if (stream.method !== "POST" || (path !== PATH_STREAM && path !== PATH_SNAPSHOT)) {
      return refuse(stream, 404, "not found");
    }
    const from = parseId(stream.header(H_FROM));
    const cluster = parseId(stream.header(H_CLUSTER_ID));
    const to = parseId(stream.header(H_TO));
    if (from === undefined || cluster === undefined || to === undefined) {
      return refuse(stream, 400, "missing or malformed member/cluster id headers");
    }
    const selfId = this.#opts.selfId;
    const clusterId = this.#opts.clusterId;
    if (cluster !== clusterId) {
      this.#log.warn("request cluster ID mismatch", {
        "local-member-id": formatId(selfId),
        "local-member-cluster-id": formatId(clusterId),
        "remote-peer-id": formatId(from),
        "remote-peer-cluster-id": formatId(cluster),
      });
      return refuse(stream, 412, ERR_CLUSTER_MISMATCH);
    }
    if (to !== selfId) {
      this.#log.warn("request member ID mismatch", {
        "local-member-id": formatId(selfId),
        "remote-peer-id": formatId(from),
        "requested-member-id": formatId(to),
      });
      return refuse(stream, 412, ERR_MEMBER_MISMATCH);
    }
    const why = this.#unauthorized(from, socket, needCert);
    if (why !== undefined) {
      this.#log.warn("rejected peer request", {
        "local-member-id": formatId(selfId),
        "remote-peer-id": formatId(from),
        "remote-addr": socket.remote,
        path,
        error: why.text,
      });
      return refuse(stream, why.status, why.text);
    }
    if (path === PATH_STREAM) {
      const old = this.#streamConns.get(from);
      if (old !== undefined && old.h2 !== h2) {
        this.#log.debug("peer opened a new stream; closing its old connection", {
          "remote-peer-id": formatId(from),
        });
        old.h2.close("replaced by a newer connection from the same peer");
        old.socket.close();
      } else if (old !== undefined) {
        // One stream per sender: a second one on the same connection replaces the first.
        old.stream.reset(ErrorCode.CANCEL);
      }
      this.#streamConns.set(from, { h2, socket, stream });
      this.#serveStream(stream, from);
    } else {
      this.#snapshotsIn.get(from)?.reset(ErrorCode.CANCEL);
      this.#snapshotsIn.set(from, stream);
      this.#serveSnapshot(stream, from);
    }
  }

  /**
   * Why `from` may not send Raft traffic on `socket` (undefined: it may):
   * it must be a current member, and present a verified certificate where
   * one is required. etcd answers a removed member 410 and an unknown one
   * 404 with these words.
   */
  #unauthorized(
    from: bigint,
    socket: StreamConn,
    needCert: boolean,
  ): { status: number; text: string } | undefined {
    if (needCert && socket.peerCertificate === undefined) {
      return { status: 403, text: ERR_NO_CERTIFICATE };
    }
    // A member never talks to itself: its own id from outside is forged.
    if (from === this.#opts.selfId) return { status: 404, text: ERR_SENDER_NOT_FOUND };
    if (this.#opts.isMember(from)) return undefined;
    if (this.#opts.isRemoved?.(from)) return { status: 410, text: ERR_REMOVED_MEMBER };
    this.#opts.onUnknownSender?.(from);
    return { status: 404, text: ERR_SENDER_NOT_FOUND };
  }

  /** A message stream: answer 200 at once, then deliver every frame as it completes. */
  #serveStream(stream: H2Stream, from: bigint): void {
    const log = this.#log;
    const onMessages = this.#opts.onMessages;
    const selfId = this.#opts.selfId;
    const stats = this.#opts.stats;
    stream.respond(STATUS_200);
    log.debug("peer stream opened", { "remote-peer-id": formatId(from) });
    const splitter = new FrameSplitter((body) => {
      // Throws CodecError or BadPeerMessage: the whole batch is refused.
      const msgs = decodeBatch(body);
      checkPeerBatch(msgs, from, selfId);
      try {
        onMessages(msgs, from);
      } catch (e) {
        log.error("handling received raft messages failed", { error: String(e) });
      }
    }, this.#maxFrame);
    const forget = () => {
      const cur = this.#streamConns.get(from);
      if (cur?.stream === stream) this.#streamConns.delete(from);
    };
    stream.listener = {
      data: (chunk) => {
        try {
          splitter.push(chunk);
        } catch (e) {
          log.warn("refused a frame on a peer stream; closing it", {
            "remote-peer-id": formatId(from),
            error: String(e),
          });
          stats?.receiveFailed(from);
          forget();
          return stream.reset(ErrorCode.PROTOCOL_ERROR);
        }
        // Handled: the sender may fill this room again.
        stream.consumed(chunk.length);
        stats?.received(from, chunk.length);
      },
      end: () => {
        forget();
        stream.end();
      },
      abort: (why) => {
        forget();
        log.debug("peer stream ended", { "remote-peer-id": formatId(from), why });
      },
    };
  }

  /** One snapshot: message frame then data, verified before `onSnapshot` sees it. */
  #serveSnapshot(stream: H2Stream, from: bigint): void {
    const log = this.#log.with({ "remote-peer-id": formatId(from) });
    const sizeHeader = stream.header(H_SNAPSHOT_SIZE);
    const size = Number(sizeHeader);
    const crc = Number(stream.header(H_SNAPSHOT_CRC));
    const max = this.#maxSnapshot;
    const forget = () => {
      if (this.#snapshotsIn.get(from) === stream) this.#snapshotsIn.delete(from);
    };
    const stats = this.#opts.stats;
    const startedAt = performance.now();
    let settled = false;
    stats?.snapshotReceiving(from);
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      stats?.snapshotReceived(from, ok, (performance.now() - startedAt) / 1000);
      if (!ok) stats?.receiveFailed(from);
    };
    if (
      sizeHeader === undefined || !/^[0-9]+$/.test(sizeHeader) || !Number.isSafeInteger(size) ||
      !Number.isSafeInteger(crc) || crc < 0 || crc > 0xffffffff
    ) {
      forget();
      settle(false);
      log.warn("refused snapshot: bad size or checksum header", { size: sizeHeader });
      return refuse(stream, 400, "bad snapshot size or checksum header");
    }
    if (size > max) {
      forget();
      settle(false);
      log.warn("refused snapshot: larger than the limit", { size, limit: max });
      return refuse(stream, 413, `snapshot of ${size} bytes exceeds the limit of ${max}`);
    }
    let msg: Message | undefined;
    // Grows as the data arrives: the size header is a claim, not an allocation.
    const data = new GrowingBuffer(size);
    let running = 0;
    let failed = false;
    const fail = (why: string, status = 400) => {
      failed = true;
      forget();
      settle(false);
      log.warn("receiving snapshot failed", { error: why });
      refuse(stream, status, why);
    };
    const head = new FrameSplitter((body) => {
      const m = decodeMessage(body);
      checkPeerMessage(m, from, this.#opts.selfId, "snapshot");
      msg = m;
      // As etcd does: the start of a transfer that can take seconds.
      log.info("receiving database snapshot", {
        "incoming-snapshot-index": m.snapshot?.meta.index,
        "incoming-snapshot-size": size,
      });
    }, 1024 * 1024);
    stream.listener = {
      data: (chunk) => {
        if (failed) return;
        stream.consumed(chunk.length);
        stats?.received(from, chunk.length);
        let rest = chunk;
        if (msg === undefined) {
          // Feed the message frame byte-exactly: the splitter must not swallow data bytes.
          let used = 0;
          try {
            while (msg === undefined && used < rest.length) head.push(rest.subarray(used, ++used));
          } catch (e) {
            return fail(String(e));
          }
          rest = rest.subarray(used);
        }
        if (rest.length === 0) return;
        if (data.length + rest.length > size) return fail("snapshot data longer than announced");
        data.push(rest);
        running = crc32cAppend(running, rest);
      },
      end: () => {
        if (failed) return;
        forget();
        if (msg === undefined) return fail("snapshot message missing");
        if (!data.full) return fail(`snapshot data truncated: ${data.length} of ${size} bytes`);
        if (running !== crc) return fail("snapshot checksum mismatch");
        msg.snapshot!.data = data.take();
        log.info("received database snapshot", {
          "snapshot-index": msg.snapshot!.meta.index,
          "snapshot-size": size,
        });
        try {
          this.#opts.onSnapshot(msg);
        } catch (e) {
          log.error("handling received snapshot failed", { error: String(e) });
          settle(false);
          return refuse(stream, 500, "member could not take the snapshot");
        }
        settle(true);
        stream.respond(STATUS_204, true);
      },
      abort: () => {
        forget();
        if (settled) return;
        settle(false);
        // The sender stopped or the connection broke mid-transfer (etcd logs
        // its failed receive too): what arrived is dropped with the stream.
        log.warn("receiving snapshot failed", {
          error: `stream ended after ${data.length} of ${size} bytes`,
        });
      },
    };
  }

  /**
   * Drops the connection carrying `peer`'s message stream, as etcd's
   * transport does when a member is removed: a stream opened while it was
   * a member would otherwise stay open, and the removed member would never
   * reconnect and hear 410 "removed member".
   */
  dropSender(peer: bigint): void {
    const it = this.#streamConns.get(peer);
    if (!it) return;
    this.#streamConns.delete(peer);
    it.h2.close("the sender is no longer a member");
    it.socket.close();
  }

  /** Stops listening and drops every open peer connection. */
  async close(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close().catch(() => {})));
    this.#listeners.length = 0;
    for (const c of this.#conns) c.shutdown();
    for (const s of this.#sockets) s.close();
  }
}

const STATUS_200 = encodeHeaders([[":status", "200"]]);
const STATUS_204 = encodeHeaders([[":status", "204"]]);

/** Answers with an error status and reason, then ends the stream (never throws). */
function refuse(stream: H2Stream, status: number, why: string): void {
  if (stream.aborted || stream.localEnded) return;
  if (!stream.headersSent) {
    stream.respond(encodeHeaders([[":status", String(status)], [H_ERROR, why]]), true);
  } else {
    stream.reset(ErrorCode.CANCEL);
  }
}
