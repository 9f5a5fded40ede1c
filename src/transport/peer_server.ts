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
 * @module
 */
import CRC32C from "crc-32/crc32c.js";
import { H2Connection } from "../http/h2/connection.ts";
import { ErrorCode } from "../http/h2/frames.ts";
import { encodeHeaders } from "../http/h2/hpack.ts";
import type { H2Stream } from "../http/h2/stream.ts";
import { listenStreams, type StreamListener } from "../http/listen.ts";
import type { StreamConn } from "../http/net.ts";
import type { ServerTls } from "../http/tls/settings.ts";
import type { Logger } from "../log.ts";
import { type Message, MessageType } from "../raft/types.ts";
import { decodeBatch, decodeMessage } from "./codec.ts";
import {
  ERR_CLUSTER_MISMATCH,
  ERR_MEMBER_MISMATCH,
  formatId,
  FrameSplitter,
  H_CLUSTER_ID,
  H_ERROR,
  H_FROM,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  H_TO,
  parseId,
  PATH_SNAPSHOT,
  PATH_STREAM,
} from "./protocol.ts";

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

/** What the server needs to know and whom it tells. */
export interface PeerServerOptions {
  selfId: bigint;
  clusterId: bigint;
  listenUrls: URL[];
  log: Logger;
  /** One received batch from member `from`, in sender order. Exceptions are logged, not fatal. */
  onMessages(msgs: Message[], from: bigint): void;
  /** A Snap message whose `snapshot.data` holds the complete, verified data. */
  onSnapshot(msg: Message): void;
  /** Largest accepted batch frame. Default 256 MiB. */
  maxFrameBytes?: number;
  /**
   * Other endpoints the member serves on its peer port (etcd's GET
   * /members for joining members): asked first for every request.
   */
  routes?: (path: string, method: string) => PeerRouteHandler | undefined;
  /** Largest accepted snapshot. Default 16 GiB. */
  maxSnapshotBytes?: number;
  /** Certificate and checks for https/unixs listen URLs. */
  tls?: ServerTls;
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
  readonly #streamConns = new Map<bigint, { h2: H2Connection; socket: StreamConn }>();
  /** The bound addresses, one per listen URL (ports resolved when 0 was asked for). */
  readonly addresses: PeerAddress[] = [];

  private constructor(opts: PeerServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
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
    const listener = await listenStreams(url, {
      tls: this.#opts.tls,
      alpn: ["h2"],
      log: this.#log,
      onConn: (conn) => void this.#serve(conn),
    });
    this.#listeners.push(listener);
    const { address, port, family } = listener.address;
    this.addresses.push({ address, port, family: family === "IPv6" ? "IPv6" : "IPv4" });
  }

  async #serve(conn: StreamConn): Promise<void> {
    this.#sockets.add(conn);
    const h2 = new H2Connection(conn, {
      onStream: (stream) => this.#route(stream, h2, conn),
      streamWindow: STREAM_WINDOW,
      connectionWindow: CONNECTION_WINDOW,
      onError: (err) => this.#log.debug("peer connection error", { error: String(err) }),
    });
    this.#conns.add(h2);
    try {
      conn.setNoDelay(true);
      await h2.run();
    } catch (err) {
      this.#log.debug("peer connection error", { error: String(err) });
    } finally {
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
  #serveRoute(stream: H2Stream, handler: PeerRouteHandler): void {
    const chunks: Uint8Array[] = [];
    let size = 0;
    stream.listener = {
      data: (c) => {
        size += c.length;
        stream.consumed(c.length);
        if (size > MAX_ROUTE_BODY) return refuse(stream, 413, "request too large");
        chunks.push(c);
      },
      end: async () => {
        if (size > MAX_ROUTE_BODY) return;
        let answer: PeerRouteAnswer;
        try {
          answer = await handler(Buffer.concat(chunks), (name) => stream.header(name));
        } catch (err) {
          // Connect errors keep etcd's bare message in rawMessage.
          const raw = (err as { rawMessage?: unknown })?.rawMessage;
          const why = typeof raw === "string"
            ? raw
            : err instanceof Error
            ? err.message
            : String(err);
          return refuse(stream, 500, why);
        }
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
  #route(stream: H2Stream, h2: H2Connection, socket: StreamConn): void {
    const path = stream.path;
    const handler = this.#opts.routes?.(path, stream.method);
    if (handler) return this.#serveRoute(stream, handler);
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
    if (path === PATH_STREAM) {
      const old = this.#streamConns.get(from);
      if (old !== undefined && old.h2 !== h2) {
        this.#log.debug("peer opened a new stream; closing its old connection", {
          "remote-peer-id": formatId(from),
        });
        old.h2.close("replaced by a newer connection from the same peer");
        old.socket.close();
      }
      this.#streamConns.set(from, { h2, socket });
      this.#serveStream(stream, from);
    } else this.#serveSnapshot(stream, from);
  }

  /** A message stream: answer 200 at once, then deliver every frame as it completes. */
  #serveStream(stream: H2Stream, from: bigint): void {
    const log = this.#log;
    const onMessages = this.#opts.onMessages;
    stream.respond(STATUS_200);
    log.debug("peer stream opened", { "remote-peer-id": formatId(from) });
    const splitter = new FrameSplitter((body) => {
      const msgs = decodeBatch(body);
      try {
        onMessages(msgs, from);
      } catch (e) {
        log.error("handling received raft messages failed", { error: String(e) });
      }
    }, this.#opts.maxFrameBytes ?? 256 * 1024 * 1024);
    stream.listener = {
      data: (chunk) => {
        try {
          splitter.push(chunk);
        } catch (e) {
          log.warn("bad frame on peer stream; closing it", {
            "remote-peer-id": formatId(from),
            error: String(e),
          });
          return stream.reset(ErrorCode.PROTOCOL_ERROR);
        }
        // Handled: the sender may fill this room again.
        stream.consumed(chunk.length);
      },
      end: () => stream.end(),
      abort: (why) => log.debug("peer stream ended", { "remote-peer-id": formatId(from), why }),
    };
  }

  /** One snapshot: message frame then data, verified before `onSnapshot` sees it. */
  #serveSnapshot(stream: H2Stream, from: bigint): void {
    const log = this.#log.with({ "remote-peer-id": formatId(from) });
    const sizeHeader = stream.header(H_SNAPSHOT_SIZE);
    const size = Number(sizeHeader);
    const crc = Number(stream.header(H_SNAPSHOT_CRC));
    const max = this.#opts.maxSnapshotBytes ?? 16 * 1024 ** 3;
    if (
      sizeHeader === undefined || !Number.isSafeInteger(size) || size < 0 || size > max ||
      !Number.isSafeInteger(crc)
    ) {
      log.warn("refused snapshot: bad size or checksum header", { size: sizeHeader });
      return refuse(stream, 400, "bad snapshot size or checksum header");
    }
    let msg: Message | undefined;
    let data: Uint8Array;
    try {
      data = new Uint8Array(size);
    } catch (e) {
      log.warn("refused snapshot: cannot allocate it", { size, error: String(e) });
      return refuse(stream, 413, "snapshot too large");
    }
    let fill = 0;
    let running = 0;
    let failed = false;
    const fail = (why: string) => {
      failed = true;
      log.warn("receiving snapshot failed", { error: why });
      refuse(stream, 400, why);
    };
    const head = new FrameSplitter((body) => {
      msg = decodeMessage(body);
    }, 1024 * 1024);
    stream.listener = {
      data: (chunk) => {
        if (failed) return;
        stream.consumed(chunk.length);
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
        if (fill + rest.length > size) return fail("snapshot data longer than announced");
        data.set(rest, fill);
        fill += rest.length;
        running = CRC32C.buf(rest, running);
      },
      end: () => {
        if (failed) return;
        if (msg === undefined) return fail("snapshot message missing");
        if (fill !== size) return fail(`snapshot data truncated: ${fill} of ${size} bytes`);
        if (running >>> 0 !== crc) return fail("snapshot checksum mismatch");
        if (msg.type !== MessageType.Snap || msg.snapshot === undefined) {
          return fail("snapshot endpoint got a message that is not a snapshot");
        }
        msg.snapshot.data = data;
        log.info("received database snapshot", {
          "snapshot-index": msg.snapshot.meta.index,
          "snapshot-size": size,
        });
        try {
          this.#opts.onSnapshot(msg);
        } catch (e) {
          log.error("handling received snapshot failed", { error: String(e) });
          return refuse(stream, 500, "member could not take the snapshot");
        }
        stream.respond(STATUS_204, true);
      },
    };
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
